"""jacobian_moments.png: m1, m2, mean ln λ and the largest / smallest λ of the Jacobian's
squared singular values vs layer (or vs σ_w when each point is measured at one layer),
Monte Carlo mean ± s.e. against free-probability theory (Pennington et al. 2017, 2018)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter, NullLocator

from .common import (GRID, MAX_LEGEND, curve, depth_matters, figure, g, init_name, init_order, init_style,
                     network, note_legend, num_key, page_name, point_table, save, sw_colours, titled, wrap)

JAC_PANELS = [("jac_m1", "$m_1$ = mean λ", True), ("jac_m2", "$m_2$ = mean λ²", True),
              ("jac_meanlog", "mean ln λ", False), ("extremes", "largest / smallest λ", True)]


def moment_rows(ds, net):
    """[(row key, points)]: one row per (activation, σ_b, width[, depth]), sorted; its points one
    per (σ_w, init), of several depths the deepest."""
    key = ["activation", "sigma_b", "width"] + (["depth"] if depth_matters(net) else [])
    table = point_table(ds, "jac_m1")
    deepest = (table.sort_values("depth", ascending=False, kind="stable")
               .drop_duplicates(key + ["sigma_w", "init"]).sort_index())
    return list(deepest.groupby(key, sort=True, dropna=False))


class Look:
    """What the pages share: σ_w colours, initialisations, x axis (layer or σ_w), colour scheme."""

    def __init__(self, rows):
        points = [p for _, group in rows for _, p in group.iterrows()]
        self.sws, self.cmap, self.norm, self.colour = sw_colours([p["sigma_w"] for p in points])
        self.inits = sorted({p["init"] for p in points}, key=init_order)
        # every point measured at a single layer and several σ_w: plot against σ_w instead of depth
        self.by_sw = (all(p["rows"] == 1 for p in points)
                      and any(group["sigma_w"].nunique() > 1 for _, group in rows))
        self.lays_used = sorted({float(p["last"]) for p in points}) if self.by_sw else []
        self.by_init = self.by_sw or len(self.sws) <= 1   # colour by init (σ_w on the x axis, or fixed)
        self.use_cbar = len(self.sws) > MAX_LEGEND and not self.by_init


def moment_series(ds, obs, group, by_sw):
    """[(x, mean, stderr, theory, key)] for one panel.  Depth mode: one series per point
    against the layer, key (σ_w, init).  σ_w mode (each point measured at one layer): one
    series per (initialisation, layer) against σ_w, key (init, layer)."""
    if not by_sw:
        out = []
        for _, p in group.assign(_sw=group["sigma_w"].map(num_key)).sort_values(["_sw", "init"]).iterrows():
            d = curve(ds, obs, p)
            if d is not None:
                out.append((d["l"], d["m"], d["s"], d["t"], (p["sigma_w"], p["init"])))
        return out
    table = point_table(ds, obs).merge(group[GRID], on=GRID)
    table["other"] = ~table["init"].str.lower().isin(["gaussian", "orthogonal"])
    out = []
    for (_, init, lay), rows in table.groupby(["other", "init", "last"], sort=True):
        rows = rows.sort_values("sigma_w", key=lambda s: s.map(num_key), kind="stable")
        out.append(tuple(rows[c].to_numpy(float) for c in ("sigma_w", "m", "s", "t")) + ((init, float(lay)),))
    return out


@figure
def jacobian_moments(ds, figdir, max_rows=5):
    """jacobian_moments.png (and _p2, …, `max_rows` rows a page): one row per (activation, σ_b,
    width), one panel per moment; colour by σ_w, or by initialisation where σ_w is on the x axis
    or fixed."""
    if "jac_m1" not in ds:
        return []
    net = network(ds)
    rows = moment_rows(ds, net)
    if not rows:
        return []
    panels = [p for p in JAC_PANELS if (p[0] == "extremes" and ("jac_max" in ds or "jac_min" in ds))
              or p[0] in ds]
    look = Look(rows)
    written = []
    for pi in range(math.ceil(len(rows) / max_rows)):
        fig = moments_page(ds, rows[pi * max_rows:(pi + 1) * max_rows], panels, look, net)
        written += save(fig, figdir, page_name("jacobian_moments", pi), tight=False)
    return written


def moments_page(ds, page, panels, look, net):
    nrow, ncol = len(page), len(panels)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol + (1.0 if look.use_cbar else 0), 3.0 * nrow + 1.4),
                             squeeze=False)
    has_theory = False
    for r, (_, group) in enumerate(page):
        d0 = group.iloc[0]
        title = (f"{d0['activation']}, σ_b={g(d0['sigma_b'])}, N={g(d0['width'])}"
                 + (f", L={g(d0['depth'])}" if depth_matters(net) else ""))
        for j, (obs, ylab, logy) in enumerate(panels):
            ax = axes[r, j]
            has_theory |= draw_moment_panel(ds, ax, obs, logy, group, look)
            ax.set_title(f"{title}\n{ylab}", fontsize=8.5)
            if r == nrow - 1:
                ax.set_xlabel("σ_w" if look.by_sw else "layer l")
    how = ("markers: Monte Carlo (mean ± s.e. over networks), lines: free-probability theory"
           if has_theory else "Monte Carlo (mean ± s.e. over networks); no theory given")
    what = ("vs σ_w at layer " + ", ".join(g(v) for v in look.lays_used)) if look.by_sw else "vs depth"
    if look.by_init and not look.by_sw and look.sws:
        what += f" (σ_w = {g(look.sws[0])})"
    head = f"moments of the Jacobian's squared singular values λ {what}"
    fig.suptitle(wrap(titled(net, f"{head}\n{how}"), fig), fontsize=10)
    moments_legend(fig, look, any(p[0] == "extremes" for p in panels), ncol)
    return fig


def moments_legend(fig, look, extremes, ncol):
    """σ_w colours (or a colour bar), the initialisations' markers and the extremes' triangles, below."""
    hs = [] if look.use_cbar or look.by_init else [Line2D([], [], color=look.colour(s), lw=1.6, label=f"σ_w={g(s)}")
                                                   for s in look.sws]
    for i in look.inits:
        c, mk, ls = init_style(i)
        c = c if look.by_init else "0.3"
        hs.append(Line2D([], [], color=c, marker=mk, ls=ls, mfc=c if i.lower() != "orthogonal" else "none",
                         label=f"{init_name(i)} init"))
    if extremes:
        hs += [Line2D([], [], color="0.3", marker="^", ls="none", label="max λ"),
               Line2D([], [], color="0.3", marker="v", ls="none", label="min λ")]
    per_row = min(len(hs), 2 * ncol + 1, 9)
    bottom = (0.25 + 0.22 * math.ceil(len(hs) / per_row)) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 0.93 if look.use_cbar else 1, 1))
    fig.legend(handles=hs, loc="lower center", ncol=per_row, frameon=False)
    if look.use_cbar:
        cax = fig.add_axes((0.945, 0.2, 0.015, 0.6))
        fig.colorbar(plt.cm.ScalarMappable(norm=look.norm, cmap=look.cmap), cax=cax, label="σ_w")


def draw_moment_panel(ds, ax, obs, logy, group, look):
    """One moment (or the extremes: max ▲ and min ▼) of one row's points; whether theory was drawn."""
    ys, xs, notes = [], [], []
    has_theory = False
    subs = [("jac_max", "^"), ("jac_min", "v")] if obs == "extremes" else [(obs, None)]
    for o, marker in subs:
        for x, m, s, t, sk in moment_series(ds, o, group, look.by_sw):
            init = sk[0] if look.by_sw else sk[1]
            col = init_style(init)[0] if look.by_init else look.colour(sk[0])
            ok, okt = draw_moment_series(ax, x, m, s, t, init, col, marker, logy)
            has_theory |= bool(okt.any())
            ys += [m[ok], t[okt]]
            xs.append(x[np.isfinite(x)])
            bad = np.isfinite(x) & ~np.isfinite(m)
            if bad.any():       # diverged / undefined there: say so
                who = f"{init_name(init)}" if look.by_init else f"σ_w={g(sk[0])}, {init_name(init)}"
                what = "diverged (∞)" if np.isinf(m[bad]).any() else "undefined"
                notes.append(f"{who}{' ' + o[4:] if obs == 'extremes' else ''}: {what} at "
                             f"{'σ_w' if look.by_sw else 'l'}={', '.join(g(float(v)) for v in x[bad][:4])}")
    if notes:
        note_legend(ax, notes[:4], fontsize=6.5)
    y = np.concatenate(ys) if ys else np.array([])
    moment_axes(ax, obs, logy, y[np.isfinite(y)], np.unique(np.concatenate(xs)) if xs else np.array([]), look)
    return has_theory


