"""scaling.png: `signalprop plan`'s coordinator simulation (CoordinatorModel) from the
``scaling.csv`` of scripts/validate-plan: the predicted parallel efficiency vs ranks P for the
repeated grid, and the predicted wall against real runs' (y = x, ±15 %)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ..reader import CampaignOutputError
from .common import figure, save

COLUMNS = ["campaign", "repeat", "ranks", "predicted_wall", "efficiency", "measured_wall"]


def scaling_table(path):
    """``scaling.csv`` (not a campaign table, so not in the reader): the fields as text, and the
    numbers as ``*_num`` columns (NaN where empty); an error when a column is missing."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.columns = frame.columns.str.strip()
    frame = frame.apply(lambda c: c.str.strip())
    missing = [c for c in COLUMNS if c not in frame.columns]
    if len(frame) and missing:
        raise CampaignOutputError(f"{path} lacks column(s) {', '.join(missing)}")
    for column in ("ranks", "predicted_wall", "efficiency", "measured_wall"):
        if column in frame:
            frame[column + "_num"] = pd.to_numeric(frame[column], errors="coerce")
    return frame


@figure
def scaling(table, figdir):
    """Left: predicted efficiency vs P per (campaign, repeat) (rows without a measured wall).
    Right: predicted vs measured wall per campaign, each run labelled with its P."""
    if table.empty:
        table = pd.DataFrame(columns=[c for name in COLUMNS for c in (name, name + "_num")])
    curve = table[table["measured_wall"] == ""]
    runs = table[table["measured_wall"] != ""]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax = axes[0]
    for (name, rep), group in curve.groupby(["campaign", "repeat"], sort=True):
        ax.plot(group["ranks"].astype(int).tolist(), (100 * group["efficiency_num"]).tolist(), "o-",
                label=f"{name} ×{rep}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("ranks P")
    ax.set_ylabel("predicted parallel efficiency (%)")
    ax.set_ylim(0, 105)
    ax.axhline(90, color="0.6", lw=0.8, ls="--")
    ax.set_title("simulated coordinator schedule")
    if len(curve):
        ax.legend()
    draw_runs(axes[1], runs)
    return save(fig, figdir, "scaling.png")


def draw_runs(ax, runs):
    for name, group in runs.groupby("campaign", sort=True):
        ax.plot(group["measured_wall_num"].tolist(), group["predicted_wall_num"].tolist(), "o", label=name)
        for _, r in group.iterrows():
            ax.annotate(f"P={r['ranks']}", (r["measured_wall_num"], r["predicted_wall_num"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
    if len(runs):
        hi = 1.1 * max(runs[["measured_wall_num", "predicted_wall_num"]].max(axis=1))
        ax.plot([0, hi], [0, hi], color="0.5", lw=0.8)
        ax.plot([0, hi], [0, 1.15 * hi], color="0.8", lw=0.8, ls=":")
        ax.plot([0, hi], [0, hi / 1.15], color="0.8", lw=0.8, ls=":")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
        ax.legend()
    ax.set_xlabel("measured wall (s)")
    ax.set_ylabel("predicted wall (s)")
    ax.set_title("model vs real runs (dotted: ±15 %)")
