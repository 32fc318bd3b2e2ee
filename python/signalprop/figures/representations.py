"""representations.png: orth_gap, eff_rank, gram_min_eig, stable_rank, sensitivity and
traj_length vs layer (Monte Carlo mean ± s.e., infinite-width theory dashed where it exists);
orth_gap_width.png: the orthogonality gap at the last layer vs width (Daneshmand et al. 2021:
slope −½ with batch norm; Labatie 2019 for the sensitivity)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import curve, dark, figure, log_log, measured, point_name, point_table, save, varying

REPRESENTATION = ("orth_gap", "eff_rank", "gram_min_eig", "stable_rank", "sensitivity", "traj_length")
REP_TITLE = {
    "orth_gap": ("orthogonality gap ‖HᵀH/‖H‖²_F − I/B‖_F", True),
    "eff_rank": ("effective rank Tr C / λ_max(C)", False),
    "gram_min_eig": ("λ_min(B·G / Tr G): 0 at rank collapse", False),
    "stable_rank": ("stable rank (Tr G)² / Tr G²", False),
    "sensitivity": ("normalised sensitivity χ^l = (SNR⁰/SNR^l)^½", True),
    "traj_length": ("trajectory length / √N", True),
}
MAX_CURVES = 10


def sensitivity_fit(layer, chi):
    """Labatie's two regimes, fitted over the second half of the layers: the power-law
    exponent (slope of ln χ vs ln l) and the exponential rate (slope of ln χ vs l), both
    shown; the one with the smaller residual first."""
    keep = (layer >= layer.max() / 2) & (chi > 0)
    if keep.sum() < 4:
        return ""
    x, y = layer[keep], np.log(chi[keep])
    fits = []
    for text, u in (("l^{:.2f}", np.log(x)), ("exp({:.3f} l)", x)):
        coef, res, *_ = np.polyfit(u, y, 1, full=True)
        fits.append((float(res[0]) if len(res) else 0.0, text.format(coef[0])))
    fits.sort()
    return f" (χ ∝ {fits[0][1]}; or {fits[1][1]})"


@figure
def representations(ds, figdir):
    """The representation observables vs layer, one panel each (three a row), one colour per
    point (the first MAX_CURVES points)."""
    present = [o for o in REPRESENTATION if o in ds]
    if not present:
        return []
    cols = min(3, len(present))
    rows = (len(present) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(present):]:
        ax.set_visible(False)
    notes = []
    for ax, obs in zip(axes.flat, present):
        points = point_table(ds, obs)
        if len(points) > MAX_CURVES:
            notes.append(f"{obs}: first {MAX_CURVES} of {len(points)} points")
            points = points.iloc[:MAX_CURVES]
        draw_representation(ds, ax, obs, points)
    fig.suptitle("Representations vs depth — points: Monte Carlo mean ± s.e.; dashed: infinite-width theory"
                 + (" (" + "; ".join(notes) + ")" if notes else ""), fontsize=10)
    return save(fig, figdir, "representations.png")


def draw_representation(ds, ax, obs, points):
    title, logy = REP_TITLE[obs]
    vary = varying(points)
    positive = True
    for i, (_, p) in enumerate(points.iterrows()):
        d = curve(ds, obs, p)
        col = f"C{i % 10}"
        ok = np.isfinite(d["m"])
        label = point_name(p, vary)
        if obs == "sensitivity" and p["architecture"].startswith("batchnorm"):
            label += sensitivity_fit(d["l"][ok], d["m"][ok])
        ax.errorbar(d["l"][ok], d["m"][ok], yerr=np.nan_to_num(d["s"][ok]), fmt="o-", ms=2.5, lw=1.1,
                    color=col, label=label, capsize=0)
        okt = np.isfinite(d["t"])
        if okt.any():
            ax.plot(d["l"][okt], d["t"][okt], "--", color=dark(col), lw=1.2)
        positive &= bool((d["m"][ok] > 0).all())
    if logy and positive:
        ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")


@figure
def orth_gap_width(ds, figdir):
    """The orthogonality gap at each net's last layer vs width (log-log), one line per
    (architecture, activation, init, σ_w, σ_b, depth) with several widths, with its
    least-squares slope: Daneshmand et al.'s O(B/√N) floor with BN is slope −½; without BN
    the gap stays Θ(1)."""
    rows = measured(ds, "orth_gap")
    last = rows[(rows["layer"] == rows["depth"]) & np.isfinite(rows["m"].astype(float))]
    key = ["architecture", "activation", "init", "sigma_w", "sigma_b", "depth"]
    groups = [group.sort_values("width", kind="stable") for _, group in last.groupby(key, sort=False, dropna=False)
              if group["width"].nunique() >= 2]
    if not groups:
        return []
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    vary = varying(pd.concat(groups)) - {"width"}
    for i, group in enumerate(groups):
        n, m, e = (group[c].to_numpy(float) for c in ("width", "m", "s"))
        slope = np.polyfit(np.log(n), np.log(m), 1)[0] if (m > 0).all() else math.nan
        label = point_name(group.iloc[0], vary) + f": slope {slope:+.2f}"
        ax.errorbar(n, m, yerr=e, fmt="o-", color=f"C{i % 10}", label=label, capsize=2)
    n_all = np.sort(np.unique(np.concatenate([g["width"].to_numpy(float) for g in groups])))
    ref = max(g["m"].max() for g in groups)
    ax.plot(n_all, ref * (n_all / n_all[0]) ** -0.5, ":", color="0.4", label="∝ N^(−1/2)")
    log_log(ax, "width N", "orthogonality gap at the last layer", "Orthogonality gap vs width (Daneshmand et al. 2021)")
    return save(fig, figdir, "orth_gap_width.png")
