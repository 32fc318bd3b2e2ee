"""Reading a campaign's output folder (``signalprop sweep ... --out DIR``).

The folder holds, once a run has finished:

- ``layers.csv``: one row per (grid point, layer, observable) with ``mean``, ``stderr``, ``n``
  (networks in the mean) and ``theory`` (the mean-field, random-matrix or free-probability
  prediction; empty where theory is silent);
- ``points.csv``: one row per grid point: fixed points (q*, c*, χ1, ξ_q, ξ_c; Poole et al.
  2016, Schoenholz et al. 2017), the status flags and the last layer's q and c;
- ``spectra.csv`` (when histograms were observed): bins of each histogram with the theory
  density;
- ``manifest.json``, written last: the campaign, the software, timings and warnings.

A folder without ``manifest.json`` is a run that did not finish; it is refused with how to
resume it rather than read half.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd
import xarray as xr

#: The grid's axes, in the order the engine enumerates points (outermost first), then layer.
GRID_AXES = ("architecture", "activation", "init", "width", "depth", "sigma_b", "sigma_w")

_STATISTICS = ("mean", "stderr", "n", "theory", "theory_sd", "theory_1n")


class CampaignOutputError(Exception):
    """A folder that is not (or not yet) a finished campaign output, or a damaged table."""


def _folder(out: str | os.PathLike) -> str:
    out = os.fspath(out)
    if not os.path.isdir(out):
        raise CampaignOutputError(f"{out}: no such folder (the --out of a finished `signalprop sweep`)")
    if not os.path.exists(os.path.join(out, "manifest.json")):
        if os.path.isdir(os.path.join(out, "journal")):
            raise CampaignOutputError(
                f"{out}: the run did not finish (a journal but no manifest.json, which is written last); "
                "finish it with `signalprop sweep CONFIG --out " + out + " --resume`")
        raise CampaignOutputError(f"{out}: not a campaign output (no manifest.json)")
    return out


def manifest(out: str | os.PathLike) -> dict[str, Any]:
    """The run's ``manifest.json``: the campaign as parsed, software, timings, warnings."""
    path = os.path.join(_folder(out), "manifest.json")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise CampaignOutputError(f"{path}: not valid JSON ({e}); the file is damaged") from e


def _table(out: str, name: str, required: bool = True) -> pd.DataFrame | None:
    path = os.path.join(out, name)
    if not os.path.exists(path):
        if required:
            raise CampaignOutputError(f"{path}: missing, though manifest.json exists; the folder is damaged")
        return None
    with open(path, "rb") as f:
        text = f.read()
    if not text.endswith(b"\n"):
        raise CampaignOutputError(f"{path}: truncated (its last line is incomplete)")
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"activation": str, "init": str,
                                                                                 "architecture": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise CampaignOutputError(f"{path}: cannot be read as a table ({e})") from e
    return frame


def _check_points(out: str, frame: pd.DataFrame, meta: dict[str, Any], name: str) -> None:
    expected = {p["point"] for p in meta.get("points", [])}
    found = set(frame["point"].unique())
    if found != expected:
        missing = sorted(expected - found)[:5]
        raise CampaignOutputError(f"{os.path.join(out, name)}: grid points {missing} are missing (the manifest "
                                  f"lists {len(expected)}); the table is truncated or from another run")


def points(out: str | os.PathLike) -> pd.DataFrame:
    """``points.csv`` as a frame, one row per grid point."""
    out = _folder(out)
    frame = _table(out, "points.csv")
    _check_points(out, frame, manifest(out), "points.csv")
    return frame


def networks(out: str | os.PathLike) -> pd.DataFrame | None:
    """``networks.csv`` (with ``[observe] per_network = true``): one row per (point, sample,
    layer, observable) with that network's own ``value``, the grid axes joined from
    points.csv; None when the campaign kept no per-network values."""
    out = _folder(out)
    frame = _table(out, "networks.csv", required=False)
    if frame is None:
        return None
    axes = points(out)[["point"] + list(GRID_AXES)]
    return frame.merge(axes, on="point", how="left")


def quantiles(out: str | os.PathLike) -> pd.DataFrame | None:
    """``quantiles.csv`` (with ``per_network``): the 5, 25, 50, 75 and 95 % quantiles over the
    networks per (point, layer, observable), or None."""
    return _table(_folder(out), "quantiles.csv", required=False)


def spectra(out: str | os.PathLike) -> pd.DataFrame | None:
    """``spectra.csv`` as a tidy frame (one row per bin), or None when no histogram was observed.

    ``bin_lo``/``bin_hi`` are the bin's edges (the first row of each histogram is everything
    below its range, the last everything above), ``density`` the Monte Carlo density,
    ``count`` the count, ``theory`` the predicted density averaged over the bin and
    ``theory_limit`` that of the depth → ∞ law where one is known (residual nets: Tarnowski et
    al.'s 2019 universal law).
    """
    out = _folder(out)
    return _table(out, "spectra.csv", required=False)


def load(out: str | os.PathLike) -> xr.Dataset:
    """The campaign as an xarray Dataset.

    Dimensions: the grid axes (``GRID_AXES``; each holds the values the campaign listed) and
    ``layer`` (1 … the deepest net). Variables, for each observable ``o`` of ``layers.csv``:
    ``o`` (the mean over networks), ``o_stderr``, ``o_n``, ``o_theory``, ``o_theory_sd`` (the
    predicted standard deviation across networks, leading order in 1/N) and ``o_theory_1n``
    (the mean to order 1/N). Cells the campaign
    did not measure (a layer below a shallower net's depth, an observable of another
    architecture) are NaN. ``points.csv``'s scalars are variables over the grid axes alone
    (``q_star``, ``chi1``, ``phase``, ``status``, …). Attributes: ``name``, ``seed``,
    ``config`` and ``warnings`` from the manifest, and ``out``.
    """
    out = _folder(out)
    meta = manifest(out)
    layers = _table(out, "layers.csv")
    _check_points(out, layers, meta, "layers.csv")
    statistics = [s for s in _STATISTICS if s in layers.columns]   # theory_sd, theory_1n: outputs since issue 13
    wide = layers.pivot_table(index=list(GRID_AXES) + ["layer"], columns="observable", values=statistics,
                              aggfunc="first", dropna=False)
    data: dict[str, xr.DataArray] = {}
    for statistic in statistics:
        block = wide[statistic]
        for observable in block.columns:
            name = observable if statistic == "mean" else f"{observable}_{statistic}"
            data[name] = xr.DataArray.from_series(block[observable].astype(float))
    dataset = xr.Dataset(data)
    scalars = points(out).drop(columns=["point"]).set_index(list(GRID_AXES))
    for column in scalars.columns:
        dataset[column if column not in dataset else f"point_{column}"] = xr.DataArray.from_series(scalars[column])
    # The engine's order of each axis (first appearance), not the sorted order of the pivot.
    dataset = dataset.reindex({axis: list(dict.fromkeys(layers[axis].tolist())) for axis in GRID_AXES})
    dataset["layer"] = dataset["layer"].astype(int)
    dataset.attrs.update(name=meta.get("config", {}).get("name", ""), seed=meta.get("seed"),
                         config=json.dumps(meta.get("config", {})), warnings=list(meta.get("warnings", [])), out=out)
    return dataset

