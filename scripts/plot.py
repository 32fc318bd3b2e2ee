#!/usr/bin/env python3
"""Figures for a `signalprop sweep` / `signalprop phase-diagram` output folder.

Usage:  python3 scripts/plot.py OUTDIR [--out FIGDIR]      (FIGDIR = OUTDIR/figures)

Reads (CSV with header; an empty field means undefined):
  layers.csv         point,width,depth,sigma_w,sigma_b,activation,init,
                     architecture,layer,observable,mean,stderr,n,theory
                     (observables `q`, `c`, `jac_m1`, `jac_m2`, `jac_meanlog`,
                     `jac_max`, `jac_min`, `jac_floor_frac`, `lyap_<k>`, `lyap_gap`,
                     `orth_gap`, `eff_rank`, `gram_min_eig`, `stable_rank`, `sensitivity`,
                     `traj_length`,
                     `nngp_<a>_<b>` are plotted, others ignored)
  spectra.csv        point,width,depth,sigma_w,sigma_b,activation,init,architecture,layer,
                     observable,bin_lo,bin_hi,density,count,theory  (observables
                     `jac_sv2`, `gram_eig`; density and theory per unit λ, averaged over
                     the bin)
  points.csv         point,width,depth,sigma_w,sigma_b,activation,init,architecture,
                     q_star,c_star,chi1,xi_q,xi_c,phase,status,...
  phase_diagram.csv  activation,sigma_w,sigma_b,q_star,c_star,chi1,xi_q,xi_c,phase
  scaling.csv        campaign,repeat,ranks,threads,predicted_wall,efficiency,measured_wall
                     (from scripts/validate-plan)
  manifest.json      config.network (architecture, residual_scale, weight_scaling)
                     for the titles

Writes (and prints the paths of):
  forward_q.png, forward_c.png  q^l and c^l vs layer, one panel per
      (activation, sigma_b, width, init), one colour per sigma_w; Monte Carlo
      mean +- stderr as points, mean-field theory as lines (Poole et al. 2016,
      Figs. 1B / 2B).  More than 16 panels are split over forward_q_p2.png, ...
  phase_diagram.png  per activation: xi_c heat map over (sigma_w, sigma_b) with
      the critical line chi1 = 1, and the fixed point c* (Poole et al. Fig. 2C/D,
      Schoenholz et al. 2017 Fig. 1).
  chi1.png           if points.csv has several sigma_w and a finite chi1: chi1 and
      the last-layer correlation (measured vs c*) against sigma_w.
  spectra.png        the Jacobian's squared singular values: λ·ρ(λ) (density per
      unit ln λ) on a log λ axis, Monte Carlo as steps, theory as lines.
      Feedforward: one row per (activation, sigma_w, sigma_b, width), the measured
      layers across, Gaussian and orthogonal init overlaid (Pennington et al.
      2017).  Residual: one row per (width, depth, sigma_b, init), every
      (activation, sigma_w) overlaid and labelled with Tarnowski et al.'s c.  Sparse
      histograms are shown with adjacent bins merged (said in the panel), as is the
      share of λ outside the bins or below the float floor.  Pages: spectra_p2.png...
  jacobian_moments.png  m1, m2, mean ln λ and the largest / smallest λ vs layer
      (or vs sigma_w when each point is measured at one layer), Monte Carlo
      mean +- stderr against theory lines.
  lyapunov.png       λ_k vs k per point (at most 8 panels; an even spread of the
      points when there are more, then also lyapunov_sigma_w.png with λ1 and
      λ1 − λ2 vs sigma_w), against Newman's curve or ½⟨ln χ^l⟩ for λ1.

  representations.png  orth_gap, eff_rank, gram_min_eig, stable_rank, sensitivity,
      traj_length vs layer (Monte Carlo mean +- stderr, infinite-width theory dashed
      where it exists), three panels a row.
  orth_gap_width.png  with several widths: the gap at the last layer vs width,
      log-log, with fitted slopes (Daneshmand et al. 2021: -1/2 with BN).
  nngp.png           every nngp_a_b entry, Monte Carlo vs the analytic kernel.
  finite_width.png   with ≥ 3 widths of otherwise equal points: the mean squared deviation
      of one network's q and c from mean-field theory at the last layer vs N (log-log,
      fitted slope; finite-width corrections give −1).
  gram_spectrum.png  with gram_spectrum: eigenvalues of the first layer's feature Gram
      FᵀF/B against the deterministic equivalent (Louart, Liao & Couillet 2018).
  scaling.png        with scaling.csv: `signalprop plan`'s predicted parallel efficiency
      vs ranks P, and its predicted wall against real runs' (y = x, ±15 %).

Only the standard library, numpy and matplotlib.
"""
import argparse
import csv
import json
import math
import os
import sys
import textwrap
from collections import OrderedDict, defaultdict

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter, NullLocator  # noqa: E402

REPRESENTATION = ("orth_gap", "eff_rank", "gram_min_eig", "stable_rank", "sensitivity", "traj_length")
DPI = 130
MAX_COLS = 4
MAX_PANELS = 16          # panels per forward figure; more go to further pages
MAX_LEGEND = 7           # more sigma_w values than this: colour bar instead of legend
plt.rcParams.update({
    "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
    "legend.fontsize": 8, "xtick.labelsize": 9, "ytick.labelsize": 9,
})


# ---------------------------------------------------------------- reading

def fnum(s):
    """CSV field -> float; empty / unparsable -> nan; 'inf' etc. are kept."""
    if s is None:
        return math.nan
    s = s.strip()
    if not s:
        return math.nan
    try:
        return float(s)
    except ValueError:
        return math.nan


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:  # tolerate stray spaces in the header / fields
        for k in list(r):
            if k is not None and k != k.strip():
                r[k.strip()] = r.pop(k)
    return rows


def need(rows, cols, path):
    if not rows:
        return False
    missing = [c for c in cols if c not in rows[0]]
    if missing:
        sys.exit(f"plot.py: {path} lacks column(s) {', '.join(missing)}")
    return True


def save(fig, figdir, name):
    """Lay out, write FIGDIR/NAME at the module's DPI, close; the path in a list."""
    fig.tight_layout()
    path = os.path.join(figdir, name)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return [path]


def g(x):
    """Compact number for labels."""
    return f"{x:g}" if isinstance(x, float) else str(x)


def combo_title(act, sb, width, init, arch="feedforward"):
    head = "" if arch == "feedforward" else f"{arch}: "
    return f"{head}{act}, σ_b={g(sb)}, N={g(width)}, {init} init"


# ---------------------------------------------------------------- forward q^l, c^l

KEY = ("activation", "sigma_b", "width", "init", "architecture")


def load_layers(path):
    rows = read_csv(path)
    cols = ["point", "width", "depth", "sigma_w", "sigma_b", "activation", "init",
            "layer", "observable", "mean", "stderr", "theory"]
    if not need(rows, cols, path):
        return {}
    # data[obs][point] = dict(meta..., l=[], m=[], s=[], t=[])
    data = {"q": OrderedDict(), "c": OrderedDict()}
    for r in rows:
        obs = r["observable"].strip()
        if obs not in data:
            if not obs.startswith(("jac_", "lyap_", "nngp_")) and obs not in REPRESENTATION:
                continue
            data[obs] = OrderedDict()
        p = r["point"].strip()
        d = data[obs].get(p)
        if d is None:
            d = data[obs][p] = dict(
                activation=r["activation"].strip(), init=r["init"].strip(),
                architecture=(r.get("architecture") or "feedforward").strip(),
                sigma_w=fnum(r["sigma_w"]), sigma_b=fnum(r["sigma_b"]),
                width=fnum(r["width"]), depth=fnum(r["depth"]),
                l=[], m=[], s=[], t=[], count=[])
        d["l"].append(fnum(r["layer"]))
        d["m"].append(fnum(r["mean"]))
        d["s"].append(fnum(r["stderr"]))
        d["t"].append(fnum(r["theory"]))
        d["count"].append(fnum(r.get("n")))
    for obs in data:
        for d in data[obs].values():
            o = np.argsort(d["l"], kind="stable")
            for k in ("l", "m", "s", "t", "count"):
                d[k] = np.asarray(d[k], float)[o]
    return data


def group_panels(points):
    """{(act, sb, width, init): {sigma_w: point-dict}}; for repeated sigma_w
    (e.g. several depths) the deepest point is kept."""
    panels = defaultdict(dict)
    for d in points.values():
        key = tuple(d[k] for k in KEY)
        sw = d["sigma_w"]
        old = panels[key].get(sw)
        if old is None or len(d["l"]) > len(old["l"]):
            panels[key][sw] = d

    def sk(k):
        return (k[4], k[0], k[3], k[1] if k[1] == k[1] else math.inf, k[2])
    return OrderedDict((k, panels[k]) for k in sorted(panels, key=sk))


def sw_colours(all_sw):
    """sigma_w -> colour: viridis without its palest top (readable on white)."""
    sws = sorted(s for s in set(all_sw) if np.isfinite(s))
    base = plt.get_cmap("viridis")
    cmap = mcolors.LinearSegmentedColormap.from_list("viridis_dark", base(np.linspace(0, 0.92, 256)))
    if len(sws) <= 1:
        v = sws[0] if sws else 0.0
        norm = mcolors.Normalize(vmin=v - 1, vmax=v + 1)
        return sws, cmap, norm, (lambda s: base(0.35))
    norm = mcolors.Normalize(vmin=sws[0], vmax=sws[-1])
    return sws, cmap, norm, (lambda s: cmap(norm(s)))


