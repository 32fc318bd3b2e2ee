"""ntk_spectrum.png: the eigenvalues of the empirical one-sample neural tangent kernel Θ at the
last layer (``ntk_eig`` in spectra.csv; Jacot, Gabriel & Hongler 2018), λ·ρ(λ) per unit ln λ,
one panel per grid point, with the measured mean eigenvalue and the analytic Θ^L(x, x) of the
infinite-width limit (Jacot et al. eq. 6) as vertical lines."""

from __future__ import annotations

import numpy as np

from .common import at_layer, figure, g, histogram_panels, network, save, titled


@figure
def ntk_spectrum(ds, spec, figdir):
    """Monte Carlo as filled steps, the mean eigenvalue (measured, dashed; theory, solid); the
    first MAX_PANELS points. `spec`: signalprop.spectra."""
    fig = histogram_panels(spec, "ntk_eig", lambda ax, bins: draw_ntk_panel(ds, ax, bins), extra_height=0.4)
    if fig is None:
        return []
    fig.suptitle(titled(network(ds), "eigenvalues of the empirical NTK Θ at the last layer, pooled over networks"),
                 fontsize=10)
    return save(fig, figdir, "ntk_spectrum.png")


def draw_ntk_panel(ds, ax, bins):
    lo, hi = bins["bin_lo"].to_numpy(float), bins["bin_hi"].to_numpy(float)
    y = bins["density"].to_numpy(float) * (hi - lo) / np.log(hi / lo)
    ax.stairs(np.nan_to_num(y), np.append(lo, hi[-1]), fill=True, alpha=0.35, color="C0", label="Monte Carlo")
    m = bins.iloc[0]
    point = {k: m[k] for k in ("width", "depth", "sigma_w", "sigma_b", "activation", "init", "architecture")}
    layer = int(m["layer"])
    shown = list(lo[np.nan_to_num(y) > 0]) + list(hi[np.nan_to_num(y) > 0])
    for name, style, label in (("ntk_mean", ("C0", "--"), "mean (Monte Carlo)"),
                               ("ntk_mean_theory", ("C3", "-"), "$\\Theta^L(x,x)$ (theory)")):
        v = at_layer(ds, name, point, layer)
        if np.isfinite(v) and v > 0:
            ax.axvline(v, color=style[0], ls=style[1], lw=1.4, label=label)
            shown.append(v)
    ax.set_xscale("log")
    if shown:
        ax.set_xlim(min(shown) / 2, max(shown) * 2)
    ax.set_title(f"{m['activation']}, σ_w={g(float(m['sigma_w']))}, σ_b={g(float(m['sigma_b']))}, "
                 f"N={g(m['width'])}, L={layer}, {m['init']} init", fontsize=9)
    ax.set_xlabel("eigenvalue λ of Θ")
    ax.set_ylabel("λ·ρ(λ)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
