"""phase_diagram.png (ξ_c and c* over (σ_w, σ_b) with the critical line χ1 = 1; Poole et al.
2016 Fig. 2C/D, Schoenholz et al. 2017 Fig. 1), phase_scales.png (q*, layers to converge to it,
ξ_q and ξ_c against σ_w; Poole et al. Fig. 1C/D, Schoenholz et al. Fig. 1) and chi1.png (χ1 and the last layer's c
against σ_w)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..reader import CampaignOutputError
from .common import figure, g, point_table, save

GREY = "0.62"
QUANTITIES = ("chi1", "xi_c", "xi_q", "c_star", "q_star")


def phase_table(path):
    """``phase_diagram.csv`` of `signalprop phase-diagram` (not a campaign table, so not in the
    reader): activation, sigma_w, sigma_b, q_star, c_star, chi1, xi_q, xi_c, phase. Numbers that
    do not parse are NaN; None without rows, an error when a needed column is missing."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = frame.columns.str.strip()
    if frame.empty:
        return None
    missing = [c for c in ("activation", "sigma_w", "sigma_b", "chi1", "xi_c") if c not in frame.columns]
    if missing:
        raise CampaignOutputError(f"{path} lacks column(s) {', '.join(missing)}")
    for column in frame.columns.drop(["activation", "phase"], errors="ignore"):
        frame[column] = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    frame["activation"] = frame["activation"].str.strip()
    frame["phase"] = frame["phase"].str.strip().str.lower() if "phase" in frame else ""
    return frame


def edges(c):
    c = np.asarray(c, float)
    if c.size == 1:
        h = max(0.1 * abs(c[0]), 0.05)
        return np.array([c[0] - h, c[0] + h])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def phase_grid(table, act):
    """σ_w, σ_b (sorted, finite), the quantities on the (σ_b, σ_w) grid and the phase labels;
    χ1 for the critical line has ∞ as very large and falls back to the phase labels."""
    rows = table[table["activation"] == act].reindex(columns=["sigma_w", "sigma_b", "phase", *QUANTITIES])
    sw = np.sort(rows["sigma_w"].dropna().unique())
    sb = np.sort(rows["sigma_b"].dropna().unique())
    sw, sb = sw[np.isfinite(sw)], sb[np.isfinite(sb)]
    cells = rows.drop_duplicates(["sigma_b", "sigma_w"], keep="last").set_index(["sigma_b", "sigma_w"])
    cells = cells.reindex(pd.MultiIndex.from_product([sb, sw], names=["sigma_b", "sigma_w"]))
    grid = {c: cells[c].to_numpy(float).reshape(len(sb), len(sw)) for c in QUANTITIES}
    phase = cells["phase"].fillna("").to_numpy(object).reshape(len(sb), len(sw))
    chi = grid["chi1"].copy()
    chi[np.isposinf(chi)] = 1e6
    miss = ~np.isfinite(chi)
    for name, value in (("ordered", 0.5), ("chaotic", 2.0), ("critical", 1.0)):
        chi[miss & (phase == name)] = value
    return sw, sb, grid, chi


def xi_norm(table):
    """A common log colour scale for ξ_c over all activations."""
    xi = table["xi_c"].to_numpy(float)
    fin = xi[np.isfinite(xi) & (xi > 0)]
    if not fin.size:
        return mcolors.LogNorm(vmin=0.1, vmax=10)
    lo, hi = np.percentile(fin, 1), fin.max()
    lo = max(lo, hi * 1e-4) if hi > 0 else lo
    if not lo < hi:
        lo, hi = lo / 2, hi * 2
    return mcolors.LogNorm(vmin=lo, vmax=hi)