def plot_forward(data, obs, figdir):
    points = data.get(obs) or {}
    if not points:
        return []
    panels = group_panels(points)
    all_sw = [sw for p in panels.values() for sw in p]
    sws, cmap, norm, colour = sw_colours(all_sw)
    keys = list(panels)
    pages = [keys[i:i + MAX_PANELS] for i in range(0, len(keys), MAX_PANELS)]
    use_cbar = len(sws) > MAX_LEGEND
    written = []
    for pi, page in enumerate(pages):
        n = len(page)
        ncol = min(MAX_COLS, n)
        nrow = math.ceil(n / ncol)
        width = 3.9 * ncol + (1.0 if use_cbar else 0) + (2.6 if ncol == 1 else 0)
        fig, axes = plt.subplots(nrow, ncol, figsize=(width, 3.3 * nrow + 0.9),
                                 squeeze=False, sharex=False)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        for ax, key in zip(axes.flat, page):
            draw_forward_panel(ax, obs, panels[key], colour)
            ax.set_title(combo_title(*key))
        for i, ax in enumerate(axes.flat[:n]):  # x label on the lowest panel of each column
            if i + ncol >= n:
                ax.set_xlabel("layer l")
        for row in axes:
            row[0].set_ylabel("$q^l$" if obs == "q" else "$c^l$")
        has_theory = any(np.isfinite(d["t"]).any() for k in page for d in panels[k].values())
        what = ("length $q^l = |h^l|^2/N$" if obs == "q"
                else "correlation $c^l$ of $h^l$ between inputs")
        how = ("dots: Monte Carlo (mean ± s.e.), lines: mean-field theory" if has_theory
               else "Monte Carlo (mean ± s.e.); no theory given")
        fig.suptitle(f"{what} vs depth\n{how}", fontsize=11)
        if use_cbar:
            fig.tight_layout(rect=(0, 0, 0.93, 0.97))
            cax = fig.add_axes((0.945, 0.15, 0.015, 0.7))
            sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
            fig.colorbar(sm, cax=cax, label="σ_w")
        else:
            handles = [Line2D([], [], color=colour(s), marker="o", ms=4, lw=1.6, label=f"σ_w={g(s)}")
                       for s in sws]
            handles += [Line2D([], [], color="0.3", marker="o", ls="none", ms=4, label="Monte Carlo")]
            if has_theory:
                handles += [Line2D([], [], color="0.3", lw=1.6, label="theory")]
            fig.tight_layout(rect=(0, 0, 0.99 if ncol > 1 else 0.75, 0.97))
            if n < nrow * ncol:  # an empty slot in the grid holds the legend
                spare = axes.flat[n]
                spare.set_visible(True)
                spare.axis("off")
                spare.legend(handles=handles, loc="center", frameon=False, fontsize=9,
                             ncol=2 if len(handles) > 8 else 1)
            elif ncol > 1:
                fig.subplots_adjust(bottom=fig.subplotpars.bottom + 0.45 / fig.get_figheight())
                fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8),
                           frameon=False, bbox_to_anchor=(0.5, 0.0))
            else:
                fig.legend(handles=handles, loc="center right", frameon=False)
        name = f"forward_{obs}" + (f"_p{pi + 1}" if pi else "") + ".png"
        path = os.path.join(figdir, name)
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        written.append(path)
    return written


def draw_forward_panel(ax, obs, by_sw, colour):
    ys = []
    notes = []
    lays = np.concatenate([d["l"] for d in by_sw.values()] or [np.array([])])
    lays = lays[np.isfinite(lays)]
    for sw in sorted(by_sw, key=lambda s: (not np.isfinite(s), s)):
        d = by_sw[sw]
        col = colour(sw)
        l, m, s, t = d["l"], d["m"], d["s"], d["t"]
        ok = np.isfinite(m) & np.isfinite(l)
        if obs == "q":
            ok &= m > 0
        err = np.where(np.isfinite(s), s, 0.0)[ok]
        ax.errorbar(l[ok], m[ok], yerr=err if np.any(err > 0) else None, fmt="o", ms=3.5,
                    color=col, ecolor=col, elinewidth=1, capsize=1.5, zorder=3)
        okt = np.isfinite(t) & np.isfinite(l)
        if obs == "q":
            okt &= t > 0
        if not okt.any() and ok.sum() >= 2:  # no theory: guide the eye
            ax.plot(l[ok], m[ok], "-", color=col, lw=0.8, alpha=0.45, zorder=2)
        if okt.sum() >= 2:
            ax.plot(l[okt], t[okt], "-", color=col, lw=1.6, alpha=0.9, zorder=2)
        elif okt.sum() == 1:
            ax.plot(l[okt], t[okt], "_", color=col, ms=14, mew=2, zorder=2)
        bad = np.isfinite(l) & ~np.isfinite(m)
        if bad.any():  # say where the measurement diverged / is undefined
            notes.append(f"σ_w={g(sw)}: non-finite from l={g(float(l[bad][0]))}")
        ys.append(m[ok])
        ys.append(t[okt])
    if notes:  # a handle-less legend, so that loc="best" keeps it off the data
        ax.legend(handles=[Line2D([], [], ls="none", label=t) for t in notes], loc="best",
                  handlelength=0, handletextpad=0, fontsize=7, framealpha=0.8)
    y = np.concatenate(ys) if ys else np.array([])
    y = y[np.isfinite(y)]
    if obs == "q":
        yp = y[y > 0]
        if yp.size and yp.max() / yp.min() > 100:
            ax.set_yscale("log")
    else:
        if y.size and y.min() >= -0.05:
            ax.set_ylim(min(-0.02, y.min() - 0.05), 1.05)
        ax.axhline(1.0, color="0.7", lw=0.8, ls=":", zorder=1)
    ax.grid(True, alpha=0.25)
    if lays.size and lays.min() == lays.max():   # a single layer
        ax.set_xlim(lays[0] - 1, lays[0] + 1)
        ax.set_xticks([lays[0]])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# ---------------------------------------------------------------- phase diagram

def edges(c):
    c = np.asarray(c, float)
    if c.size == 1:
        h = max(0.1 * abs(c[0]), 0.05)
        return np.array([c[0] - h, c[0] + h])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def load_grid(rows, act):
    rs = [r for r in rows if r["activation"].strip() == act]
    sw = np.array(sorted({fnum(r["sigma_w"]) for r in rs} - {math.nan}))
    sb = np.array(sorted({fnum(r["sigma_b"]) for r in rs} - {math.nan}))
    sw = sw[np.isfinite(sw)]
    sb = sb[np.isfinite(sb)]
    iw = {v: i for i, v in enumerate(sw)}
    ib = {v: i for i, v in enumerate(sb)}
    cols = ("chi1", "xi_c", "c_star", "q_star")
    grid = {c: np.full((len(sb), len(sw)), np.nan) for c in cols}
    phase = np.full((len(sb), len(sw)), "", dtype=object)
    for r in rs:
        i, j = ib.get(fnum(r["sigma_b"])), iw.get(fnum(r["sigma_w"]))
        if i is None or j is None:
            continue
        for c in cols:
            grid[c][i, j] = fnum(r.get(c))
        phase[i, j] = (r.get("phase") or "").strip().lower()
    return sw, sb, grid, phase


