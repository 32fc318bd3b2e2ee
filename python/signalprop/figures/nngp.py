"""nngp.png: every measured NNGP kernel entry h_a·h_b/N (Monte Carlo mean ± s.e.) against the
analytic kernel K^l(x_a, x_b) (Lee et al. 2018; Matthews et al. 2018), coloured by layer."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import figure, measured, observables, save


def kernel_entries(ds):
    """All nngp_<a>_<b> rows with a finite mean and theory, in the engine's order (a, b, point, layer)."""
    names = [o for o in observables(ds) if re.fullmatch(r"nngp_\d+_\d+", o)]
    names.sort(key=lambda o: tuple(int(v) for v in o.split("_")[1:]))
    names += [o for o in observables(ds) if o.startswith("nngp_") and o not in names]
    frames = [measured(ds, o) for o in names]
    if not frames:
        return pd.DataFrame(columns=["layer", "m", "s", "t"])
    rows = pd.concat(frames, ignore_index=True)
    return rows[np.isfinite(rows["m"].astype(float)) & np.isfinite(rows["t"].astype(float))]


@figure
def nngp(ds, figdir):
    """Monte Carlo kernel entries vs the analytic kernel, the line y = x, and the RMS z-score."""
    rows = kernel_entries(ds)
    if rows.empty:
        return []
    xs, ys, ls = (rows[c].to_numpy(float) for c in ("t", "m", "layer"))
    es = np.nan_to_num(rows["s"].to_numpy(float))
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    sc = ax.scatter(xs, ys, c=ls, cmap="viridis", s=12, zorder=3)
    ax.errorbar(xs, ys, yerr=es, fmt="none", ecolor="0.6", lw=0.8, zorder=2)
    lo, hi = min(xs.min(), ys.min()), max(xs.max(), ys.max())
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="Monte Carlo = theory")
    z = (ys - xs) / np.where(es > 0, es, np.nan)
    ax.set_title(f"NNGP kernel: Monte Carlo vs analytic ({len(xs)} entries, "
                 f"RMS z = {np.sqrt(np.nanmean(z ** 2)):.2f})")
    ax.set_xlabel("analytic K^l(x_a, x_b)")
    ax.set_ylabel("empirical h_a·h_b / N")
    fig.colorbar(sc, ax=ax, label="layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, figdir, "nngp.png")
