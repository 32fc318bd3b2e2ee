"""The reader against real campaign outputs: every example's folder (written by
scripts/cli-test into $SIGNALPROP_OUTPUTS) and small campaigns run here with the binary."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import tomllib

import nbclient
import nbformat
import numpy as np
import pytest

import signalprop

SMALL = {
    "name": "reader-test",
    "seed": 5,
    "samples": 4,
    "block": 2,
    "grid": {"width": [16, 24], "depth": [3, 5], "sigma_w": {"from": 0.8, "to": 2.0, "steps": 3}, "sigma_b": [0.1],
             "activation": ["tanh", "relu"]},
    "inputs": {"kind": "gram", "count": 3, "q0": 1.0, "c0": 0.5},
    "observe": {"forward": ["q", "c", "eff_rank"]},
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "out"
    return out, signalprop.run(SMALL, out, args=["--threads", "1"])


def outputs():
    root = os.environ.get("SIGNALPROP_OUTPUTS")
    if not root or not os.path.isdir(root):
        return []
    return sorted(os.path.join(root, d) for d in os.listdir(root)
                  if os.path.exists(os.path.join(root, d, "manifest.json")))


def axis_values(meta):
    grid, network = meta["config"]["grid"], meta["config"]["network"]
    return {"width": grid["width"], "depth": grid["depth"], "sigma_w": grid["sigma_w"], "sigma_b": grid["sigma_b"],
            "activation": grid["activation"], "init": network["init"], "architecture": network["architecture"]}


def check_against_tables(out, ds):
    """The Dataset's dimensions are the campaign's axes; every layers.csv cell is where it belongs."""
    meta = signalprop.manifest(out)
    for axis, values in axis_values(meta).items():
        assert len(ds[axis]) == len(values), (axis, ds[axis].values, values)
        if axis in ("width", "depth", "sigma_w", "sigma_b"):
            assert np.allclose(ds[axis].values.astype(float), values, rtol=0, atol=0), (axis, ds[axis].values, values)
    assert ds.sizes["layer"] == max(meta["config"]["grid"]["depth"])
    with open(os.path.join(out, "layers.csv")) as f:
        rows = list(csv.DictReader(f))
    for row in random.Random(1).sample(rows, min(200, len(rows))):
        where = {axis: row[axis] for axis in ("architecture", "activation", "init")}
        where.update(width=int(row["width"]), depth=int(row["depth"]), sigma_w=float(row["sigma_w"]),
                     sigma_b=float(row["sigma_b"]), layer=int(row["layer"]))
        for statistic, suffix in (("mean", ""), ("stderr", "_stderr"), ("n", "_n"), ("theory", "_theory")):
            got = float(ds[row["observable"] + suffix].sel(where).values)
            want = float(row[statistic]) if row[statistic] != "" else math.nan
            assert got == want or (math.isnan(got) and math.isnan(want)), (row, statistic, got, want)
    assert len(signalprop.points(out)) == len(meta["points"])


def test_small_campaign_loads_with_its_axes_and_values(small):
    out, ds = small
    check_against_tables(out, ds)
    assert list(ds["activation"].values) == ["tanh", "relu"]
    assert np.allclose(ds["sigma_w"].values, [0.8, 1.4, 2.0])
    # Layers below a shallower net's depth are NaN; the deeper net has them.
    shallow = ds["q"].sel(depth=3, layer=4)
    deep = ds["q"].sel(depth=5, layer=4)
    assert bool(shallow.isnull().all()) and bool(deep.notnull().all())
    assert ds["q_n"].sel(depth=5).max() == SMALL["samples"]
    assert set(ds["phase"].values.ravel()) <= {"ordered", "chaotic", "unbounded", "critical"}
    assert ds.attrs["name"] == "reader-test" and ds.attrs["seed"] == 5


@pytest.mark.parametrize("out", outputs(), ids=os.path.basename)
def test_every_example_output_loads(out):
    ds = signalprop.load(out)
    check_against_tables(out, ds)
    if os.path.exists(os.path.join(out, "spectra.csv")):
        frame = signalprop.spectra(out)
        assert {"bin_lo", "bin_hi", "density", "count", "theory", "observable", "layer"} <= set(frame.columns)
        assert (frame["count"] >= 0).all()


def test_a_missing_folder_says_so(tmp_path):
    with pytest.raises(signalprop.CampaignOutputError, match="no such folder"):
        signalprop.load(tmp_path / "nothing")


def test_an_unfinished_run_is_refused_with_how_to_resume(small, tmp_path):
    out, _ = small
    broken = tmp_path / "unfinished"
    shutil.copytree(out, broken)
    os.remove(broken / "manifest.json")
    with pytest.raises(signalprop.CampaignOutputError, match="did not finish.*--resume"):
        signalprop.load(broken)


def test_a_truncated_table_is_refused(small, tmp_path):
    out, _ = small
    broken = tmp_path / "truncated"
    shutil.copytree(out, broken)
    data = (broken / "layers.csv").read_bytes()
    (broken / "layers.csv").write_bytes(data[: len(data) // 2])
    with pytest.raises(signalprop.CampaignOutputError, match="layers.csv: truncated"):
        signalprop.load(broken)


def test_a_table_missing_grid_points_is_refused(small, tmp_path):
    out, _ = small
    broken = tmp_path / "cut"
    shutil.copytree(out, broken)
    lines = (broken / "layers.csv").read_text().splitlines(keepends=True)
    (broken / "layers.csv").write_text("".join(line for line in lines if not line.startswith("3,")))
    with pytest.raises(signalprop.CampaignOutputError, match=r"grid points \[3\] are missing"):
        signalprop.load(broken)


def test_a_missing_table_beside_a_manifest_is_damage(small, tmp_path):
    out, _ = small
    broken = tmp_path / "damaged"
    shutil.copytree(out, broken)
    os.remove(broken / "points.csv")
    with pytest.raises(signalprop.CampaignOutputError, match="points.csv: missing"):
        signalprop.load(broken)


def test_campaign_dicts_become_the_toml_the_engine_reads():
    text = signalprop.to_toml(SMALL)
    assert tomllib.loads(text) == json.loads(json.dumps(SMALL))


def test_a_bad_campaign_raises_with_the_engines_message(tmp_path):
    bad = json.loads(json.dumps(SMALL))
    bad["grid"]["width"] = [0]
    with pytest.raises(signalprop.SignalPropRunError, match=r"(?s)status 2.*grid.width: 0 is out of range"):
        signalprop.run(bad, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_the_notebook_runs_and_draws_its_figures(tmp_path):
    """examples/poole-figures.ipynb from a fresh kernel, in well under two minutes."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "poole-figures.ipynb")
    notebook = nbformat.read(path, as_version=4)
    os.environ["NOTEBOOK_OUT"] = str(tmp_path)
    try:
        nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    finally:
        del os.environ["NOTEBOOK_OUT"]
    for figure in ("poole_fig1a.png", "poole_fig2.png", "laws.png"):
        assert (tmp_path / figure).stat().st_size > 0, figure
    assert (tmp_path / "poole-fig2" / "manifest.json").exists()


def test_log_slope_recovers_a_power_law_within_its_error():
    from signalprop.figures.fluctuations import log_slope

    n = np.array([8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0])
    slope, error = log_slope(n, 3.0 / n**2, 0.01 * 3.0 / n**2)
    assert abs(slope + 2) < 1e-9 and 0 < error < 0.02
    # Monte Carlo-like points: the error falls like N^-1/2 (networks fixed), the signal like N^-2,
    # so the widest points are the noisiest relative to their value (up to ~60 %).
    rng = np.random.default_rng(7)
    se = 0.02 * np.sqrt(8.0 / n) * 3.0 / 64
    misses = []
    for _ in range(200):
        slope, error = log_slope(n, 3.0 / n**2 + se * rng.standard_normal(n.size), se)
        misses.append(abs(slope + 2) / error)
    # |z| beyond 3 about 1 % of the time for a well-calibrated error (a few % allowed).
    assert np.mean(np.array(misses) > 3) < 0.05 and np.median(misses) < 1.0
    assert np.isnan(log_slope(n[:2], 3.0 / n[:2] ** 2, se[:2])[0])