def plot_phase_diagram(path, figdir):
    rows = read_csv(path)
    if not need(rows, ["activation", "sigma_w", "sigma_b", "chi1", "xi_c"], path):
        print(f"plot.py: {path} is empty; no phase diagram", file=sys.stderr)
        return []
    acts = list(OrderedDict.fromkeys(r["activation"].strip() for r in rows))
    has_c = "c_star" in rows[0]
    nkind = 2 if has_c else 1
    if len(acts) == 1:      # xi_c and c* side by side
        nrow, ncol = 1, nkind
    else:                   # one column per activation, one row per quantity
        nrow, ncol = nkind, len(acts)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.9 * ncol, 3.9 * nrow + 0.9), squeeze=False,
                             layout="constrained")

    def ax_for(kind, j):    # kind 0: xi_c, 1: c*
        return axes[0, kind] if len(acts) == 1 else axes[kind, j]
    # common log colour scale for xi_c over all activations
    allxi = np.concatenate([np.array([fnum(r["xi_c"]) for r in rows])])
    fin = allxi[np.isfinite(allxi) & (allxi > 0)]
    if fin.size:
        lo, hi = np.percentile(fin, 1), fin.max()
        lo = max(lo, hi * 1e-4) if hi > 0 else lo
        if not lo < hi:
            lo, hi = lo / 2, hi * 2
        xi_norm = mcolors.LogNorm(vmin=lo, vmax=hi)
    else:
        xi_norm = mcolors.LogNorm(vmin=0.1, vmax=10)
    xi_cmap = plt.get_cmap("magma").copy()
    c_cmap = plt.get_cmap("viridis").copy()
    grey = "0.62"
    for j, act in enumerate(acts):
        sw, sb, grid, phase = load_grid(rows, act)
        if sw.size == 0 or sb.size == 0:
            continue
        X, Y = edges(sw), edges(sb)
        # chi1 for the critical line: inf -> very large, fall back to phase labels
        chi = grid["chi1"].copy()
        chi[np.isposinf(chi)] = 1e6
        miss = ~np.isfinite(chi)
        chi[miss & (phase == "ordered")] = 0.5
        chi[miss & (phase == "chaotic")] = 2.0
        chi[miss & (phase == "critical")] = 1.0
        panels = [("xi_c", ax_for(0, j))] + ([("c_star", ax_for(1, j))] if has_c else [])
        for name, ax in panels:
            z = grid[name]
            ax.set_facecolor(grey)
            if name == "xi_c":
                zm = np.ma.masked_where(~(np.isfinite(z) & (z > 0)), z)
                im = ax.pcolormesh(X, Y, zm, cmap=xi_cmap, norm=xi_norm, shading="flat")
                ax.set_title(f"{act}: depth scale $\\xi_c$")
                fig.colorbar(im, ax=ax, label="$\\xi_c$ (log scale)", pad=0.02)
            else:
                zm = np.ma.masked_where(~np.isfinite(z), z)
                im = ax.pcolormesh(X, Y, zm, cmap=c_cmap, vmin=0, vmax=1, shading="flat")
                ax.set_title(f"{act}: fixed point $c^*$")
                fig.colorbar(im, ax=ax, label="$c^*$", pad=0.02)
            if sw.size >= 2 and sb.size >= 2 and np.any(np.isfinite(chi)):
                cm = np.ma.masked_invalid(chi)
                if np.nanmin(chi) < 1 < np.nanmax(chi) or np.any(chi == 1):
                    lc = "w" if name == "xi_c" else "k"
                    ax.contour(sw, sb, cm, levels=[1.0], colors=[lc], linewidths=2.0)
                    ax.contour(sw, sb, cm, levels=[1.0], colors=["k" if lc == "w" else "w"],
                               linewidths=0.6, linestyles="--")
            elif (sw.size == 1) != (sb.size == 1):  # a single row or column: mark the crossing(s)
                lc = "w" if name == "xi_c" else "k"
                xs, ys = (sw, chi[0]) if sb.size == 1 else (sb, chi[:, 0])
                for x0 in crossings(xs, ys):
                    line = ax.axvline if sb.size == 1 else ax.axhline
                    line(x0, color=lc, lw=2.0)
                    line(x0, color="k" if lc == "w" else "w", lw=0.6, ls="--")
            label_regions(ax, sw, sb, chi, dark=(name == "xi_c"))
            ax.set_xlabel("σ_w")
            ax.set_ylabel("σ_b")
            ax.set_xlim(X[0], X[-1])
            ax.set_ylim(Y[0], Y[-1])
    handles = [Line2D([], [], color="k", lw=2, label="critical line $\\chi_1 = 1$"),
               Patch(facecolor=grey, edgecolor="0.4", label="$\\xi_c=\\infty$ or undefined")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle("Mean-field phase diagram\nordered: $\\chi_1<1$, $c^*=1$;  chaotic: $\\chi_1>1$, $c^*<1$",
                 fontsize=11)
    out = os.path.join(figdir, "phase_diagram.png")
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return [out]


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

def plot_chi1(points_path, layers, figdir):
    """chi1 (theory) and the last-layer correlation (Monte Carlo vs c*) against
    sigma_w.  Colour: (activation, sigma_b), the mean-field parameters; marker:
    (width, init), which only the Monte Carlo depends on."""
    rows = read_csv(points_path)
    if not rows or "sigma_w" not in rows[0] or "chi1" not in rows[0]:
        return []
    if len({fnum(r["sigma_w"]) for r in rows if np.isfinite(fnum(r["sigma_w"]))}) < 2:
        return []
    if not any(np.isfinite(fnum(r["chi1"])) for r in rows):   # e.g. residual nets: no fixed point
        return []
    last = {}  # point -> (mean, stderr) of c at its last layer
    for p, d in (layers.get("c") or {}).items():
        if d["m"].size and np.isfinite(d["m"][-1]):
            last[p] = (d["m"][-1], d["s"][-1])

    def num(x):
        v = fnum(x)
        return v if np.isfinite(v) else math.inf
    ckeys = sorted({(r["activation"].strip(), num(r["sigma_b"])) for r in rows})
    mkeys = sorted({(num(r["width"]), r.get("init", "").strip()) for r in rows})
    cmap = plt.get_cmap("tab10")
    colour = {k: cmap(i % 10) for i, k in enumerate(ckeys)}
    markers = "osD^vP*Xph"
    marker = {k: markers[i % len(markers)] for i, k in enumerate(mkeys)}
    allsw = np.array(sorted({fnum(r["sigma_w"]) for r in rows}))
    allsw = allsw[np.isfinite(allsw)]
    step = np.min(np.diff(allsw)) if allsw.size > 1 else 1.0
    jit = {k: (i - (len(mkeys) - 1) / 2) * 0.5 * step / max(len(mkeys), 1) for i, k in enumerate(mkeys)}

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    for ck in ckeys:
        rs = [r for r in rows if (r["activation"].strip(), num(r["sigma_b"])) == ck]
        th = {}
        for r in rs:  # theory depends on (activation, sigma_b, sigma_w) only
            th.setdefault(fnum(r["sigma_w"]), (fnum(r["chi1"]), fnum(r.get("c_star")),
                                               fnum(r.get("c_last_theory"))))
        x = np.array(sorted(k for k in th if np.isfinite(k)))
        chi = np.array([th[k][0] for k in x])
        cs = np.array([th[k][1] for k in x])
        cl = np.array([th[k][2] for k in x])
        col = colour[ck]
        a1.plot(x, chi, "-", color=col, lw=1.6, marker=".", ms=5)
        if np.isfinite(cl).any():  # theory at the same (finite) depth as the measurement
            a2.plot(x, cl, "-", color=col, lw=1.6)
        if np.isfinite(cs).any():  # the depth -> infinity limit
            a2.plot(x, cs, ":", color=col, lw=1.2)
        for mk in mkeys:
            sel = [r for r in rs if (num(r["width"]), r.get("init", "").strip()) == mk]
            pts = [(fnum(r["sigma_w"]),) + last[r["point"].strip()] for r in sel if r["point"].strip() in last]
            if not pts:
                continue
            pts = np.array(sorted(pts))
            err = np.where(np.isfinite(pts[:, 2]), pts[:, 2], 0)
            a2.errorbar(pts[:, 0] + jit[mk], pts[:, 1], yerr=err, fmt=marker[mk], ms=4.5,
                        color=col, mfc=col, mec="k", mew=0.4, capsize=2, elinewidth=1, ls="none")
    a1.axhline(1.0, color="k", ls="--", lw=1)
    a1.set_xlabel("σ_w")
    a1.set_ylabel("$\\chi_1$")
    a1.set_title("mean-field $\\chi_1 = \\sigma_w^2\\langle\\phi'(h)^2\\rangle_{q^*}$  (>1: chaotic)")
    chiv = np.array([fnum(r["chi1"]) for r in rows])
    chiv = chiv[np.isfinite(chiv) & (chiv > 0)]
    if chiv.size and chiv.max() / chiv.min() > 100:
        a1.set_yscale("log")
    a2.set_xlabel("σ_w")
    a2.set_ylabel("$c^L$ (last layer)")
    a2.set_title("last-layer $c^L$: markers Monte Carlo, lines theory at layer L, dotted $c^*$")
    a2.set_ylim(-0.05, 1.05)
    for a in (a1, a2):
        a.grid(True, alpha=0.25)
    ch = [Line2D([], [], color=colour[k], lw=2, label=f"{k[0]}, σ_b={g(k[1])}") for k in ckeys]
    mh = [Line2D([], [], color="0.5", marker=marker[k], mec="k", mew=0.4, ls="none",
                 label=f"N={g(k[0])}, {k[1]} init") for k in mkeys] if last else []
    fig.legend(handles=ch + mh, loc="outside lower center", ncol=min(len(ch + mh), 4), frameon=False)
    out = os.path.join(figdir, "chi1.png")
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return [out]


# ---------------------------------------------------------------- manifest

def load_network(outdir):
    """`config.network` of manifest.json ({} when absent or unreadable)."""
    try:
        with open(os.path.join(outdir, "manifest.json")) as f:
            net = (json.load(f).get("config") or {}).get("network") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return net if isinstance(net, dict) else {}


def architectures(net):
    """The campaign's architecture names (a list in the manifest, or one name)."""
    a = net.get("architecture", "feedforward")
    return [str(x).strip().lower() for x in a] if isinstance(a, list) else [str(a).strip().lower()]


def is_residual(net):
    return architectures(net) == ["residual"]


def residual_scale(net):
    a = net.get("residual_scale")
    return float(a) if isinstance(a, (int, float)) else math.nan


def net_title(net):
    """'feedforward net, weights σ_w²/N' / 'residual net, a = 1, weights σ_w²/(N·L)'."""
    if not net:
        return ""
    head = f"{' / '.join(architectures(net))} net"
    if is_residual(net) and np.isfinite(residual_scale(net)):
        head += f", a = {g(residual_scale(net))}"
    scaling = {"width": "weight variance σ_w²/N", "width*depth": "weight variance σ_w²/(N·L)"}
    return head + (f", {scaling[net.get('weight_scaling')]}" if net.get("weight_scaling") in scaling else "")


def depth_matters(net):
    """Residual nets with weight variance σ_w²/(N·L): layer l of a net depends on its depth L."""
    return is_residual(net) and net.get("weight_scaling", "width*depth") == "width*depth"


def point_label(d, with_depth=False):
    s = f"{d['activation']}, σ_w={g(d['sigma_w'])}, σ_b={g(d['sigma_b'])}, N={g(d['width'])}"
    return s + (f", L={g(d['depth'])}" if with_depth else "")


def num_key(x):
    return x if np.isfinite(x) else math.inf


INIT_STYLE = {"gaussian": ("C0", "o", "-"), "orthogonal": ("C3", "s", "--")}


def init_style(init):
    """(colour, marker, line style) of an initialisation."""
    return INIT_STYLE.get(init.lower(), ("C2", "^", ":"))


def init_name(init):
    return {"gaussian": "Gaussian"}.get(init.lower(), init)


# ---------------------------------------------------------------- Jacobian spectra

def load_spectra(path):
    """{point: dict(meta..., layers={layer: dict(lo, hi, dens, count, t)})} for `jac_sv2`."""
    rows = read_csv(path)
    cols = ["point", "width", "depth", "sigma_w", "sigma_b", "activation", "init",
            "layer", "observable", "bin_lo", "bin_hi", "density"]
    if not need(rows, cols, path):
        return OrderedDict()
    pts = OrderedDict()
    for r in rows:
        if r["observable"].strip() != "jac_sv2":
            continue
        p = r["point"].strip()
        d = pts.get(p)
        if d is None:
            d = pts[p] = dict(point=p, activation=r["activation"].strip(), init=r["init"].strip(),
                              sigma_w=fnum(r["sigma_w"]), sigma_b=fnum(r["sigma_b"]),
                              width=fnum(r["width"]), depth=fnum(r["depth"]), layers={})
        h = d["layers"].setdefault(fnum(r["layer"]), dict(lo=[], hi=[], dens=[], count=[], t=[]))
        h["lo"].append(fnum(r["bin_lo"]))
        h["hi"].append(fnum(r["bin_hi"]))
        h["dens"].append(fnum(r["density"]))
        h["count"].append(fnum(r.get("count")))
        h["t"].append(fnum(r.get("theory")))
    for d in pts.values():
        for lay, h in list(d["layers"].items()):
            o = np.argsort(h["lo"], kind="stable")
            for k in h:
                h[k] = np.asarray(h[k], float)[o]
            # the tail row [0, range low) holds the share below the bins (density × its width)
            tail = (h["lo"] == 0) & np.isfinite(h["hi"]) & np.isfinite(h["dens"])
            h_below = float(np.sum(h["dens"][tail] * h["hi"][tail]))
            ok = np.isfinite(h["lo"]) & np.isfinite(h["hi"]) & (h["lo"] > 0) & (h["hi"] > h["lo"])
            for k in list(h):
                h[k] = h[k][ok]
            if not ok.any() or not np.isfinite(lay):
                del d["layers"][lay]
            else:   # per unit ln λ, averaged over the bin: count / (all · ln(hi/lo))
                h["below"] = h_below
                w = (h["hi"] - h["lo"]) / np.log(h["hi"] / h["lo"])
                h["y"] = h["dens"] * w
                h["yt"] = h["t"] * w
    return OrderedDict((p, d) for p, d in pts.items() if d["layers"])


def layer_value(layers, obs, point, layer, col="m"):
    d = (layers.get(obs) or {}).get(point)
    if d is None:
        return math.nan
    i = np.nonzero(d["l"] == layer)[0]
    return float(d[col][i[0]]) if i.size else math.nan


def residual_c(d, layers, a):
    """Tarnowski et al.'s c = (1/L) Σ_l c_2^l, read off the first moment at the last layer:
    m1 = a^{2L} e^{c/a²} (theory where given, else Monte Carlo)."""
    if not (np.isfinite(a) and a > 0):
        return math.nan
    L = d["depth"]
    for col in ("t", "m"):
        m1 = layer_value(layers, "jac_m1", d["point"], L, col)
        if np.isfinite(m1) and m1 > 0:
            return a * a * (math.log(m1) - 2 * L * math.log(a))
    return math.nan


def spectra_rows(spectra, layers, net):
    """[(row title, [(label, colour, line style, point-dict)])].  Feedforward: one row per
    (activation, σ_w, σ_b, width), initialisations overlaid.  Residual: one row per
    (width, depth, σ_b, init), all (activation, σ_w) overlaid (Tarnowski et al.: the density
    depends on c only), coloured by c."""
    rows = []
    if is_residual(net):
        a = residual_scale(net)
        a = 1.0 if not np.isfinite(a) else a
        groups = defaultdict(list)
        for d in spectra.values():
            groups[(num_key(d["width"]), num_key(d["depth"]), num_key(d["sigma_b"]), d["init"])].append(d)
        acts = sorted({d["activation"] for d in spectra.values()})
        dashes = ["-", "--", ":", "-."]
        for key in sorted(groups):
            ds = groups[key]
            cs = {d["point"]: residual_c(d, layers, a) for d in ds}
            ds.sort(key=lambda d: (num_key(cs[d["point"]]), d["activation"], num_key(d["sigma_w"])))
            # colour by c (rounded, so that equal c share a colour), line style by activation
            cvals = []
            for d in ds:
                c = cs[d["point"]]
                r = float(f"{c:.2g}") if np.isfinite(c) else math.nan
                if not any(r == v or (r != r and v != v) for v in cvals):
                    cvals.append(r)
            for chunk in [ds[i:i + 8] for i in range(0, len(ds), 8)]:
                curves = []
                for d in chunk:
                    c = cs[d["point"]]
                    r = float(f"{c:.2g}") if np.isfinite(c) else math.nan
                    ci = next(i for i, v in enumerate(cvals) if r == v or (r != r and v != v))
                    lab = f"{d['activation']}, σ_w={g(d['sigma_w'])}" + (f", c={c:.2g}" if np.isfinite(c) else "")
                    curves.append((lab, f"C{ci % 10}", dashes[acts.index(d["activation"]) % len(dashes)], d))
                title = f"N={g(key[0])}, L={g(key[1])}, σ_b={g(key[2])}, {key[3]} init"
                rows.append((title, curves))
        return rows
    groups = defaultdict(dict)
    with_depth = depth_matters(net)
    for d in spectra.values():
        key = (d["activation"], num_key(d["sigma_w"]), num_key(d["sigma_b"]), num_key(d["width"]))
        if with_depth:
            key += (num_key(d["depth"]),)
        old = groups[key].get(d["init"])
        if old is None or d["depth"] > old["depth"]:   # several depths: keep the deepest
            groups[key][d["init"]] = d
    for key in sorted(groups):
        by_init = groups[key]
        inits = sorted(by_init, key=lambda i: (i.lower() not in INIT_STYLE, i.lower()))
        curves = [(f"{init_name(i)} init", init_style(i)[0], "-", by_init[i]) for i in inits]
        rows.append((point_label(by_init[inits[0]], with_depth), curves))
    return rows


def wrap(text, fig, fontsize=10):
    """Wrap each line of a suptitle to the figure's width."""
    width = max(40, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))
    # never break inside $...$ (mathtext): hide its spaces from textwrap
    parts = text.split("$")
    text = "$".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))
    lines = (textwrap.fill(line, width, break_on_hyphens=False) for line in text.split("\n"))
    return "\n".join(lines).replace("\0", " ")


