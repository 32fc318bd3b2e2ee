"""What the figure modules share: the house style, labels and titles, and the few ways they
look at a Dataset from ``signalprop.load`` (one point's curve, a table of points)."""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.lines import Line2D

from ..reader import GRID_AXES

DPI = 130
MAX_COLS = 4
MAX_PANELS = 16          # panels per figure; more go to further pages
MAX_LEGEND = 7           # more sigma_w values than this: colour bar instead of legend
STYLE = {
    "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
    "legend.fontsize": 8, "xtick.labelsize": 9, "ytick.labelsize": 9,
}
INIT_STYLE = {"gaussian": ("C0", "o", "-"), "orthogonal": ("C3", "s", "--")}
GRID = list(GRID_AXES)


def figure(draw):
    """Decorator: run a figure function inside the house style (rcParams), not changing the caller's."""
    @functools.wraps(draw)
    def styled(*args, **kwargs):
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)
    return styled


def log_log(ax, xlabel, ylabel, title):
    """A log-log panel's axes, grid and legend."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def save(fig, figdir, name, tight=True):
    """Lay out (unless told not to), write FIGDIR/NAME at DPI, close; the path in a list."""
    if tight:
        fig.tight_layout()
    path = os.path.join(figdir, name)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return [path]


def histogram_panels(spec, observable, draw, extra_height=0.0):
    """One panel per grid point holding `observable`'s histogram in spectra.csv (its finite
    bins, the first MAX_PANELS points), each drawn by draw(ax, bins); the figure, or None
    when there are no rows."""
    rows = spec[spec["observable"].str.strip() == observable]
    rows = rows[(rows["bin_lo"] > 0) & np.isfinite(rows["bin_hi"])]
    points = [bins for _, bins in rows.groupby("point", sort=False)][:MAX_PANELS]
    if not points:
        return None
    cols = min(MAX_COLS, len(points))
    nrows = math.ceil(len(points) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.6 * nrows + extra_height), squeeze=False)
    for ax, bins in zip(axes.flat, points):
        draw(ax, bins)
    for ax in list(axes.flat)[len(points):]:
        ax.set_visible(False)
    return fig


def page_name(stem, page):
    """'stem.png' for the first page, 'stem_p2.png', … for the others."""
    return stem + (f"_p{page + 1}" if page else "") + ".png"


def g(x):
    """Compact number for labels."""
    if isinstance(x, (numbers.Real, np.number)) and not isinstance(x, (bool, np.bool_)):
        return f"{float(x):g}"
    return str(x)


def num_key(x):
    """A sort key for numbers that puts NaN last."""
    return x if np.isfinite(x) else math.inf


def combo_title(act, sb, width, init, arch="feedforward"):
    head = "" if arch == "feedforward" else f"{arch}: "
    return f"{head}{act}, σ_b={g(sb)}, N={g(width)}, {init} init"


def point_label(d, with_depth=False):
    s = f"{d['activation']}, σ_w={g(d['sigma_w'])}, σ_b={g(d['sigma_b'])}, N={g(d['width'])}"
    return s + (f", L={g(d['depth'])}" if with_depth else "")


def point_name(d, vary):
    """A legend label naming only the parameters that vary between the curves."""
    named = {"architecture": lambda: d["architecture"], "activation": lambda: d["activation"],
             "width": lambda: f"N={g(d['width'])}", "sigma_w": lambda: f"σ_w={g(d['sigma_w'])}",
             "sigma_b": lambda: f"σ_b={g(d['sigma_b'])}", "init": lambda: init_name(d["init"]),
             "depth": lambda: f"L={g(d['depth'])}"}
    return ", ".join(named[k]() for k in named if k in vary) or d["activation"]


def varying(table):
    """The grid axes on which the points (rows of a frame) differ."""
    keys = ("architecture", "activation", "width", "sigma_w", "sigma_b", "init", "depth")
    return {k for k in keys if table[k].astype(str).nunique() > 1}


def init_style(init):
    """(colour, marker, line style) of an initialisation."""
    return INIT_STYLE.get(init.lower(), ("C2", "^", ":"))


def init_name(init):
    return {"gaussian": "Gaussian"}.get(init.lower(), init)


def init_order(init):
    """Sort key: Gaussian and orthogonal first, then the others by name."""
    return (init.lower() not in INIT_STYLE, init)


def dark(colour, f=0.6):
    r, gg, b = mcolors.to_rgb(colour)
    return (r * f, gg * f, b * f)


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


def wrap(text, fig, fontsize=10):
    """Wrap each line of a suptitle to the figure's width."""
    width = max(40, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))
    # never break inside $...$ (mathtext): hide its spaces from textwrap
    parts = text.split("$")
    text = "$".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))
    lines = (textwrap.fill(line, width, break_on_hyphens=False) for line in text.split("\n"))
    return "\n".join(lines).replace("\0", " ")


