"""gram_spectrum.png: eigenvalues of the first layer's random-feature Gram matrix FᵀF/B
(``gram_eig`` in spectra.csv) against the deterministic equivalent of Louart, Liao & Couillet
(2018), λ·ρ(λ) per unit ln λ, one panel per grid point."""

from __future__ import annotations

import numpy as np

from .common import figure, g, histogram_panels, save


@figure
def gram_spectrum(spec, figdir):
    """Monte Carlo as filled steps, the deterministic equivalent as a line; the first
    MAX_PANELS points. `spec`: signalprop.spectra."""
    fig = histogram_panels(spec, "gram_eig", draw_gram_panel)
    if fig is None:
        return []
    fig.suptitle("Random-feature Gram spectrum, F = φ(W X + b) (Louart, Liao & Couillet 2018)", fontsize=10)
    return save(fig, figdir, "gram_spectrum.png")


def draw_gram_panel(ax, bins):
    lo, hi = bins["bin_lo"].to_numpy(float), bins["bin_hi"].to_numpy(float)
    w = (hi - lo) / np.log(hi / lo)
    theory = bins["theory"] if "theory" in bins else np.nan
    y, t = bins["density"].to_numpy(float) * w, np.asarray(theory, float) * w
    ax.stairs(np.nan_to_num(y), np.append(lo, hi[-1]), fill=True, alpha=0.35, color="C0", label="Monte Carlo")
    ok = np.isfinite(t)
    if ok.any():
        ax.plot(np.sqrt(lo * hi)[ok], t[ok], "-", color="C3", lw=1.6, label="deterministic equivalent")
    ax.set_xscale("log")
    m = bins.iloc[0]
    ax.set_title(f"{m['activation']}, σ_w={g(float(m['sigma_w']))}, σ_b={g(float(m['sigma_b']))}, N={m['width']}")
    ax.set_xlabel("eigenvalue λ of FᵀF/B")
    ax.set_ylabel("λ·ρ(λ)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