def pick_layers(lays, most=6):
    lays = sorted(lays)
    if len(lays) <= most:
        return lays
    idx = np.unique(np.round(np.linspace(0, len(lays) - 1, most)).astype(int))
    return [lays[i] for i in idx]


def dark(colour, f=0.6):
    r, gg, b = mcolors.to_rgb(colour)
    return (r * f, gg * f, b * f)


def merge_bins(h, f):
    """Edges and per-ln-λ density of the histogram with every `f` adjacent bins merged."""
    lo, hi = h["lo"], h["hi"]
    if f <= 1:
        return lo, hi, h["y"]
    mass = np.where(np.isfinite(h["dens"]), h["dens"], 0.0) * (hi - lo)
    starts = np.arange(0, len(lo), f)
    ends = np.minimum(starts + f, len(lo)) - 1
    m = np.add.reduceat(mass, starts)
    return lo[starts], hi[ends], m / np.log(hi[ends] / lo[starts])


def visible(h):
    """Indices of the bins that hold data: non-empty, or theory above 1e-3 of its peak."""
    used = np.where(np.isfinite(h["y"]), h["y"], 0.0) > 0
    yt = np.where(np.isfinite(h["yt"]), h["yt"], 0.0)
    if yt.max(initial=0) > 0:
        used |= yt > 1e-3 * yt.max()
    return np.nonzero(used)[0]


MIN_PER_BIN = 40        # merge bins for display until the average shown bin holds this many λ