def draw_moment_series(ax, x, m, s, t, init, col, marker, logy):
    """Monte Carlo markers ± s.e., the theory line (or a thin guide without theory); the masks."""
    _, mk, ls = init_style(init)
    ok = np.isfinite(x) & np.isfinite(m) & ((m > 0) if logy else True)
    err = np.where(np.isfinite(s), s, 0.0)[ok]
    if logy:    # an error bar must not reach below 0 on a log axis
        err = np.minimum(err, 0.999 * m[ok])
    ax.errorbar(x[ok], m[ok], yerr=err if np.any(err > 0) else None, fmt=marker or mk, ms=4,
                color=col, mfc=col if init.lower() != "orthogonal" else "none",
                ecolor=col, elinewidth=1, capsize=1.5, zorder=3)
    okt = np.isfinite(x) & np.isfinite(t) & ((t > 0) if logy else True)
    if okt.sum() >= 2:
        ax.plot(x[okt], t[okt], ls=ls, color=col, lw=1.5, zorder=2)
    elif okt.sum() == 1:
        ax.plot(x[okt], t[okt], "_", color=col, ms=14, mew=2, zorder=2)
    elif ok.sum() >= 2:     # no theory: thin guide
        ax.plot(x[ok], m[ok], ls=ls, color=col, lw=0.7, alpha=0.45, zorder=2)
    return ok, okt


def moment_axes(ax, obs, logy, y, la, look):
    """Log y over more than a decade (decades only labelled beyond two), the isometry line at 1,
    and x ticks: σ_w, the few measured layers, or integer layers."""
    if logy and y.size and y.min() > 0 and y.max() / y.min() > 10:
        ax.set_yscale("log")
        if y.max() / y.min() > 100:     # enough decades: label the decades only
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:                           # one or two decades: a few plain numbers
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "235" else ""))
    if obs in ("jac_m1", "jac_m2") and y.size and y.min() < 1 < y.max():
        ax.axhline(1.0, color="0.6", lw=0.8, ls=":", zorder=1)   # isometry
    if la.size == 1 and not look.by_sw:
        ax.set_xlim(la[0] - 1, la[0] + 1)
    if look.by_sw:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    elif 0 < la.size <= 8:     # few measured layers: tick exactly those
        ax.set_xticks(la, [g(float(v)) for v in la])
        ax.xaxis.set_minor_locator(NullLocator())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.25)
