"""conv_depth.png: convolutional nets (architecture "conv") against depth on a log axis, for
the deep signal propagation of Xiao et al. (2018): q^l and c^l of every conv grid point, Monte
Carlo mean ± s.e. as a band, mean-field theory as a line, one colour per point (Gaussian and
delta-orthogonal kernels side by side)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np

from .common import curve, figure, g, point_table, save


def conv_points(ds, obs):
    """The point table of `obs` restricted to conv nets (every conv family)."""
    table = point_table(ds, obs)
    return table[table["architecture"].astype(str).str.startswith("conv")]


@figure
def conv_depth(ds, figdir):
    """One panel per observable (q, c); one line per conv grid point."""
    tables = {obs: conv_points(ds, obs) for obs in ("q", "c")}
    obs_list = [o for o in ("q", "c") if len(tables[o])]
    if not obs_list:
        return []
    fig, axes = plt.subplots(1, len(obs_list), figsize=(6.2 * len(obs_list), 4.6), squeeze=False)
    for ax, obs in zip(axes[0], obs_list):
        for i, (_, p) in enumerate(tables[obs].iterrows()):
            c = curve(ds, obs, p)
            if c is None:
                continue
            colour = f"C{i % 10}"
            label = (f"{p['init']} kernel, {p['activation']}, σ_w={g(p['sigma_w'])}, σ_b={g(p['sigma_b'])}, "
                     f"C={g(p['width'])}")
            ax.fill_between(c["l"], c["m"] - c["s"], c["m"] + c["s"], color=colour, alpha=0.3, lw=0)
            ax.plot(c["l"], c["m"], color=colour, lw=0.6, label=f"{label}: Monte Carlo ± s.e.")
            if np.isfinite(c["t"]).any():
                ax.plot(c["l"], c["t"], "--", color="black" if i == 0 else colour, lw=1.2,
                        label=f"{p['init']}: mean-field theory")
        ax.set_xscale("log")
        ax.set_xlabel("layer l")
        ax.set_ylabel(f"{obs}^l" if obs == "q" else "c^l (between inputs, averaged over positions)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("convolutional nets vs depth (Xiao et al. 2018): Monte Carlo band, theory dashed")
    return save(fig, figdir, "conv_depth.png")


def spatial_names(ds):
    """The spatial quantities present: 1-D offsets ``spatial_c_δ`` in offset order, or 2-D
    modes ``spatial_mode_ky_kx`` ordered by |k| (lowest frequencies first)."""
    offsets = sorted((v for v in ds.data_vars if v.startswith("spatial_c_") and not v.endswith(("_stderr", "_theory", "_theory_sd", "_theory_1n", "_n"))),
                     key=lambda v: int(v.rsplit("_", 1)[1]))
    if offsets:
        return offsets
    modes = [v for v in ds.data_vars if v.startswith("spatial_mode_") and v.count("_") == 3]
    # A mode's index k_i stands for the frequency k_i or k_i − n_i (the shorter): fold by the shape.
    shape = ((json.loads(ds.attrs.get("config") or "{}") or {}).get("inputs") or {}).get("shape") or []
    axes = shape[1:] if len(shape) == 3 else None

    def frequency(v):
        ks = [int(k) for k in v.split("_")[2:]]
        return sum(min(k, n - k) ** 2 for k, n in zip(ks, axes)) if axes else sum(k * k for k in ks)
    return sorted(modes, key=frequency)


@figure
def conv_spatial(ds, figdir):
    """conv_spatial.png: the spatial structure of conv nets vs depth (log axis), one panel per
    conv grid point: in 1-D the correlation between positions at each offset δ, in 2-D the
    share of the power in the lowest spatial Fourier modes; Monte Carlo mean ± s.e. as a band,
    mean-field theory dashed (Xiao et al. 2018: a Gaussian kernel's footprint average mixes
    positions, a delta-orthogonal kernel keeps each position's own map)."""
    names = spatial_names(ds)
    if not names:
        return []
    points = conv_points(ds, names[0])
    shown = names[:6]
    n = len(points)
    if n == 0:
        return []
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.4 * rows), squeeze=False)
    for ax, (_, p) in zip(axes.flat, points.iterrows()):
        for i, name in enumerate(shown):
            c = curve(ds, name, p)
            if c is None:
                continue
            colour = f"C{i % 10}"
            label = (f"offset δ = {name.rsplit('_', 1)[1]}" if name.startswith("spatial_c_")
                     else "mode k = ({}, {})".format(*name.split("_")[2:]))
            ax.fill_between(c["l"], c["m"] - c["s"], c["m"] + c["s"], color=colour, alpha=0.3, lw=0)
            ax.plot(c["l"], c["m"], color=colour, lw=0.6, label=label)
            if np.isfinite(c["t"]).any():
                ax.plot(c["l"], c["t"], "--", color=colour, lw=1.2, label="mean-field theory (dashed)" if i == 0 else None)
        ax.set_xscale("log")
        ax.set_xlabel("layer l")
        ax.set_ylabel("correlation between positions" if shown[0].startswith("spatial_c_")
                      else "share of the power in the mode")
        ax.set_title(f"{p['init']} kernel, {p['activation']}, σ_w={g(p['sigma_w'])}, σ_b={g(p['sigma_b'])}, "
                     f"C={g(p['width'])}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best", ncol=2)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("spatial structure of conv nets vs depth (Xiao et al. 2018): Monte Carlo mean ± s.e. solid, theory dashed")
    return save(fig, figdir, "conv_spatial.png")