def merge_factor(h):
    """How many adjacent bins to merge so that the shown bins hold MIN_PER_BIN λ on average
    (at least 25 bins remain across the occupied range).  Without a count column the counts
    are estimated from the density, taking its smallest non-zero bin mass as one λ."""
    count = h["count"]
    if not np.isfinite(count).any():
        mass = np.where(np.isfinite(h["dens"]), h["dens"], 0.0) * (h["hi"] - h["lo"])
        if not (mass > 0).any():
            return 1
        count = mass / mass[mass > 0].min()
    n = np.nansum(count)
    v = np.nonzero(np.where(np.isfinite(count), count, 0) > 0)[0]
    if not v.size or not np.isfinite(n) or n <= 0:
        return 1
    span = v[-1] - v[0] + 1
    return int(max(1, min(math.ceil(MIN_PER_BIN * span / n), span // 25)))


def draw_spectrum_panel(ax, curves, layer, layers, fill):
    hs = [(c, c[3]["layers"][layer]) for c in curves if layer in c[3]["layers"]]
    lo_all, hi_all, peaks, ypos, notes, merged, drawn = [], [], [], [], [], [], []
    for (label, col, ls, d), h in hs:
        f = merge_factor(h)
        if f > 1:
            merged.append((label, f))
        lo, hi, y = merge_bins(h, f)
        yt = h["yt"]
        yf = np.where(np.isfinite(y), y, 0.0)
        if np.allclose(lo[1:], hi[:-1], rtol=1e-9):
            edges = np.append(lo, hi[-1])
            if fill:
                ax.stairs(yf, edges, fill=True, color=col, alpha=0.22, lw=0)
            ax.stairs(yf, edges, color=col, lw=0.9, ls=ls, alpha=0.95)
        else:       # bins with gaps: one segment per bin
            ax.hlines(yf, lo, hi, color=col, lw=1.2, ls=ls)
        okt = np.isfinite(yt)
        drawn.append((np.concatenate([lo, hi]), np.concatenate([yf, yf]), fill))
        if okt.any():
            x = np.sqrt(h["lo"] * h["hi"])
            ax.plot(x[okt], yt[okt], "-", color=dark(col), lw=1.7, zorder=4)
            drawn.append((x[okt], yt[okt], False))
        v = visible(h)
        if v.size:
            lo_all.append(h["lo"][max(v[0] - f, 0)])
            hi_all.append(h["hi"][min(v[-1] + f, len(h["hi"]) - 1)])
            ytf = np.where(okt, yt, 0.0)
            peaks.append(max(yf.max(), ytf.max()))
            ypos.append(yf[yf > 0])
        # share of the spectrum the bins do not show
        inside = float(np.nansum(h["dens"] * (h["hi"] - h["lo"])))
        floor = layer_value(layers, "jac_floor_frac", d["point"], layer)
        floor = floor if np.isfinite(floor) else 0.0
        below = h.get("below", 0.0)
        above = 1.0 - inside - floor - below
        def pct(v):
            return f"{100 * v:.0f}%" if v >= 0.1 else f"{100 * v:.2g}%"
        bits = []
        if not (inside > 0):
            bits.append("no finite λ in the bins (diverged?)")
        elif floor > 0.005:
            bits.append(f"{pct(floor)} below float floor")
        if inside > 0 and below > 0.005:
            bits.append(f"{pct(below)} below the bins")
        if inside > 0 and above > 0.005:
            bits.append(f"{pct(above)} above the bins")
        if bits:
            notes.append(f"{label.split(', c=')[0]}: " + ", ".join(bits))
    if merged:
        fs = sorted({f for _, f in merged})
        notes.append(f"Monte Carlo: bins merged ×{fs[0]}" + (f"–{fs[-1]}" if len(fs) > 1 else ""))
    ax.set_xscale("log")
    if not lo_all:
        ax.set_ylim(0, 1)
    if lo_all:
        xl, xh = min(lo_all), max(hi_all)
        if xh / xl < 10:    # a narrow spectrum (e.g. orthogonal, all λ ≈ 1): widen symmetrically
            m = math.sqrt(xl * xh)
            xl, xh = m / 3.2, m * 3.2
        ax.set_xlim(xl, xh)
        y = np.concatenate(ypos) if ypos else np.array([])
        top = max(peaks)
        # log y when the Monte Carlo bulk spans decades or the curves' peaks differ a lot
        if y.size and (np.percentile(y, 10) < top / 100 or (len(peaks) > 1 and max(peaks) / min(peaks) > 10)):
            ax.set_yscale("log")
            ax.set_ylim(max(y.min() / 2, top * 1e-5), top * 3)
        else:
            ax.set_ylim(0, top * 1.1 if top > 0 else 1)
    if notes:
        place_notes(ax, notes, drawn)
    ax.grid(True, which="major", alpha=0.25)


def place_notes(ax, notes, drawn):
    """Notes in an empty corner of the panel (judged from the drawn curves, after the limits
    are set); when every corner is taken, in a band above the data."""
    def frac(v, lim, scale):
        lo, hi = lim
        if scale == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return (v - lo) / (hi - lo)
    ok = [np.isfinite(x) & np.isfinite(y) & (y > 0) for x, y, _ in drawn]
    xs = [x[k] for (x, _, _), k in zip(drawn, ok)]
    ys = [y[k] for (_, y, _), k in zip(drawn, ok)]
    filled = [np.full(k.sum(), f) for (_, _, f), k in zip(drawn, ok)]
    fx = frac(np.concatenate(xs), ax.get_xlim(), ax.get_xscale()) if xs else np.array([])
    fy = frac(np.concatenate(ys), ax.get_ylim(), ax.get_yscale()) if ys else np.array([])
    filled = np.concatenate(filled) if filled else np.array([], bool)
    pos = ax.get_position()     # the box's size in axes fraction, from a 6.5 pt font
    w_pt, h_pt = pos.width * ax.figure.get_figwidth() * 72, pos.height * ax.figure.get_figheight() * 72
    notes = [t for n in notes for t in textwrap.wrap(n, max(20, int((w_pt - 12) / 3.5)), subsequent_indent="  ")]
    height = min(0.9, (10 + 8.5 * len(notes)) / h_pt)
    width = min(0.97, (10 + 3.5 * max(len(t) for t in notes)) / w_pt)
    for loc, (x0, x1), (y0, y1) in (("upper left", (0, width), (1 - height, 1)),
                                    ("upper right", (1 - width, 1), (1 - height, 1)),
                                    ("lower left", (0, width), (0, height)),
                                    ("lower right", (1 - width, 1), (0, height))):
        # a filled histogram covers everything below its top
        inside = (fx >= x0 - 0.02) & (fx <= x1 + 0.02) & (fy >= y0 - 0.02) & (filled | (fy <= y1 + 0.02))
        if not inside.any():
            ax.legend(handles=[Line2D([], [], ls="none", label=t) for t in notes], loc=loc,
                      handlelength=0, handletextpad=0, fontsize=6.5, framealpha=0.8)
            return
    # every corner taken: raise the top of the y axis to free a band for the notes
    lo, hi = ax.get_ylim()
    keep = 1 - height - 0.04
    if ax.get_yscale() == "log":
        ax.set_ylim(lo, 10 ** (math.log10(lo) + (math.log10(hi) - math.log10(lo)) / keep))
    else:
        ax.set_ylim(lo, lo + (hi - lo) / keep)
    ax.legend(handles=[Line2D([], [], ls="none", label=t) for t in notes], loc="upper left",
              handlelength=0, handletextpad=0, fontsize=6.5, framealpha=0.8)


def spectra_pages(rows, residual, max_rows=6):
    """Pages of panel grids: cells[r][c] = (row title, curves, layer, row legend?) or None.
    One figure row per parameter set with its layers across; when every set has a single
    layer (and the net is feedforward) the panels flow through a grid instead."""
    rows = [(t, c, pick_layers({l for cv in c for l in cv[3]["layers"]})) for t, c in rows]
    if not residual and all(len(lays) == 1 for _, _, lays in rows):
        cells = [(t, c, lays[0], False) for t, c, lays in rows]
        per = MAX_PANELS
        ncol = min(MAX_COLS, len(cells))
        pages = []
        for i in range(0, len(cells), per):
            chunk = cells[i:i + per]
            grid = [chunk[k:k + ncol] for k in range(0, len(chunk), ncol)]
            pages.append([r + [None] * (ncol - len(r)) for r in grid])
        return pages
    pages = []
    for i in range(0, len(rows), max_rows):
        chunk = rows[i:i + max_rows]
        ncol = max(len(lays) for _, _, lays in chunk)
        pages.append([[(t, c, l, residual and j == len(lays) - 1) for j, l in enumerate(lays)]
                      + [None] * (ncol - len(lays)) for t, c, lays in chunk])
    return pages


def plot_spectra(spectra, layers, net, figdir):
    rows = spectra_rows(spectra, layers, net)
    if not rows:
        return []
    residual = is_residual(net)
    written = []
    for pi, grid in enumerate(spectra_pages(rows, residual)):
        nrow, ncol = len(grid), len(grid[0])
        extra = 2.4 if residual else (1.2 if ncol == 1 else 0)     # room for the per-row legends
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.7 * ncol + extra, 3.0 * nrow + 1.5), squeeze=False,
                                 layout="constrained")
        if residual:    # keep a margin on the right for the per-row legends
            fig.get_layout_engine().set(rect=(0, 0, 1 - 2.4 / fig.get_figwidth(), 1))
        has_theory = False
        inits = OrderedDict()
        for r in range(nrow):
            for j in range(ncol):
                ax, cell = axes[r, j], grid[r][j]
                if cell is None:
                    ax.set_visible(False)
                    continue
                title, curves, layer, legend = cell
                ax.set_title(f"{title}\nlayer l = {g(layer)}", fontsize=8.5)
                draw_spectrum_panel(ax, curves, layer, layers, fill=len(curves) <= 2)
                has_theory |= any(np.isfinite(c[3]["layers"][layer]["yt"]).any()
                                  for c in curves if layer in c[3]["layers"])
                for lab, col, _, _ in curves:
                    inits.setdefault(lab, col)
                if j == 0:
                    ax.set_ylabel("λ·ρ(λ)  (density per unit ln λ)", fontsize=8.5)
                if r == nrow - 1 or grid[r + 1][j] is None:
                    ax.set_xlabel("λ  (squared singular value)")
                if legend:  # residual: the curves differ from row to row, a legend right of each row
                    hs = [Line2D([], [], color=col, ls=ls, lw=1.4, label=lab) for lab, col, ls, _ in curves]
                    leg = ax.legend(handles=hs, loc="upper left", bbox_to_anchor=(1.03, 1.0),
                                    fontsize=7.5, frameon=False, borderaxespad=0)
                    leg.set_in_layout(False)
        product = "Π(a + DˡWˡ)" if residual else "DˡWˡ⋯D¹W¹"
        head = f"Squared singular values λ of the input–output Jacobian J = ∂xˡ/∂x⁰ = {product}, pooled over networks"
        nt = net_title(net)
        how = "steps: Monte Carlo" + (", smooth lines: free-probability theory" if has_theory
                                      else "; no theory given")
        if residual:
            how += ";  c = (1/L)Σ σ_w²⟨φ′²⟩ (Tarnowski et al. 2019: same c ⇒ same density)"
        fig.suptitle(wrap(f"{nt + ': ' if nt else ''}{head}\n{how}", fig), fontsize=10)
        if not residual:
            hs = [Patch(facecolor=mcolors.to_rgba(c, 0.3), edgecolor=c, label=f"{lab}: Monte Carlo")
                  for lab, c in inits.items()]
            if has_theory:
                hs += [Line2D([], [], color=dark(c), lw=1.7, label=f"{lab}: theory") for lab, c in inits.items()]
            fig.legend(handles=hs, loc="outside lower center", ncol=max(1, min(len(hs), 4, 2 * ncol)),
                       frameon=False)
        name = "spectra" + (f"_p{pi + 1}" if pi else "") + ".png"
        path = os.path.join(figdir, name)
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        written.append(path)
    return written


# ---------------------------------------------------------------- Jacobian moments

JAC_PANELS = [("jac_m1", "$m_1$ = mean λ", True), ("jac_m2", "$m_2$ = mean λ²", True),
              ("jac_meanlog", "mean ln λ", False), ("extremes", "largest / smallest λ", True)]


def jacobian_series(layers, obs, points, by_sigma_w):
    """[(x, mean, stderr, theory, key)] for one panel.  Depth mode: one series per point
    against the layer.  σ_w mode (each point measured at one layer): one series per
    (initialisation, layer) against σ_w."""
    def d_of(p):
        return (layers.get(obs) or {}).get(p)
    if not by_sigma_w:
        out = []
        for (sw, init), p in sorted(points.items(), key=lambda kv: (num_key(kv[0][0]), kv[0][1])):
            d = d_of(p)
            if d is not None:
                out.append((d["l"], d["m"], d["s"], d["t"], (sw, init)))
        return out
    acc = defaultdict(list)
    for (sw, init), p in points.items():
        d = d_of(p)
        if d is None or not d["l"].size:
            continue
        acc[(init, d["l"][-1])].append((sw, d["m"][-1], d["s"][-1], d["t"][-1]))
    out = []
    for (init, lay), rows in sorted(acc.items(), key=lambda kv: (kv[0][0].lower() not in INIT_STYLE, kv[0])):
        a = np.array(sorted(rows, key=lambda r: num_key(r[0])), float)
        out.append((a[:, 0], a[:, 1], a[:, 2], a[:, 3], (init, lay)))
    return out


def plot_jacobian_moments(layers, net, figdir, max_rows=5):
    m1 = layers.get("jac_m1") or {}
    if not m1:
        return []
    panels = [p for p in JAC_PANELS if (p[0] == "extremes" and (layers.get("jac_max") or layers.get("jac_min")))
              or layers.get(p[0])]
    with_depth = depth_matters(net)
    groups = defaultdict(dict)      # row key -> {(σ_w, init): point}
    for p, d in m1.items():
        key = (d["activation"], num_key(d["sigma_b"]), num_key(d["width"]))
        if with_depth:
            key += (num_key(d["depth"]),)
        ck = (d["sigma_w"], d["init"])
        old = groups[key].get(ck)
        if old is None or m1[old]["depth"] < d["depth"]:
            groups[key][ck] = p
    keys = sorted(groups)
    sws, cmap, norm, colour = sw_colours([ck[0] for k in keys for ck in groups[k]])
    inits = sorted({ck[1] for k in keys for ck in groups[k]}, key=lambda i: (i.lower() not in INIT_STYLE, i))
    # every point measured at a single layer and several σ_w: plot against σ_w instead of depth
    by_sw = (all(np.isfinite(m1[p]["l"]).sum() == 1 for k in keys for p in groups[k].values())
             and any(len({ck[0] for ck in groups[k]}) > 1 for k in keys))
    lays_used = sorted({float(m1[p]["l"][-1]) for k in keys for p in groups[k].values()}) if by_sw else []
    by_init = by_sw or len(sws) <= 1      # colour by initialisation (σ_w is on the x axis, or fixed)
    use_cbar = len(sws) > MAX_LEGEND and not by_init
    written = []
    for pi, page in enumerate([keys[i:i + max_rows] for i in range(0, len(keys), max_rows)]):
        nrow, ncol = len(page), len(panels)
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol + (1.0 if use_cbar else 0), 3.0 * nrow + 1.4),
                                 squeeze=False)
        has_theory = False
        for r, key in enumerate(page):
            cur = groups[key]
            d0 = m1[next(iter(cur.values()))]
            title = (f"{d0['activation']}, σ_b={g(d0['sigma_b'])}, N={g(d0['width'])}"
                     + (f", L={g(d0['depth'])}" if with_depth else ""))
            for j, (obs, ylab, logy) in enumerate(panels):
                ax = axes[r, j]
                ys, xs, notes = [], [], []
                subs = [("jac_max", "^"), ("jac_min", "v")] if obs == "extremes" else [(obs, None)]
                for o, marker in subs:
                    for x, m, s, t, sk in jacobian_series(layers, o, cur, by_sw):
                        init = sk[1] if not by_sw else sk[0]
                        col = init_style(init)[0] if by_init else colour(sk[0])
                        _, mk, ls = init_style(init)
                        mk = marker or mk
                        ok = np.isfinite(x) & np.isfinite(m) & ((m > 0) if logy else True)
                        err = np.where(np.isfinite(s), s, 0.0)[ok]
                        if logy:    # an error bar must not reach below 0 on a log axis
                            err = np.minimum(err, 0.999 * m[ok])
                        ax.errorbar(x[ok], m[ok], yerr=err if np.any(err > 0) else None, fmt=mk, ms=4,
                                    color=col, mfc=col if init.lower() != "orthogonal" else "none",
                                    ecolor=col, elinewidth=1, capsize=1.5, zorder=3)
                        okt = np.isfinite(x) & np.isfinite(t) & ((t > 0) if logy else True)
                        if okt.sum() >= 2:
                            ax.plot(x[okt], t[okt], ls=ls, color=col, lw=1.5, zorder=2)
                        elif okt.sum() == 1:
                            ax.plot(x[okt], t[okt], "_", color=col, ms=14, mew=2, zorder=2)
                        elif ok.sum() >= 2:     # no theory: thin guide
                            ax.plot(x[ok], m[ok], ls=ls, color=col, lw=0.7, alpha=0.45, zorder=2)
                        has_theory |= bool(okt.any())
                        ys += [m[ok], t[okt]]
                        xs.append(x[np.isfinite(x)])
                        bad = np.isfinite(x) & ~np.isfinite(m)
                        if bad.any():       # diverged / undefined there: say so
                            who = f"{init_name(init)}" if by_init else f"σ_w={g(sk[0])}, {init_name(init)}"
                            where = "σ_w" if by_sw else "l"
                            what = "diverged (∞)" if np.isinf(m[bad]).any() else "undefined"
                            notes.append(f"{who}{' ' + o[4:] if obs == 'extremes' else ''}: {what} at "
                                         f"{where}={', '.join(g(float(v)) for v in x[bad][:4])}")
                if notes:
                    ax.legend(handles=[Line2D([], [], ls="none", label=t) for t in notes[:4]], loc="best",
                              handlelength=0, handletextpad=0, fontsize=6.5, framealpha=0.8)
                y = np.concatenate(ys) if ys else np.array([])
                y = y[np.isfinite(y)]
                if logy and y.size and y.min() > 0 and y.max() / y.min() > 10:
                    ax.set_yscale("log")
                    if y.max() / y.min() > 100:     # enough decades: label the decades only
                        ax.yaxis.set_minor_formatter(NullFormatter())
                    else:                           # one or two decades: a few plain numbers
                        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                        ax.yaxis.set_minor_formatter(FuncFormatter(
                            lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "235" else ""))
                if obs in ("jac_m1", "jac_m2") and y.size and y.min() < 1 < y.max():
                    ax.axhline(1.0, color="0.6", lw=0.8, ls=":", zorder=1)   # isometry
                la = np.unique(np.concatenate(xs)) if xs else np.array([])
                if la.size == 1 and not by_sw:
                    ax.set_xlim(la[0] - 1, la[0] + 1)
                if by_sw:
                    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
                elif 0 < la.size <= 8:     # few measured layers: tick exactly those
                    ax.set_xticks(la, [g(float(v)) for v in la])
                    ax.xaxis.set_minor_locator(NullLocator())
                else:
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.grid(True, alpha=0.25)
                ax.set_title(f"{title}\n{ylab}", fontsize=8.5)
                if r == nrow - 1:
                    ax.set_xlabel("σ_w" if by_sw else "layer l")
        nt = net_title(net)
        how = ("markers: Monte Carlo (mean ± s.e. over networks), lines: free-probability theory"
               if has_theory else "Monte Carlo (mean ± s.e. over networks); no theory given")
        what = ("vs σ_w at layer " + ", ".join(g(v) for v in lays_used)) if by_sw else "vs depth"
        if by_init and not by_sw and sws:
            what += f" (σ_w = {g(sws[0])})"
        head = f"moments of the Jacobian's squared singular values λ {what}"
        fig.suptitle(wrap(f"{nt + ': ' if nt else ''}{head}\n{how}", fig), fontsize=10)
        hs = [] if use_cbar or by_init else [Line2D([], [], color=colour(s), lw=1.6, label=f"σ_w={g(s)}")
                                             for s in sws]
        for i in inits:
            c, mk, ls = init_style(i)
            c = c if by_init else "0.3"
            hs.append(Line2D([], [], color=c, marker=mk, ls=ls, mfc=c if i.lower() != "orthogonal" else "none",
                             label=f"{init_name(i)} init"))
        if any(p[0] == "extremes" for p in panels):
            hs += [Line2D([], [], color="0.3", marker="^", ls="none", label="max λ"),
                   Line2D([], [], color="0.3", marker="v", ls="none", label="min λ")]
        per_row = min(len(hs), 2 * ncol + 1, 9)
        bottom = (0.25 + 0.22 * math.ceil(len(hs) / per_row)) / fig.get_figheight()
        fig.tight_layout(rect=(0, bottom, 0.93 if use_cbar else 1, 1))
        fig.legend(handles=hs, loc="lower center", ncol=per_row, frameon=False)
        if use_cbar:
            cax = fig.add_axes((0.945, 0.2, 0.015, 0.6))
            fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax, label="σ_w")
        name = "jacobian_moments" + (f"_p{pi + 1}" if pi else "") + ".png"
        path = os.path.join(figdir, name)
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        written.append(path)
    return written