@figure
def phase_diagram(table, figdir):
    """Per activation: the ξ_c heat map over (σ_w, σ_b) with the critical line χ1 = 1, and the
    fixed point c* (when given). One activation: side by side; several: one column each."""
    acts = list(dict.fromkeys(table["activation"]))
    kinds = ["xi_c"] + (["c_star"] if "c_star" in table else [])
    nrow, ncol = (1, len(kinds)) if len(acts) == 1 else (len(kinds), len(acts))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.9 * ncol, 3.9 * nrow + 0.9), squeeze=False,
                             layout="constrained")
    norm = xi_norm(table)
    for j, act in enumerate(acts):
        sw, sb, grid, chi = phase_grid(table, act)
        if sw.size == 0 or sb.size == 0:
            continue
        for k, name in enumerate(kinds):
            ax = axes[0, k] if len(acts) == 1 else axes[k, j]
            phase_panel(fig, ax, act, name, sw, sb, grid[name], chi, norm)
    handles = [Line2D([], [], color="k", lw=2, label="critical line $\\chi_1 = 1$"),
               Patch(facecolor=GREY, edgecolor="0.4", label="$\\xi_c=\\infty$ or undefined")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle("Mean-field phase diagram\nordered: $\\chi_1<1$, $c^*=1$;  chaotic: $\\chi_1>1$, $c^*<1$",
                 fontsize=11)
    return save(fig, figdir, "phase_diagram.png", tight=False)


def phase_panel(fig, ax, act, name, sw, sb, z, chi, norm):
    """One heat map (ξ_c on a log scale, or c* in [0, 1]) with the critical line and region labels."""
    X, Y = edges(sw), edges(sb)
    ax.set_facecolor(GREY)
    if name == "xi_c":
        zm = np.ma.masked_where(~(np.isfinite(z) & (z > 0)), z)
        im = ax.pcolormesh(X, Y, zm, cmap=plt.get_cmap("magma").copy(), norm=norm, shading="flat")
        ax.set_title(f"{act}: depth scale $\\xi_c$")
        fig.colorbar(im, ax=ax, label="$\\xi_c$ (log scale)", pad=0.02)
    else:
        zm = np.ma.masked_where(~np.isfinite(z), z)
        im = ax.pcolormesh(X, Y, zm, cmap=plt.get_cmap("viridis").copy(), vmin=0, vmax=1, shading="flat")
        ax.set_title(f"{act}: fixed point $c^*$")
        fig.colorbar(im, ax=ax, label="$c^*$", pad=0.02)
    critical_line(ax, sw, sb, chi, "w" if name == "xi_c" else "k")
    label_regions(ax, sw, sb, chi, dark=(name == "xi_c"))
    ax.set_xlabel("σ_w")
    ax.set_ylabel("σ_b")
    ax.set_xlim(X[0], X[-1])
    ax.set_ylim(Y[0], Y[-1])


def critical_line(ax, sw, sb, chi, lc):
    """χ1 = 1: a contour over a 2-d grid, or the crossings of a single row or column."""
    other = "k" if lc == "w" else "w"
    if sw.size >= 2 and sb.size >= 2 and np.any(np.isfinite(chi)):
        cm = np.ma.masked_invalid(chi)
        if np.nanmin(chi) < 1 < np.nanmax(chi) or np.any(chi == 1):
            ax.contour(sw, sb, cm, levels=[1.0], colors=[lc], linewidths=2.0)
            ax.contour(sw, sb, cm, levels=[1.0], colors=[other], linewidths=0.6, linestyles="--")
    elif (sw.size == 1) != (sb.size == 1):
        xs, ys = (sw, chi[0]) if sb.size == 1 else (sb, chi[:, 0])
        for x0 in crossings(xs, ys):
            line = ax.axvline if sb.size == 1 else ax.axhline
            line(x0, color=lc, lw=2.0)
            line(x0, color=other, lw=0.6, ls="--")


def crossings(x, y, level=1.0):
    """Linearly interpolated positions where y crosses `level`."""
    out = []
    for i in range(len(x) - 1):
        a, b = y[i] - level, y[i + 1] - level
        if np.isfinite(a) and np.isfinite(b) and a * b < 0:
            out.append(x[i] + (x[i + 1] - x[i]) * a / (a - b))
        elif a == 0:
            out.append(x[i])
    return out


def label_regions(ax, sw, sb, chi, dark):
    """Write 'ordered' / 'chaotic' inside the respective regions, away from the
    critical line and from the frame."""
    SW, SB = np.meshgrid(sw, sb)
    X, Y = edges(sw), edges(sb)
    px_all = (SW - X[0]) / (X[-1] - X[0])
    py_all = (SB - Y[0]) / (Y[-1] - Y[0])
    for name, mask in (("ordered", chi < 1), ("chaotic", chi > 1)):
        if mask.sum() < max(2, 0.04 * mask.size):
            continue
        other = ~mask & np.isfinite(chi)
        px, py = px_all[mask], py_all[mask]
        if other.any():
            ox, oy = px_all[other], py_all[other]
            dist = np.sqrt(np.min((px[:, None] - ox[None]) ** 2 + (py[:, None] - oy[None]) ** 2, axis=1))
        else:
            dist = np.ones_like(px)
        # keep the text box (about 0.25 x 0.08 of the axes) inside the frame
        inside = (px > 0.14) & (px < 0.86) & (py > 0.07) & (py < 0.93)
        score = np.where(inside, dist, dist - 10)
        # prefer the middle height among equally good cells
        score = score - 0.05 * np.abs(py - 0.5)
        k = int(np.argmax(score))
        if score[k] < -9:   # region too thin to hold a label
            continue
        ax.text(SW[mask][k], SB[mask][k], name, ha="center", va="center", fontsize=10,
                fontweight="bold", color="w" if dark else "k",
                bbox=dict(boxstyle="round,pad=0.2", fc=("k" if dark else "w"), alpha=0.35, lw=0))


# ---------------------------------------------------------------- chi1 vs sigma_w

MARKERS = "osD^vP*Xph"


@figure
def chi1(ds, points, figdir):
    """chi1.png: χ1 (theory) and the last-layer correlation (Monte Carlo vs c*) against σ_w, when
    there are several σ_w and a finite χ1. Colour: (activation, σ_b), the mean-field parameters;
    marker: (width, init), which only the Monte Carlo depends on. `points`: signalprop.points."""
    if "sigma_w" not in points or "chi1" not in points:
        return []
    if points["sigma_w"][np.isfinite(points["sigma_w"])].nunique() < 2:
        return []
    if not np.isfinite(points["chi1"]).any():   # e.g. residual nets: no fixed point
        return []
    frame = chi1_frame(ds, points)
    ckeys = sorted(set(zip(frame["activation"], frame["sb_key"])))
    mkeys = sorted(set(zip(frame["width_key"], frame["init"])))
    colour = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(ckeys)}
    marker = {k: MARKERS[i % len(MARKERS)] for i, k in enumerate(mkeys)}
    allsw = np.sort(frame["sigma_w"][np.isfinite(frame["sigma_w"])].unique())
    step = np.min(np.diff(allsw)) if allsw.size > 1 else 1.0
    jit = {k: (i - (len(mkeys) - 1) / 2) * 0.5 * step / max(len(mkeys), 1) for i, k in enumerate(mkeys)}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    for ck, rows in frame.groupby(["activation", "sb_key"], sort=True):
        chi1_theory(a1, a2, rows, colour[ck])
        for mk, sel in rows.groupby(["width_key", "init"], sort=True):
            pts = sel.dropna(subset=["c_last_mc"]).sort_values(["sigma_w", "c_last_mc", "c_last_se"])
            if not pts.empty:
                err = np.where(np.isfinite(pts["c_last_se"]), pts["c_last_se"], 0)
                a2.errorbar(pts["sigma_w"] + jit[mk], pts["c_last_mc"], yerr=err, fmt=marker[mk], ms=4.5,
                            color=colour[ck], mfc=colour[ck], mec="k", mew=0.4, capsize=2, elinewidth=1,
                            ls="none")
    chi1_axes(a1, a2, frame["chi1"].to_numpy(float))
    ch = [Line2D([], [], color=colour[k], lw=2, label=f"{k[0]}, σ_b={g(k[1])}") for k in ckeys]
    mh = [Line2D([], [], color="0.5", marker=marker[k], mec="k", mew=0.4, ls="none",
                 label=f"N={g(k[0])}, {k[1]} init") for k in mkeys] if frame["c_last_mc"].notna().any() else []
    fig.legend(handles=ch + mh, loc="outside lower center", ncol=min(len(ch + mh), 4), frameon=False)
    return save(fig, figdir, "chi1.png", tight=False)


