"""The figures of a campaign output folder, drawn from ``signalprop.load`` / ``points`` /
``spectra`` (one module per family; ``scripts/plot.py`` is the command line):

- forward: forward_q.png, forward_c.png (Poole et al. 2016)
- conv: conv_depth.png, conv_spatial.png (Xiao et al. 2018)
- phase: phase_diagram.png, phase_scales.png (from phase_diagram.csv), chi1.png
- spectra: spectra.png (Pennington et al. 2017; Tarnowski et al. 2019)
- jacobian: jacobian_moments.png
- lyapunov: lyapunov.png, lyapunov_sigma_w.png
- representations: representations.png, orth_gap_width.png (Daneshmand et al. 2021; Labatie 2019)
- nngp: nngp.png
- ntk: ntk_spectrum.png (Jacot, Gabriel & Hongler 2018)
- gram_spectrum: gram_spectrum.png (Louart, Liao & Couillet 2018)
- finite_width: finite_width.png
- fluctuations: fluctuations.png, fluctuations_width.png, fluctuations_distribution.png (Hanin & Nica 2019;
  Roberts, Yaida & Hanin 2022)
- scaling: scaling.png (from scripts/validate-plan's scaling.csv)

Each figure function takes the Dataset (or a frame) and the figure folder, and returns the
paths it wrote (an empty list when the data hold nothing for it).

    >>> import signalprop.figures as figures
    >>> figures.render("out/quickstart")           # → out/quickstart/figures/*.png
"""

from __future__ import annotations

import os
import sys

from ..reader import load, points, spectra as read_spectra
from .conv import conv_depth, conv_spatial
from .finite_width import finite_width
from .fluctuations import fluctuations
from .forward import forward
from .gram_spectrum import gram_spectrum
from .jacobian import jacobian_moments
from .lyapunov import lyapunov, lyapunov_sigma_w
from .nngp import nngp
from .ntk import ntk_spectrum
from .phase import chi1, phase_diagram, phase_scales, phase_table
from .representations import orth_gap_width, representations
from .scaling import scaling, scaling_table
from .spectra import spectra

__all__ = ["chi1", "conv_depth", "conv_spatial", "finite_width", "fluctuations", "forward", "gram_spectrum", "jacobian_moments", "lyapunov", "lyapunov_sigma_w",
           "nngp", "ntk_spectrum", "orth_gap_width", "phase_diagram", "phase_scales", "phase_table", "render",
           "representations", "scaling", "scaling_table", "spectra", "INPUTS"]

#: The files of an output folder that figures are drawn from.
INPUTS = ("layers.csv", "phase_diagram.csv", "spectra.csv", "scaling.csv")


def render(out, figdir=None, prog="signalprop.figures"):
    """Every figure the folder's tables allow, into `figdir` (default OUT/figures); the paths
    written. A campaign's tables are read through signalprop.load (so an unfinished run is
    refused); phase_diagram.csv and scaling.csv may also stand alone."""
    figdir = figdir or os.path.join(out, "figures")
    os.makedirs(figdir, exist_ok=True)

    def has(name):
        return os.path.isfile(os.path.join(out, name))
    written = []
    ds = load(out) if has("layers.csv") else None
    if ds is not None:
        if not any(f"{v}_n" in ds for v in ds.data_vars):
            print(f"{prog}: {os.path.join(out, 'layers.csv')} has no rows to plot", file=sys.stderr)
        for obs in ("q", "c"):
            written += forward(ds, obs, figdir)
        spec = read_spectra(out)
        if spec is not None:
            written += spectra(ds, spec, figdir)
            written += gram_spectrum(spec, figdir)
            written += ntk_spectrum(ds, spec, figdir)
        for draw in (jacobian_moments, lyapunov, representations, orth_gap_width, nngp, finite_width, fluctuations, conv_depth, conv_spatial):
            written += draw(ds, figdir)
    if has("phase_diagram.csv"):
        table = phase_table(os.path.join(out, "phase_diagram.csv"))
        if table is None:
            print(f"{prog}: {os.path.join(out, 'phase_diagram.csv')} is empty; no phase diagram", file=sys.stderr)
        else:
            written += phase_diagram(table, figdir)
            written += phase_scales(table, figdir)
    if ds is not None and has("points.csv"):
        written += chi1(ds, points(out), figdir)
    if has("scaling.csv"):
        written += scaling(scaling_table(os.path.join(out, "scaling.csv")), figdir)
    return written