# ---------------------------------------------------------------- Lyapunov exponents

def plot_lyapunov(layers, net, figdir, max_panels=8):
    ks = sorted(int(o.split("_")[1]) for o in layers if o.startswith("lyap_") and o.split("_")[1].isdigit())
    if not ks:
        return []
    pts = OrderedDict()
    for k in ks:
        for p, d in layers[f"lyap_{k}"].items():
            e = pts.setdefault(p, dict(meta=d, k=[], m=[], s=[], t=[]))
            i = np.nonzero(np.isfinite(d["l"]))[0]
            i = i[np.argmax(d["l"][i])] if i.size else 0     # the last layer (= depth)
            e["k"].append(k)
            e["m"].append(d["m"][i])
            e["s"].append(d["s"][i])
            e["t"].append(d["t"][i])
    def order_key(p):   # the initialisations of one parameter set side by side
        d = pts[p]["meta"]
        return (d["activation"], num_key(d["sigma_b"]), num_key(d["width"]), num_key(d["sigma_w"]),
                num_key(d["depth"]), (d["init"].lower() not in INIT_STYLE, d["init"]))
    order = sorted(pts, key=order_key)
    # too many points: an even spread of parameter sets, each with all its initialisations
    sets = OrderedDict()
    for p in order:
        sets.setdefault(order_key(p)[:-1], []).append(p)
    per = max(len(v) for v in sets.values())
    keys = list(sets)
    if len(order) > max_panels:
        m = max(1, max_panels // per)
        keys = [keys[i] for i in np.unique(np.round(np.linspace(0, len(keys) - 1, m)).astype(int))]
    shown = [p for k in keys for p in sets[k]][:max_panels]
    n = len(shown)
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.9 * ncol + (1.5 if ncol == 1 else 0), 3.2 * nrow + 1.4),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    kinds = set()
    gaps = layers.get("lyap_gap") or {}
    for ax, p in zip(axes.flat, shown):
        e = pts[p]
        d = e["meta"]
        k, m, s, t = (np.asarray(e[c], float) for c in ("k", "m", "s", "t"))
        col = init_style(d["init"])[0]
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
        gap = ""
        gd = gaps.get(p)
        if gd is not None and gd["m"].size:
            gm, gs, gt = gd["m"][-1], gd["s"][-1], gd["t"][-1]
            if np.isfinite(gm):
                def tidy(v, digits):     # round-off (e.g. 1e-18 for orthogonal linear nets) shows as 0
                    return "0" if abs(v) < 1e-12 else f"{v:.{digits}g}"
                gap = f"λ₁−λ₂ = {tidy(gm, 3)}" + (f" ± {tidy(gs, 1)}" if np.isfinite(gs) else "")
                gap += f" (theory {tidy(gt, 3)})" if np.isfinite(gt) else ""
        ax.set_title(f"{point_label(d)}, L={g(d['depth'])}\n{init_name(d['init'])} init"
                     + (f";  {gap}" if gap else ""), fontsize=8)
        ax.set_xlabel("k")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.25)
    for row in axes:
        row[0].set_ylabel("Lyapunov exponent $\\lambda_k$")
    nt = net_title(net)
    lines = []
    if "curve" in kinds:
        lines.append("black line: Newman 1986 (products of Gaussian matrices)")
    if "star" in kinds:
        lines.append("☆ / dotted: $\\lambda_1 \\approx \\frac{1}{L}\\sum_l \\frac{1}{2}\\ln\\chi^l$"
                     " (mean field)")
    if not kinds:
        lines.append("no theory given")
    more = (f"  [{n} of {len(order)} points shown; λ₁ and the gap of all points in lyapunov_sigma_w.png]"
            if len(order) > n else "")
    fig.suptitle(wrap(f"{nt + ': ' if nt else ''}Lyapunov exponents of the Jacobian product (repeated QR), "
                      f"mean ± s.e. over networks{more}\n" + ";  ".join(lines), fig), fontsize=10)
    fig.tight_layout()
    path = os.path.join(figdir, "lyapunov.png")
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    written = [path]
    if len(order) > n:
        written += plot_lyapunov_sigma_w(layers, net, figdir)
    return written


