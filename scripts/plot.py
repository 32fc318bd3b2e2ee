#!/usr/bin/env python3
"""Figures for a `signalprop sweep` / `signalprop phase-diagram` output folder.

Usage:  python3 scripts/plot.py OUTDIR [--out FIGDIR]      (FIGDIR = OUTDIR/figures)

Reads (CSV with header; an empty field means undefined):
  layers.csv         point,width,depth,sigma_w,sigma_b,activation,init,
                     layer,observable,mean,stderr,n,theory
                     (observables `q` and `c` are plotted, others ignored)
  points.csv         point,width,depth,sigma_w,sigma_b,activation,init,
                     q_star,c_star,chi1,xi_q,xi_c,phase,status,...
  phase_diagram.csv  activation,sigma_w,sigma_b,q_star,c_star,chi1,xi_q,xi_c,phase

Writes (and prints the paths of):
  forward_q.png, forward_c.png  q^l and c^l vs layer, one panel per
      (activation, sigma_b, width, init), one colour per sigma_w; Monte Carlo
      mean +- stderr as points, mean-field theory as lines (Poole et al. 2016,
      Figs. 1B / 2B).  More than 16 panels are split over forward_q_p2.png, ...
  phase_diagram.png  per activation: xi_c heat map over (sigma_w, sigma_b) with
      the critical line chi1 = 1, and the fixed point c* (Poole et al. Fig. 2C/D,
      Schoenholz et al. 2017 Fig. 1).
  chi1.png           if points.csv has several sigma_w: chi1 and the last-layer
      correlation (measured vs c*) against sigma_w.

Only the standard library, numpy and matplotlib.
"""
import argparse
import csv
import math
import os
import sys
from collections import OrderedDict, defaultdict

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

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


def g(x):
    """Compact number for labels."""
    return f"{x:g}" if isinstance(x, float) else str(x)


def combo_title(act, sb, width, init):
    return f"{act}, σ_b={g(sb)}, N={g(width)}, {init} init"


# ---------------------------------------------------------------- forward q^l, c^l

KEY = ("activation", "sigma_b", "width", "init")


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
            continue
        p = r["point"].strip()
        d = data[obs].get(p)
        if d is None:
            d = data[obs][p] = dict(
                activation=r["activation"].strip(), init=r["init"].strip(),
                sigma_w=fnum(r["sigma_w"]), sigma_b=fnum(r["sigma_b"]),
                width=fnum(r["width"]), depth=fnum(r["depth"]),
                l=[], m=[], s=[], t=[])
        d["l"].append(fnum(r["layer"]))
        d["m"].append(fnum(r["mean"]))
        d["s"].append(fnum(r["stderr"]))
        d["t"].append(fnum(r["theory"]))
    for obs in data:
        for d in data[obs].values():
            o = np.argsort(d["l"], kind="stable")
            for k in ("l", "m", "s", "t"):
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
        return (k[0], k[3], k[1] if k[1] == k[1] else math.inf, k[2])
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


# ---------------------------------------------------------------- main

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
    if not os.path.isfile(lp) and not os.path.isfile(dp):
        sys.exit(f"plot.py: {a.outdir} has neither layers.csv nor phase_diagram.csv; nothing to plot")
    figdir = a.out or os.path.join(a.outdir, "figures")
    os.makedirs(figdir, exist_ok=True)
    written = []
    layers = {}
    if os.path.isfile(lp):
        layers = load_layers(lp)
        if not any(layers.get(o) for o in ("q", "c")):
            print(f"plot.py: {lp} has no `q` or `c` rows; no forward figures", file=sys.stderr)
        for obs in ("q", "c"):
            written += plot_forward(layers, obs, figdir)
    if os.path.isfile(dp):
        written += plot_phase_diagram(dp, figdir)
    if os.path.isfile(pp):
        written += plot_chi1(pp, layers, figdir)
    for w in written:
        print(w)
    if not written:
        sys.exit("plot.py: no figure written (tables empty?)")


if __name__ == "__main__":
    main()
