"""conv_depth.png: convolutional nets (architecture "conv") against depth on a log axis, for
the deep signal propagation of Xiao et al. (2018): q^l and c^l of every conv grid point, Monte
Carlo mean ± s.e. as a band, mean-field theory as a line, one colour per point (Gaussian and
delta-orthogonal kernels side by side)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .common import curve, figure, g, point_table, save


def conv_points(ds, obs):
    """The point table of `obs` restricted to conv nets."""
    table = point_table(ds, obs)
    return table[table["architecture"] == "conv"]


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