def plot_lyapunov_sigma_w(layers, net, figdir):
    """λ₁ and λ₁−λ₂ against σ_w, one row per (activation, σ_b, width, depth), colour by init."""
    rows = defaultdict(lambda: defaultdict(list))     # group -> init -> [(σ_w, obs -> (m, s, t))]
    for p, d in (layers.get("lyap_1") or {}).items():
        key = (d["activation"], num_key(d["sigma_b"]), num_key(d["width"]), num_key(d["depth"]))
        vals = {}
        for o in ("lyap_1", "lyap_gap"):
            e = (layers.get(o) or {}).get(p)
            vals[o] = (e["m"][-1], e["s"][-1], e["t"][-1]) if e is not None and e["m"].size else (math.nan,) * 3
        rows[key][d["init"]].append((d["sigma_w"], vals))
    if not rows or all(len({v[0] for lst in r.values() for v in lst}) < 2 for r in rows.values()):
        return []
    keys = sorted(rows)
    has_gap = bool(layers.get("lyap_gap"))
    ncol = 2 if has_gap else 1
    fig, axes = plt.subplots(len(keys), ncol, figsize=(4.6 * ncol + 1.5, 2.9 * len(keys) + 1.2), squeeze=False)
    for r, key in enumerate(keys):
        for j, (o, lab) in enumerate([("lyap_1", "$\\lambda_1$"), ("lyap_gap", "$\\lambda_1-\\lambda_2$")][:ncol]):
            ax = axes[r, j]
            for init, lst in sorted(rows[key].items(), key=lambda kv: (kv[0].lower() not in INIT_STYLE, kv[0])):
                lst = sorted(lst, key=lambda v: num_key(v[0]))
                x = np.array([v[0] for v in lst], float)
                m, s_, t = (np.array([v[1][o][i] for v in lst], float) for i in range(3))
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
            ax.axhline(0, color="0.6", lw=0.8, ls=":")
            ax.grid(True, alpha=0.25)
            ax.set_title(f"{key[0]}, σ_b={g(key[1])}, N={g(key[2])}, L={g(key[3])}: {lab}", fontsize=8.5)
            if r == len(keys) - 1:
                ax.set_xlabel("σ_w")
            if r == 0 and j == ncol - 1:
                ax.legend(fontsize=7.5, loc="best")
    nt = net_title(net)
    fig.suptitle(wrap(f"{nt + ': ' if nt else ''}top Lyapunov exponent and gap vs σ_w, mean ± s.e. over networks\n"
                      "lines: theory where given (λ₁ ≈ (1/L)Σ ½ ln χˡ)", fig), fontsize=10)
    return save(fig, figdir, "lyapunov_sigma_w.png")


# ---------------------------------------------------------------- main

# ---------------------------------------------------------------- representations

REP_TITLE = {
    "orth_gap": ("orthogonality gap ‖HᵀH/‖H‖²_F − I/B‖_F", True),
    "eff_rank": ("effective rank Tr C / λ_max(C)", False),
    "gram_min_eig": ("λ_min(B·G / Tr G): 0 at rank collapse", False),
    "stable_rank": ("stable rank (Tr G)² / Tr G²", False),
    "sensitivity": ("normalised sensitivity χ^l = (SNR⁰/SNR^l)^½", True),
    "traj_length": ("trajectory length / √N", True),
}
MAX_CURVES = 10


def point_name(d, vary):
    """A legend label naming only the parameters that vary between the curves."""
    parts = []
    if "architecture" in vary:
        parts.append(d["architecture"])
    if "activation" in vary:
        parts.append(d["activation"])
    if "width" in vary:
        parts.append(f"N={g(d['width'])}")
    if "sigma_w" in vary:
        parts.append(f"σ_w={g(d['sigma_w'])}")
    if "sigma_b" in vary:
        parts.append(f"σ_b={g(d['sigma_b'])}")
    if "init" in vary:
        parts.append(init_name(d["init"]))
    if "depth" in vary:
        parts.append(f"L={g(d['depth'])}")
    return ", ".join(parts) or d["activation"]


def varying(points):
    keys = ("architecture", "activation", "width", "sigma_w", "sigma_b", "init", "depth")
    return {k for k in keys if len({str(d[k]) for d in points}) > 1}


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


def plot_representations(layers, figdir):
    """The representation observables vs layer, Monte Carlo mean ± s.e. as points and
    lines, the infinite-width theory (where there is one) dashed; three panels a row."""
    present = [o for o in REPRESENTATION if layers.get(o)]
    if not present:
        return []
    cols = min(3, len(present))
    rows = (len(present) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(present):]:
        ax.set_visible(False)
    notes = []
    for ax, obs in zip(axes.flat, present):
        points = list(layers[obs].values())
        if len(points) > MAX_CURVES:
            notes.append(f"{obs}: first {MAX_CURVES} of {len(points)} points")
            points = points[:MAX_CURVES]
        vary = varying(points)
        title, logy = REP_TITLE[obs]
        for i, d in enumerate(points):
            col = f"C{i % 10}"
            ok = np.isfinite(d["m"])
            label = point_name(d, vary)
            if obs == "sensitivity" and d["architecture"].startswith("batchnorm"):
                label += sensitivity_fit(d["l"][ok], d["m"][ok])
            ax.errorbar(d["l"][ok], d["m"][ok], yerr=np.nan_to_num(d["s"][ok]), fmt="o-", ms=2.5, lw=1.1,
                        color=col, label=label, capsize=0)
            okt = np.isfinite(d["t"])
            if okt.any():
                ax.plot(d["l"][okt], d["t"][okt], "--", color=dark(col), lw=1.2)
        positive = all((d["m"][np.isfinite(d["m"])] > 0).all() for d in points)
        if logy and positive:
            ax.set_yscale("log")
        ax.set_xlabel("layer l")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Representations vs depth — points: Monte Carlo mean ± s.e.; dashed: infinite-width theory"
                 + (" (" + "; ".join(notes) + ")" if notes else ""), fontsize=10)
    return save(fig, figdir, "representations.png")


def plot_orth_gap_width(layers, figdir):
    """The orthogonality gap at each net's last layer vs width (log-log), one line per
    (architecture, activation, init, σ_w, σ_b, depth), with its least-squares slope:
    Daneshmand et al.'s O(B/√N) floor with BN is slope −½; without BN the gap stays Θ(1)."""
    points = list((layers.get("orth_gap") or {}).values())
    groups = defaultdict(list)
    for d in points:
        ok = np.isfinite(d["m"]) & (d["l"] == d["depth"])
        if ok.any():
            key = tuple(str(d[k]) for k in ("architecture", "activation", "init", "sigma_w", "sigma_b", "depth"))
            groups[key].append((d["width"], float(d["m"][ok][0]), float(d["s"][ok][0]), d))
    groups = {k: sorted(v, key=lambda t: t[0]) for k, v in groups.items() if len({t[0] for t in v}) >= 2}
    if not groups:
        return []
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    allpoints = [t[3] for v in groups.values() for t in v]
    vary = varying(allpoints) - {"width"}
    for i, (key, v) in enumerate(groups.items()):
        n = np.array([t[0] for t in v]); m = np.array([t[1] for t in v]); e = np.array([t[2] for t in v])
        col = f"C{i % 10}"
        slope = np.polyfit(np.log(n), np.log(m), 1)[0] if (m > 0).all() else math.nan
        label = point_name(v[0][3], vary) + f": slope {slope:+.2f}"
        ax.errorbar(n, m, yerr=e, fmt="o-", color=col, label=label, capsize=2)
    n_all = np.array(sorted({t[0] for v in groups.values() for t in v}))
    ref = max(t[1] for v in groups.values() for t in v)
    ax.plot(n_all, ref * (n_all / n_all[0]) ** -0.5, ":", color="0.4", label="∝ N^(−1/2)")
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel("width N"); ax.set_ylabel("orthogonality gap at the last layer")
    ax.set_title("Orthogonality gap vs width (Daneshmand et al. 2021)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save(fig, figdir, "orth_gap_width.png")


def plot_nngp(layers, figdir):
    """Every measured NNGP entry h_a·h_b/N (Monte Carlo mean ± s.e.) against the analytic
    kernel, coloured by layer."""
    xs, ys, es, ls = [], [], [], []
    for obs, points in layers.items():
        if not obs.startswith("nngp_"):
            continue
        for d in points.values():
            ok = np.isfinite(d["m"]) & np.isfinite(d["t"])
            xs += list(d["t"][ok]); ys += list(d["m"][ok]); es += list(np.nan_to_num(d["s"][ok])); ls += list(d["l"][ok])
    if not xs:
        return []
    xs, ys, es, ls = map(np.asarray, (xs, ys, es, ls))
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    sc = ax.scatter(xs, ys, c=ls, cmap="viridis", s=12, zorder=3)
    ax.errorbar(xs, ys, yerr=es, fmt="none", ecolor="0.6", lw=0.8, zorder=2)
    lo, hi = min(xs.min(), ys.min()), max(xs.max(), ys.max())
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="Monte Carlo = theory")
    z = (ys - xs) / np.where(es > 0, es, np.nan)
    ax.set_title(f"NNGP kernel: Monte Carlo vs analytic ({len(xs)} entries, "
                 f"RMS z = {np.sqrt(np.nanmean(z ** 2)):.2f})")
    ax.set_xlabel("analytic K^l(x_a, x_b)"); ax.set_ylabel("empirical h_a·h_b / N")
    fig.colorbar(sc, ax=ax, label="layer")
    ax.grid(alpha=0.3); ax.legend(fontsize=8)
    return save(fig, figdir, "nngp.png")