def chi1_frame(ds, points):
    """points.csv with sort keys (NaN as ∞) and the measured c at each point's deepest layer
    (``c_last_mc``, ``c_last_se``; NaN where it is not finite or c was not measured)."""
    frame = points.copy()
    frame["init"] = frame["init"].fillna("") if "init" in frame else ""
    frame["sb_key"] = frame["sigma_b"].where(np.isfinite(frame["sigma_b"]), np.inf)
    frame["width_key"] = frame["width"].astype(float).where(np.isfinite(frame["width"].astype(float)), np.inf)
    for column in ("c_star", "c_last_theory"):
        if column not in frame:
            frame[column] = np.nan
    last = point_table(ds, "c")
    last = last[np.isfinite(last["m"].astype(float))].rename(columns={"m": "c_last_mc", "s": "c_last_se"})
    keys = ["architecture", "activation", "init", "width", "depth", "sigma_b", "sigma_w"]
    return frame.merge(last[keys + ["c_last_mc", "c_last_se"]], on=keys, how="left")


def chi1_theory(a1, a2, rows, col):
    """χ1, the theory at the last layer and c* of one (activation, σ_b): they depend on σ_w alone."""
    th = rows.drop_duplicates("sigma_w", keep="first")
    th = th[np.isfinite(th["sigma_w"])].sort_values("sigma_w")
    x = th["sigma_w"].to_numpy(float)
    a1.plot(x, th["chi1"].to_numpy(float), "-", color=col, lw=1.6, marker=".", ms=5)
    if np.isfinite(th["c_last_theory"].to_numpy(float)).any():  # at the same (finite) depth as the measurement
        a2.plot(x, th["c_last_theory"].to_numpy(float), "-", color=col, lw=1.6)
    if np.isfinite(th["c_star"].to_numpy(float)).any():         # the depth -> infinity limit
        a2.plot(x, th["c_star"].to_numpy(float), ":", color=col, lw=1.2)


