"""lyapunov.png: the Lyapunov exponents λ_k of the Jacobian product vs k per point, against
Newman's curve for products of Gaussian matrices (Newman 1986) or ½⟨ln χ^l⟩ for λ1; with
more points than panels also lyapunov_sigma_w.png (λ1 and λ1 − λ2 vs σ_w)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .common import (GRID, INIT_STYLE, dark, figure, g, init_name, init_style, network, num_key, point_label,
                     point_table, save, titled, wrap)

#: Panels in order: the initialisations of one parameter set side by side.
ORDER = ["activation", "sb_key", "width_key", "sw_key", "depth_key", "other", "init"]


def with_keys(table):
    """A point table with sort keys: numbers with NaN as ∞, ``other`` for unusual inits."""
    return table.assign(sb_key=table["sigma_b"].map(num_key), width_key=table["width"].map(num_key),
                        sw_key=table["sigma_w"].map(num_key), depth_key=table["depth"].map(num_key),
                        other=~table["init"].str.lower().isin(list(INIT_STYLE)))


def exponents(ds):
    """One row per (point, k): the grid axes, ``k`` and ``m``, ``s``, ``t`` at the point's last layer;
    None without exponents."""
    ks = sorted(int(v[5:]) for v in ds.data_vars if v.startswith("lyap_") and v[5:].isdigit())
    tables = [point_table(ds, f"lyap_{k}").assign(k=k) for k in ks]
    return pd.concat(tables, ignore_index=True) if tables else None


def spread(points, max_panels):
    """The points to show (sorted, the initialisations of a parameter set together): all, or with
    more than `max_panels` an even spread of the parameter sets, each with all its inits."""
    points = with_keys(points).sort_values(ORDER, kind="stable")
    sets = [group for _, group in points.groupby(ORDER[:-2], sort=False, dropna=False)]
    per = max(len(s) for s in sets)
    if len(points) > max_panels:
        m = max(1, max_panels // per)
        sets = [sets[i] for i in np.unique(np.round(np.linspace(0, len(sets) - 1, m)).astype(int))]
    return pd.concat(sets).iloc[:max_panels]


@figure
def lyapunov(ds, figdir, max_panels=8):
    """lyapunov.png: λ_k vs k per point (at most `max_panels` panels; an even spread of the
    points when there are more, then also lyapunov_sigma_w.png)."""
    ex = exponents(ds)
    if ex is None:
        return []
    net = network(ds)
    points = ex.drop_duplicates(GRID).reset_index(drop=True)
    shown = spread(points, max_panels)
    n = len(shown)
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.9 * ncol + (1.5 if ncol == 1 else 0), 3.2 * nrow + 1.4),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    gaps = point_table(ds, "lyap_gap")
    kinds = set()
    for ax, (_, d) in zip(axes.flat, shown.iterrows()):
        mine = ex.merge(pd.DataFrame([d[GRID]]), on=GRID)
        kinds |= draw_exponents(ax, *(mine[c].to_numpy(float) for c in ("k", "m", "s", "t")), d["init"])
        gap = gap_text(gaps.merge(pd.DataFrame([d[GRID]]), on=GRID))
        ax.set_title(f"{point_label(d)}, L={g(d['depth'])}\n{init_name(d['init'])} init"
                     + (f";  {gap}" if gap else ""), fontsize=8)
    for row in axes:
        row[0].set_ylabel("Lyapunov exponent $\\lambda_k$")
    lines = []
    if "curve" in kinds:
        lines.append("black line: Newman 1986 (products of Gaussian matrices)")
    if "star" in kinds:
        lines.append("☆ / dotted: $\\lambda_1 \\approx \\frac{1}{L}\\sum_l \\frac{1}{2}\\ln\\chi^l$ (mean field)")
    if not kinds:
        lines.append("no theory given")
    more = (f"  [{n} of {len(points)} points shown; λ₁ and the gap of all points in lyapunov_sigma_w.png]"
            if len(points) > n else "")
    fig.suptitle(wrap(titled(net, "Lyapunov exponents of the Jacobian product (repeated QR), "
                                  f"mean ± s.e. over networks{more}\n" + ";  ".join(lines)), fig), fontsize=10)
    written = save(fig, figdir, "lyapunov.png")
    if len(points) > n:
        written += lyapunov_sigma_w(ds, figdir)
    return written


def draw_exponents(ax, k, m, s, t, init):
    """λ_k ± s.e. against k, theory as a curve (all k) or a star (λ1 only); the kinds of theory drawn."""
    kinds = set()
    col = init_style(init)[0]
    many = len(k) > 24
    ok = np.isfinite(m)
    err = np.where(np.isfinite(s), s, 0.0)[ok]
    ax.errorbar(k[ok], m[ok], yerr=err if np.any(err > 0) else None, fmt="o", ms=2.5 if many else 4,
                color=col, elinewidth=0.8, capsize=0 if many else 2, zorder=3)
    okt = np.isfinite(t)
    if okt.sum() >= 2:
        ax.plot(k[okt], t[okt], "-", color="k", lw=1.3, zorder=2)
        kinds.add("curve")
    elif okt.sum() == 1:
        ax.plot(k[okt], t[okt], "*", color="k", ms=11, zorder=4, mfc="none")
        ax.axhline(t[okt][0], color="k", lw=0.8, ls=":", zorder=1)
        kinds.add("star")
    if not ok.any() and not okt.any():
        ax.text(0.5, 0.5, "no finite exponents", ha="center", va="center", transform=ax.transAxes)
    y = np.concatenate([m[ok] - err, m[ok] + err, t[okt]])
    if y.size and y.max() - y.min() < 0.02:     # e.g. orthogonal linear: all λ_k = ln σ_w
        mid = 0.5 * (y.max() + y.min())
        ax.set_ylim(mid - 0.01, mid + 0.01)
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_xlabel("k")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.25)
    return kinds


def gap_text(gap):
    """'λ₁−λ₂ = m ± s (theory t)' from the point's lyap_gap row (a frame of 0 or 1 rows)."""
    if gap.empty or not np.isfinite(gap["m"].iloc[0]):
        return ""
    gm, gs, gt = (float(gap[c].iloc[0]) for c in ("m", "s", "t"))

    def tidy(v, digits):     # round-off (e.g. 1e-18 for orthogonal linear nets) shows as 0
        return "0" if abs(v) < 1e-12 else f"{v:.{digits}g}"
    text = f"λ₁−λ₂ = {tidy(gm, 3)}" + (f" ± {tidy(gs, 1)}" if np.isfinite(gs) else "")
    return text + (f" (theory {tidy(gt, 3)})" if np.isfinite(gt) else "")


