"""forward_q.png, forward_c.png: the length q^l and correlation c^l vs layer, Monte Carlo
mean ± s.e. as points and mean-field theory as lines (Poole et al. 2016, Figs. 1B / 2B)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .common import (MAX_COLS, MAX_LEGEND, MAX_PANELS, combo_title, curve, figure, g, note_legend,
                     page_name, point_table, save, sw_colours)

#: A panel: the parameters the mean-field theory and the Monte Carlo share, but σ_w.
PANEL = ["activation", "sigma_b", "width", "init", "architecture"]
PANEL_ORDER = ["architecture", "activation", "init", "sigma_b", "width"]


def panels(ds, obs):
    """[(panel key in PANEL's order, {σ_w: curve})], sorted; for repeated σ_w (several depths)
    the point with the most layers is kept."""
    table = point_table(ds, obs)
    deepest = (table.sort_values("rows", ascending=False, kind="stable")
               .drop_duplicates(PANEL + ["sigma_w"]).sort_index())
    out = []
    for _, group in deepest.groupby(PANEL_ORDER, sort=True, dropna=False):
        key = tuple(group.iloc[0][PANEL])
        out.append((key, {float(p["sigma_w"]): curve(ds, obs, p) for _, p in group.iterrows()}))
    return out


@figure
def forward(ds, obs, figdir):
    """forward_<obs>.png (obs = q or c): one panel per (activation, σ_b, width, init), one
    colour per σ_w; more than MAX_PANELS panels go to forward_<obs>_p2.png, …"""
    found = panels(ds, obs)
    if not found:
        return []
    colours = sw_colours([sw for _, by_sw in found for sw in by_sw])
    written = []
    for page in range(math.ceil(len(found) / MAX_PANELS)):
        fig = forward_page(obs, found[page * MAX_PANELS:(page + 1) * MAX_PANELS], colours)
        written += save(fig, figdir, page_name(f"forward_{obs}", page), tight=False)
    return written


def forward_page(obs, page, colours):
    sws, cmap, norm, colour = colours
    use_cbar = len(sws) > MAX_LEGEND
    n = len(page)
    ncol = min(MAX_COLS, n)
    nrow = math.ceil(n / ncol)
    width = 3.9 * ncol + (1.0 if use_cbar else 0) + (2.6 if ncol == 1 else 0)
    fig, axes = plt.subplots(nrow, ncol, figsize=(width, 3.3 * nrow + 0.9), squeeze=False, sharex=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (key, by_sw) in zip(axes.flat, page):
        draw_forward_panel(ax, obs, by_sw, colour)
        ax.set_title(combo_title(*key))
    for i, ax in enumerate(axes.flat[:n]):  # x label on the lowest panel of each column
        if i + ncol >= n:
            ax.set_xlabel("layer l")
    for row in axes:
        row[0].set_ylabel("$q^l$" if obs == "q" else "$c^l$")
    has_theory = any(np.isfinite(d["t"]).any() for _, by_sw in page for d in by_sw.values())
    what = "length $q^l = |h^l|^2/N$" if obs == "q" else "correlation $c^l$ of $h^l$ between inputs"
    how = ("dots: Monte Carlo (mean ± s.e.), lines: mean-field theory" if has_theory
           else "Monte Carlo (mean ± s.e.); no theory given")
    fig.suptitle(f"{what} vs depth\n{how}", fontsize=11)
    if use_cbar:
        fig.tight_layout(rect=(0, 0, 0.93, 0.97))
        cax = fig.add_axes((0.945, 0.15, 0.015, 0.7))
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax, label="σ_w")
    else:
        forward_legend(fig, axes, n, sws, colour, has_theory)
    return fig


def forward_legend(fig, axes, n, sws, colour, has_theory):
    """σ_w colours and the marker / line key: in an empty slot of the grid, below, or at the right."""
    nrow, ncol = axes.shape
    handles = [Line2D([], [], color=colour(s), marker="o", ms=4, lw=1.6, label=f"σ_w={g(s)}") for s in sws]
    handles += [Line2D([], [], color="0.3", marker="o", ls="none", ms=4, label="Monte Carlo")]
    if has_theory:
        handles += [Line2D([], [], color="0.3", lw=1.6, label="theory")]
    fig.tight_layout(rect=(0, 0, 0.99 if ncol > 1 else 0.75, 0.97))
    if n < nrow * ncol:  # an empty slot in the grid holds the legend
        spare = axes.flat[n]
        spare.set_visible(True)
        spare.axis("off")
        spare.legend(handles=handles, loc="center", frameon=False, fontsize=9, ncol=2 if len(handles) > 8 else 1)
    elif ncol > 1:
        fig.subplots_adjust(bottom=fig.subplotpars.bottom + 0.45 / fig.get_figheight())
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
    else:
        fig.legend(handles=handles, loc="center right", frameon=False)


def draw_forward_panel(ax, obs, by_sw, colour):
    ys, notes = [], []
    for sw in sorted(by_sw, key=lambda s: (not np.isfinite(s), s)):
        d = by_sw[sw]
        col = colour(sw)
        l, m, s, t = d["l"], d["m"], d["s"], d["t"]
        ok = np.isfinite(m) & np.isfinite(l) & ((m > 0) if obs == "q" else True)
        err = np.where(np.isfinite(s), s, 0.0)[ok]
        ax.errorbar(l[ok], m[ok], yerr=err if np.any(err > 0) else None, fmt="o", ms=3.5,
                    color=col, ecolor=col, elinewidth=1, capsize=1.5, zorder=3)
        okt = np.isfinite(t) & np.isfinite(l) & ((t > 0) if obs == "q" else True)
        if not okt.any() and ok.sum() >= 2:  # no theory: guide the eye
            ax.plot(l[ok], m[ok], "-", color=col, lw=0.8, alpha=0.45, zorder=2)
        if okt.sum() >= 2:
            ax.plot(l[okt], t[okt], "-", color=col, lw=1.6, alpha=0.9, zorder=2)
        elif okt.sum() == 1:
            ax.plot(l[okt], t[okt], "_", color=col, ms=14, mew=2, zorder=2)
        bad = np.isfinite(l) & ~np.isfinite(m)
        if bad.any():  # say where the measurement diverged / is undefined
            notes.append(f"σ_w={g(sw)}: non-finite from l={g(float(l[bad][0]))}")
        ys += [m[ok], t[okt]]
    if notes:
        note_legend(ax, notes)
    lays = np.concatenate([d["l"] for d in by_sw.values()])
    forward_axes(ax, obs, np.concatenate(ys), lays[np.isfinite(lays)])


def forward_axes(ax, obs, y, lays):
    """Scales and limits: log q when it spans more than two decades; c within [0, 1]."""
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