def plot_gram_spectrum(path, figdir):
    """The first layer's feature Gram eigenvalues (`gram_eig` in spectra.csv): λ·ρ(λ) per
    unit ln λ, Monte Carlo as steps, Louart–Liao–Couillet's deterministic equivalent as a
    line, one panel per grid point."""
    rows = [r for r in read_csv(path) if r.get("observable", "").strip() == "gram_eig"]
    points = OrderedDict()
    for r in rows:
        lo, hi = fnum(r["bin_lo"]), fnum(r["bin_hi"])
        if not (lo > 0 and np.isfinite(hi)):
            continue
        d = points.setdefault(r["point"].strip(), dict(meta=r, lo=[], hi=[], dens=[], t=[]))
        d["lo"].append(lo); d["hi"].append(hi); d["dens"].append(fnum(r["density"])); d["t"].append(fnum(r.get("theory")))
    if not points:
        return []
    keys = list(points)[:MAX_PANELS]
    cols = min(MAX_COLS, len(keys)); nrows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.6 * nrows), squeeze=False)
    for ax, k in zip(axes.flat, keys):
        d = points[k]
        lo, hi = np.array(d["lo"]), np.array(d["hi"])
        w = (hi - lo) / np.log(hi / lo)
        y, t = np.array(d["dens"]) * w, np.array(d["t"]) * w
        ax.stairs(np.nan_to_num(y), np.append(lo, hi[-1]), fill=True, alpha=0.35, color="C0", label="Monte Carlo")
        ok = np.isfinite(t)
        if ok.any():
            ax.plot(np.sqrt(lo * hi)[ok], t[ok], "-", color="C3", lw=1.6, label="deterministic equivalent")
        ax.set_xscale("log")
        m = d["meta"]
        ax.set_title(f"{m['activation']}, σ_w={g(fnum(m['sigma_w']))}, σ_b={g(fnum(m['sigma_b']))}, N={m['width']}")
        ax.set_xlabel("eigenvalue λ of FᵀF/B"); ax.set_ylabel("λ·ρ(λ)")
        ax.grid(alpha=0.3); ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.suptitle("Random-feature Gram spectrum, F = φ(W X + b) (Louart, Liao & Couillet 2018)", fontsize=10)
    return save(fig, figdir, "gram_spectrum.png")


def plot_finite_width(layers, figdir):
    """With ≥ 3 widths of otherwise equal points: the mean squared deviation of one
    network's q^l and c^l from mean-field theory, E[(x − x_MF)²] = n·se² + (mean − x_MF)²,
    at the last layer against N on log-log axes, with the least-squares slope (finite-width
    corrections: −1) and a 1/N guide."""
    groups = defaultdict(list)
    for obs in ("q", "c"):
        for d in (layers.get(obs) or {}).values():
            key = (obs,) + tuple(g(d[k]) for k in ("architecture", "activation", "init", "sigma_w", "sigma_b", "depth"))
            groups[key].append(d)
    groups = {k: sorted(v, key=lambda d: d["width"]) for k, v in groups.items() if len({d["width"] for d in v}) >= 3}
    if not groups:
        return []
    obs_list = [o for o in ("q", "c") if any(k[0] == o for k in groups)]
    fig, axes = plt.subplots(1, len(obs_list), figsize=(5.4 * len(obs_list), 4.4), squeeze=False)
    for ax, obs in zip(axes[0], obs_list):
        for i, (key, points) in enumerate((k, v) for k, v in groups.items() if k[0] == obs):
            n, msd = [], []
            for d in points:
                last = np.nonzero(d["l"] == d["depth"])[0]
                if not len(last):
                    continue
                j = last[0]
                m, se, t, samples = d["m"][j], d["s"][j], d["t"][j], d["count"][j]
                if not all(np.isfinite(v) for v in (m, se, t, samples)):
                    continue
                n.append(d["width"]); msd.append(samples * se * se + (m - t) ** 2)
            n, msd = np.array(n, float), np.array(msd, float)
            ok = (n > 0) & (msd > 0)
            if ok.sum() < 3:
                continue
            slope = np.polyfit(np.log(n[ok]), np.log(msd[ok]), 1)[0]
            col = f"C{i % 10}"
            ax.plot(n[ok], msd[ok], "o-", color=col,
                    label=f"{key[2]}, σ_w={key[4]}, σ_b={key[5]}, L={key[6]}: slope {slope:+.2f}")
            ax.plot(n[ok], msd[ok][0] * n[ok][0] / n[ok], ":", color="0.5")
        ax.set_xscale("log"); ax.set_yscale("log")
        ax.set_xlabel("width N")
        ax.set_ylabel(f"E[({obs}^L − {obs}_MF)²] per network")
        ax.set_title(f"{obs}: finite-width deviation from mean-field theory (dotted: ∝ 1/N)")
        ax.grid(alpha=0.3, which="both"); ax.legend(fontsize=7)
    return save(fig, figdir, "finite_width.png")


def plot_scaling(path, figdir):
    """scaling.png: the coordinator simulation of `signalprop plan` (CoordinatorModel).
    Left: predicted parallel efficiency against ranks P for the repeated grid. Right:
    predicted against measured wall of real runs at small P, with the line y = x."""
    rows = read_csv(path)
    need(rows, ["campaign", "repeat", "ranks", "predicted_wall", "efficiency", "measured_wall"], path)
    curve = [r for r in rows if r["measured_wall"] in ("", None)]
    runs = [r for r in rows if r["measured_wall"] not in ("", None)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax = axes[0]
    for (name, rep), group in sorted(groupby_keys(curve, ("campaign", "repeat")).items()):
        p = [int(r["ranks"]) for r in group]
        e = [100 * fnum(r["efficiency"]) for r in group]
        ax.plot(p, e, "o-", label=f"{name} ×{rep}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("ranks P")
    ax.set_ylabel("predicted parallel efficiency (%)")
    ax.set_ylim(0, 105)
    ax.axhline(90, color="0.6", lw=0.8, ls="--")
    ax.set_title("simulated coordinator schedule")
    if curve:
        ax.legend()
    ax = axes[1]
    for name, group in sorted(groupby_keys(runs, ("campaign",)).items()):
        ax.plot([fnum(r["measured_wall"]) for r in group], [fnum(r["predicted_wall"]) for r in group], "o",
                label=name[0])
        for r in group:
            ax.annotate(f"P={r['ranks']}", (fnum(r["measured_wall"]), fnum(r["predicted_wall"])),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
    if runs:
        hi = 1.1 * max(max(fnum(r["measured_wall"]), fnum(r["predicted_wall"])) for r in runs)
        ax.plot([0, hi], [0, hi], color="0.5", lw=0.8)
        ax.plot([0, hi], [0, 1.15 * hi], color="0.8", lw=0.8, ls=":")
        ax.plot([0, hi], [0, hi / 1.15], color="0.8", lw=0.8, ls=":")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
        ax.legend()
    ax.set_xlabel("measured wall (s)")
    ax.set_ylabel("predicted wall (s)")
    ax.set_title("model vs real runs (dotted: ±15 %)")
    return save(fig, figdir, "scaling.png")


def groupby_keys(rows, keys):
    """Rows grouped by the tuple of their values at `keys`, in first-seen order."""
    out = OrderedDict()
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", help="output folder of `signalprop sweep` / `phase-diagram`")
    ap.add_argument("--out", help="figure folder (default OUTDIR/figures)")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.outdir):
        sys.exit(f"plot.py: {a.outdir} is not a folder")
    lp = os.path.join(a.outdir, "layers.csv")
    pp = os.path.join(a.outdir, "points.csv")
    dp = os.path.join(a.outdir, "phase_diagram.csv")
    sp = os.path.join(a.outdir, "spectra.csv")
    cp = os.path.join(a.outdir, "scaling.csv")
    if not any(os.path.isfile(f) for f in (lp, dp, sp, cp)):
        sys.exit(f"plot.py: {a.outdir} has none of layers.csv, phase_diagram.csv, spectra.csv, scaling.csv; "
                 "nothing to plot")
    net = load_network(a.outdir)
    figdir = a.out or os.path.join(a.outdir, "figures")
    os.makedirs(figdir, exist_ok=True)
    written = []
    layers = {}
    if os.path.isfile(lp):
        layers = load_layers(lp)
        if not any(layers.get(o) for o in layers):
            print(f"plot.py: {lp} has no rows to plot", file=sys.stderr)
        for obs in ("q", "c"):
            written += plot_forward(layers, obs, figdir)
    if os.path.isfile(sp):
        written += plot_spectra(load_spectra(sp), layers, net, figdir)
        written += plot_gram_spectrum(sp, figdir)
    written += plot_jacobian_moments(layers, net, figdir)
    written += plot_lyapunov(layers, net, figdir)
    written += plot_representations(layers, figdir)
    written += plot_orth_gap_width(layers, figdir)
    written += plot_nngp(layers, figdir)
    written += plot_finite_width(layers, figdir)
    if os.path.isfile(dp):
        written += plot_phase_diagram(dp, figdir)
    if os.path.isfile(pp):
        written += plot_chi1(pp, layers, figdir)
    if os.path.isfile(cp):
        written += plot_scaling(cp, figdir)
    for w in written:
        print(w)
    if not written:
        sys.exit("plot.py: no figure written (tables empty?)")


if __name__ == "__main__":
    main()