def chi1_axes(a1, a2, chiv):
    a1.axhline(1.0, color="k", ls="--", lw=1)
    a1.set_xlabel("σ_w")
    a1.set_ylabel("$\\chi_1$")
    a1.set_title("mean-field $\\chi_1 = \\sigma_w^2\\langle\\phi'(h)^2\\rangle_{q^*}$  (>1: chaotic)")
    chiv = chiv[np.isfinite(chiv) & (chiv > 0)]
    if chiv.size and chiv.max() / chiv.min() > 100:
        a1.set_yscale("log")
    a2.set_xlabel("σ_w")
    a2.set_ylabel("$c^L$ (last layer)")
    a2.set_title("last-layer $c^L$: markers Monte Carlo, lines theory at layer L, dotted $c^*$")
    a2.set_ylim(-0.05, 1.05)
    for a in (a1, a2):
        a.grid(True, alpha=0.25)



# ---------------------------------------------------------------- q*, convergence and depth scales

SCALE_CURVES = 4    # σ_b values drawn in the ξ against σ_w panel


@figure
def phase_scales(table, figdir):
    """phase_scales.png, one row per activation: q* over (σ_w, σ_b) (Poole et al. 2016 Fig. 1C),
    the layers until q^l is within 1 % of q* (their Fig. 1D), and ξ_q, ξ_c against σ_w at a few
    σ_b through the critical point, where ξ_c diverges and ξ_q stays finite (Schoenholz et al.
    2017 Fig. 1). Needs q_star and a grid in both σ_w and σ_b."""
    if "q_star" not in table or "xi_q" not in table:
        return []
    acts = [a for a in dict.fromkeys(table["activation"])
            if min(phase_grid(table, a)[0].size, phase_grid(table, a)[1].size) >= 2]
    if not acts:
        return []
    fig, axes = plt.subplots(len(acts), 3, figsize=(15, 3.9 * len(acts) + 0.6), squeeze=False,
                             layout="constrained")
    for row, act in zip(axes, acts):
        sw, sb, grid, chi = phase_grid(table, act)
        steps = convergence_grid(table, act, sw, sb)
        scale_map(fig, row[0], sw, sb, grid["q_star"], chi, "$q^*$", f"{act}: fixed point $q^*$ (grey: none)",
                  "viridis")
        scale_map(fig, row[1], sw, sb, steps, chi, "layers", f"{act}: layers until $|q^l-q^*| < 0.01\\,q^*$",
                  "cividis")
        depth_scales(row[2], act, sw, sb, grid, chi)
    fig.legend(handles=[Line2D([], [], color="0.45", lw=2, label="critical line $\\chi_1 = 1$ (maps: white)"),
                        Line2D([], [], color="k", lw=1.6, label="$\\xi_c$"),
                        Line2D([], [], color="k", lw=1.2, ls="--", label="$\\xi_q$")],
               loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle("Length fixed point, convergence to it, and the depth scales (from $q^0 = 1$)", fontsize=11)
    return save(fig, figdir, "phase_scales.png", tight=False)


def convergence_grid(table, act, sw, sb):
    """layers_to_1pct on the (σ_b, σ_w) grid (NaN where absent)."""
    if "layers_to_1pct" not in table:
        return np.full((sb.size, sw.size), np.nan)
    rows = table[table["activation"] == act].drop_duplicates(["sigma_b", "sigma_w"], keep="last")
    cells = rows.set_index(["sigma_b", "sigma_w"])["layers_to_1pct"]
    return cells.reindex(pd.MultiIndex.from_product([sb, sw])).to_numpy(float).reshape(sb.size, sw.size)


def scale_map(fig, ax, sw, sb, z, chi, label, title, cmap):
    """A heat map over (σ_w, σ_b) with the critical line; grey where undefined or infinite."""
    zm = np.ma.masked_invalid(z)
    ax.set_facecolor(GREY)
    im = ax.pcolormesh(edges(sw), edges(sb), zm, cmap=plt.get_cmap(cmap).copy(), shading="flat")
    fig.colorbar(im, ax=ax, label=label, pad=0.02)
    critical_line(ax, sw, sb, chi, "w")
    ax.set_title(title)
    ax.set_xlabel("σ_w")
    ax.set_ylabel("σ_b")


def depth_scales(ax, act, sw, sb, grid, chi):
    """ξ_c (solid) and ξ_q (dashed) against σ_w at up to SCALE_CURVES σ_b, evenly picked, with
    each σ_b's critical σ_w as a dotted vertical line (for relu, ξ_q = ξ_c: the curves coincide)."""
    picks = np.unique(np.linspace(0, sb.size - 1, min(SCALE_CURVES, sb.size)).round().astype(int))
    for n, i in enumerate(picks):
        col = plt.get_cmap("plasma")(0.85 * n / max(len(picks) - 1, 1))
        for name, ls in (("xi_c", "-"), ("xi_q", "--")):
            y = grid[name][i]
            y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
            ax.plot(sw, y, ls, color=col, lw=1.6 if name == "xi_c" else 1.2,
                    label=f"σ_b={g(sb[i])}" if name == "xi_c" else None)
        for x0 in crossings(sw, chi[i]):
            ax.axvline(x0, color=col, ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlim(sw[0], sw[-1])
    ax.set_xlabel("σ_w")
    ax.set_ylabel("depth scale (layers)")
    ax.set_title(f"{act}: $\\xi_c$ diverges at $\\chi_1 = 1$ (dotted), $\\xi_q$ does not")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(frameon=False)