def note_legend(ax, notes, loc="best", fontsize=7):
    """Notes as a handle-less legend (so that loc="best" keeps them off the data)."""
    ax.legend(handles=[Line2D([], [], ls="none", label=t) for t in notes], loc=loc,
              handlelength=0, handletextpad=0, fontsize=fontsize, framealpha=0.8)


# ---------------------------------------------------------------- the campaign's network

def network(ds):
    """The manifest's ``config.network`` ({} when absent)."""
    net = (json.loads(ds.attrs.get("config") or "{}") or {}).get("network") or {}
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


def titled(net, text):
    """'NET TITLE: text', or the text alone without a network."""
    nt = net_title(net)
    return f"{nt + ': ' if nt else ''}{text}"


def depth_matters(net):
    """Residual nets with weight variance σ_w²/(N·L): layer l of a net depends on its depth L."""
    return is_residual(net) and net.get("weight_scaling", "width*depth") == "width*depth"


# ---------------------------------------------------------------- reading the Dataset

_STATS = {"": "m", "_stderr": "s", "_theory": "t", "_n": "count"}


def observables(ds):
    """The observables of layers.csv in the Dataset (those with a mean, stderr, n and theory)."""
    return [v for v in ds.data_vars if all(f"{v}{suffix}" in ds for suffix in _STATS)]


def measured(ds, obs):
    """One row per measured (grid point, layer) of `obs`, in the engine's order: the grid axes,
    ``layer`` and the statistics ``m`` (mean), ``s`` (stderr), ``t`` (theory), ``count`` (n)."""
    if obs not in ds:
        return pd.DataFrame(columns=GRID + ["layer"] + list(_STATS.values()))
    names = {obs + suffix: short for suffix, short in _STATS.items()}
    frame = ds[list(names)].to_dataframe(dim_order=GRID + ["layer"]).rename(columns=names)
    return frame.dropna(how="all").reset_index()


def point_table(ds, obs):
    """One row per grid point that measured `obs` (engine's order): the grid axes, ``rows`` (how
    many layers), ``last`` (the deepest measured layer) and ``m``, ``s``, ``t``, ``count`` there."""
    rows = measured(ds, obs)
    rows["rows"] = rows.groupby(GRID, sort=False, dropna=False)["layer"].transform("size")
    last = rows.groupby(GRID, sort=False, dropna=False).tail(1)
    return last.rename(columns={"layer": "last"}).reset_index(drop=True)


def coords(point):
    """The grid coordinates of a point (a row of a point table, or a dict)."""
    return {a: point[a] for a in GRID}


def curve(ds, obs, point):
    """One point's `obs` over the layers it measured: dict of the grid axes and the arrays
    ``l`` (layer), ``m``, ``s``, ``t``, ``count``; None when the point did not measure it."""
    if obs not in ds:
        return None
    names = {obs + suffix: short for suffix, short in _STATS.items()}
    cut = ds[list(names)].sel(coords(point)).dropna("layer", how="all")
    if not cut.sizes["layer"]:
        return None
    out = coords(point)
    out["l"] = cut["layer"].values.astype(float)
    out.update({short: cut[name].values.astype(float) for name, short in names.items()})
    return out


def at_layer(ds, obs, point, layer):
    """`obs` (a Dataset variable, e.g. ``jac_m1`` or ``jac_m1_theory``) of a point at a layer; NaN
    where it was not measured."""
    if obs not in ds or layer not in ds["layer"].values:
        return math.nan
    try:
        return float(ds[obs].sel(coords(point)).sel(layer=int(layer)))
    except KeyError:    # a point the Dataset does not hold
        return math.nan