@figure
def lyapunov_sigma_w(ds, figdir):
    """lyapunov_sigma_w.png: λ₁ and λ₁−λ₂ against σ_w, one row per (activation, σ_b, width, depth),
    colour by init; none unless some row has several σ_w."""
    table = point_table(ds, "lyap_1")[GRID + ["m", "s", "t"]]
    has_gap = "lyap_gap" in ds
    gaps = point_table(ds, "lyap_gap")[GRID + ["m", "s", "t"]]
    table = with_keys(table.merge(gaps, on=GRID, how="left", suffixes=("", "_gap")))
    rows = list(table.groupby(["activation", "sb_key", "width_key", "depth_key"], sort=True, dropna=False))
    if not rows or all(group["sigma_w"].nunique() < 2 for _, group in rows):
        return []
    ncol = 2 if has_gap else 1
    fig, axes = plt.subplots(len(rows), ncol, figsize=(4.6 * ncol + 1.5, 2.9 * len(rows) + 1.2), squeeze=False)
    for r, (key, group) in enumerate(rows):
        for j, (suffix, lab) in enumerate([("", "$\\lambda_1$"), ("_gap", "$\\lambda_1-\\lambda_2$")][:ncol]):
            ax = axes[r, j]
            for (_, init), lst in group.groupby(["other", "init"], sort=True):
                draw_vs_sigma_w(ax, lst.sort_values("sw_key", kind="stable"), suffix, init)
            ax.axhline(0, color="0.6", lw=0.8, ls=":")
            ax.grid(True, alpha=0.25)
            ax.set_title(f"{key[0]}, σ_b={g(key[1])}, N={g(key[2])}, L={g(key[3])}: {lab}", fontsize=8.5)
            if r == len(rows) - 1:
                ax.set_xlabel("σ_w")
            if r == 0 and j == ncol - 1:
                ax.legend(fontsize=7.5, loc="best")
    fig.suptitle(wrap(titled(network(ds), "top Lyapunov exponent and gap vs σ_w, mean ± s.e. over networks\n"
                                          "lines: theory where given (λ₁ ≈ (1/L)Σ ½ ln χˡ)"), fig), fontsize=10)
    return save(fig, figdir, "lyapunov_sigma_w.png")


def draw_vs_sigma_w(ax, lst, suffix, init):
    x = lst["sigma_w"].to_numpy(float)
    m, s_, t = (lst[c + suffix].to_numpy(float) for c in ("m", "s", "t"))
    col, mk, ls = init_style(init)
    ok = np.isfinite(m)
    ax.errorbar(x[ok], m[ok], yerr=np.where(np.isfinite(s_), s_, 0)[ok], fmt=mk, ms=4, color=col,
                mfc=col if init.lower() != "orthogonal" else "none", capsize=1.5, elinewidth=1,
                label=f"{init_name(init)} init", zorder=3)
    okt = np.isfinite(t)
    if okt.sum() >= 2:
        ax.plot(x[okt], t[okt], ls=ls, color=dark(col), lw=1.4, zorder=2)
    elif ok.sum() >= 2:
        ax.plot(x[ok], m[ok], ls=ls, color=col, lw=0.7, alpha=0.45)
