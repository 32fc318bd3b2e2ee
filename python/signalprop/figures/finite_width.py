"""finite_width.png: with ≥ 3 widths of otherwise equal points, the mean squared deviation of
one network's q^L and c^L from mean-field theory at the last layer against N (log-log, with
the fitted slope; finite-width corrections give −1)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .common import GRID, figure, g, measured, point_table, save

#: What the points of one line share: all but the width.
SAME = ["architecture", "activation", "init", "sigma_w", "sigma_b", "depth"]


def width_groups(ds, obs):
    """[(key, rows)]: the points of each SAME-group with ≥ 3 widths, by width, each with its
    statistics at the last layer (``m``, ``s``, ``t``, ``count``; NaN where not measured there)."""
    rows = measured(ds, obs)
    last = rows[rows["layer"] == rows["depth"]].drop(columns="layer")
    points = point_table(ds, obs)[GRID].merge(last, on=GRID, how="left")
    out = []
    for key, group in points.groupby([points[c].map(g) for c in SAME], sort=False):
        if group["width"].nunique() >= 3:
            out.append((key, group.sort_values("width", kind="stable")))
    return out


def msd(group):
    """Widths and E[(x − x_MF)²] = n·se² + (mean − x_MF)² where both are finite and positive."""
    ok = np.isfinite(group[["m", "s", "t", "count"]].to_numpy(float)).all(axis=1)
    n = group["width"].to_numpy(float)[ok]
    m, se, t, samples = (group[c].to_numpy(float)[ok] for c in ("m", "s", "t", "count"))
    dev = samples * se * se + (m - t) ** 2
    keep = (n > 0) & (dev > 0)
    return n[keep], dev[keep]


@figure
def finite_width(ds, figdir):
    """One panel per observable (q, c), one line per group with its least-squares slope and a
    1/N guide."""
    groups = {obs: width_groups(ds, obs) for obs in ("q", "c")}
    obs_list = [o for o in ("q", "c") if groups[o]]
    if not obs_list:
        return []
    fig, axes = plt.subplots(1, len(obs_list), figsize=(5.4 * len(obs_list), 4.4), squeeze=False)
    for ax, obs in zip(axes[0], obs_list):
        for i, (key, group) in enumerate(groups[obs]):
            n, dev = msd(group)
            if len(n) < 3:
                continue
            slope = np.polyfit(np.log(n), np.log(dev), 1)[0]
            ax.plot(n, dev, "o-", color=f"C{i % 10}",
                    label=f"{key[1]}, σ_w={key[3]}, σ_b={key[4]}, L={key[5]}: slope {slope:+.2f}")
            ax.plot(n, dev[0] * n[0] / n, ":", color="0.5")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width N")
        ax.set_ylabel(f"E[({obs}^L − {obs}_MF)²] per network")
        ax.set_title(f"{obs}: finite-width deviation from mean-field theory (dotted: ∝ 1/N)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return save(fig, figdir, "finite_width.png")
