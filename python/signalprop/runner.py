"""Running a campaign from Python: ``run(config, out)`` → the loaded Dataset."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Mapping, Sequence

import xarray as xr

from .reader import load


class SignalPropRunError(Exception):
    """The binary was not found, or the sweep exited with an error (its message attached)."""


def binary() -> str:
    """The ``signalprop`` binary: ``$SIGNALPROP_BIN``, else this repository's release build,
    else ``signalprop`` on the PATH."""
    if os.environ.get("SIGNALPROP_BIN"):
        return os.environ["SIGNALPROP_BIN"]
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "..", ".build", "release", "signalprop")
    if os.path.exists(built):
        return os.path.normpath(built)
    found = shutil.which("signalprop")
    if found:
        return found
    raise SignalPropRunError("no signalprop binary: set SIGNALPROP_BIN, build with `swift build -c release`, "
                             "or put signalprop on the PATH")


def command(*args: str) -> dict[str, Any]:
    """Runs ``signalprop ARGS... --json`` (``theory``, ``spectrum``, ``gp``, ``bench``, …) and returns
    its JSON object, e.g. ``command("theory", "--activation", "tanh", "--sigma-w", "1.5", "--map", "q")``."""
    finished = subprocess.run([binary(), *args, "--json"], capture_output=True, text=True)
    if finished.returncode != 0:
        raise SignalPropRunError(f"signalprop {' '.join(args)} exited with status {finished.returncode}:\n"
                                 + finished.stderr.strip())
    return json.loads(finished.stdout)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, Sequence):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} ({type(v).__name__}) in a campaign file")


def to_toml(config: Mapping[str, Any]) -> str:
    """A campaign dict as TOML: top-level scalars first, then one table per dict-valued key
    (``grid``, ``network``, ``inputs``, ``observe``); dicts inside a table are inline tables
    (``sigma_w = {"from": 0.5, "to": 3, "steps": 6}``)."""
    lines = [f"{k} = {_value(v)}" for k, v in config.items() if not isinstance(v, Mapping)]
    for table, entries in config.items():
        if isinstance(entries, Mapping):
            lines.append(f"[{table}]")
            lines += [f"{k} = {_value(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def run(config: str | os.PathLike | Mapping[str, Any], out: str | os.PathLike, *, ranks: int = 1,
        args: Sequence[str] = (), force: bool = False) -> xr.Dataset:
    """Runs ``signalprop sweep`` on ``config`` (a TOML path, or a dict written as TOML beside
    ``out``) into ``out`` and returns ``load(out)``. ``ranks > 1`` runs under ``mpirun -n ranks``;
    ``args`` are passed on (e.g. ``["--threads", "1"]``); ``force`` overwrites ``out``."""
    out = os.fspath(out)
    if isinstance(config, Mapping):
        parent = os.path.dirname(os.path.abspath(out))
        os.makedirs(parent, exist_ok=True)
        handle, path = tempfile.mkstemp(suffix=".toml", prefix=".campaign-", dir=parent)
        with os.fdopen(handle, "w") as f:
            f.write(to_toml(config))
    else:
        path = os.fspath(config)
    command = [binary(), "sweep", path, "--out", out, "--quiet", *args] + (["--force"] if force else [])
    if ranks > 1:
        command = ["mpirun", "-n", str(ranks), *command]
    try:
        finished = subprocess.run(command, capture_output=True, text=True)
    finally:
        if isinstance(config, Mapping):
            os.unlink(path)
    if finished.returncode != 0:
        raise SignalPropRunError(f"signalprop sweep exited with status {finished.returncode}:\n{finished.stderr.strip()}")
    return load(out)
