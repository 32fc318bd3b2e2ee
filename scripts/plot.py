#!/usr/bin/env python3
"""Figures for a `signalprop sweep` / `signalprop phase-diagram` output folder.

Usage:  python3 scripts/plot.py OUTDIR [--out FIGDIR]      (FIGDIR = OUTDIR/figures)

The drawing lives in the Python package (python/signalprop/figures/, one module per figure
family); this is its command line. A campaign's tables are read with `signalprop.load`,
`signalprop.points` and `signalprop.spectra` (python/signalprop/reader.py), which refuse a run
that did not finish (no manifest.json) with how to resume it:
  layers.csv         point,width,depth,sigma_w,sigma_b,activation,init,
                     architecture,layer,observable,mean,stderr,n,theory
                     (observables `q`, `c`, `jac_m1`, `jac_m2`, `jac_meanlog`,
                     `jac_max`, `jac_min`, `jac_floor_frac`, `lyap_<k>`, `lyap_gap`,
                     `orth_gap`, `eff_rank`, `gram_min_eig`, `stable_rank`, `sensitivity`,
                     `traj_length`,
                     `nngp_<a>_<b>` are plotted, others ignored)
  spectra.csv        point,width,depth,sigma_w,sigma_b,activation,init,architecture,layer,
                     observable,bin_lo,bin_hi,density,count,theory,theory_limit
                     (observables `jac_sv2`, `gram_eig`, `ntk_eig`; density and theory
                     per unit λ, averaged over the bin; theory_limit the depth → ∞ law)
  points.csv         point,width,depth,sigma_w,sigma_b,activation,init,architecture,
                     q_star,c_star,chi1,xi_q,xi_c,phase,status,...
  manifest.json      config.network (architecture, residual_scale, weight_scaling)
                     for the titles
and beside them, read with pandas (CSV with header; an empty field means undefined):
  phase_diagram.csv  activation,sigma_w,sigma_b,q_star,c_star,chi1,xi_q,xi_c,phase,
                     layers_to_1pct
  scaling.csv        campaign,repeat,ranks,threads,predicted_wall,efficiency,measured_wall
                     (from scripts/validate-plan)

Writes (and prints the paths of):
  forward_q.png, forward_c.png  q^l and c^l vs layer, one panel per
      (activation, sigma_b, width, init), one colour per sigma_w; Monte Carlo
      mean +- stderr as points, mean-field theory as lines (Poole et al. 2016,
      Figs. 1B / 2B).  More than 16 panels are split over forward_q_p2.png, ...
  conv_depth.png     convolutional nets: q^l and c^l vs layer on a log axis, Monte Carlo
      band (mean ± s.e.) and mean-field theory per grid point (Xiao et al. 2018).
  fluctuations.png   with theory_sd: the standard deviation across networks of q and c vs
      layer, measured and predicted (leading order in 1/N), and the mean's deviation from
      mean field beside theory_1n (Hanin & Nica 2019; Roberts, Yaida & Hanin 2022); with
      ≥ 3 widths fluctuations_width.png, that deviation at the last layer vs N (log-log)
      beside the 1/N theory, and the deviation from theory_1n (O(1/N²)), with fitted
      slopes; with per_network fluctuations_distribution.png, log q (and c)
      across networks at the last layer with the theory's (log-)normal law.
  conv_spatial.png   convolutional nets' spatial structure vs layer, one panel per grid
      point: the correlation between positions at each offset (1-D) or the power share of
      the lowest Fourier modes (2-D), Monte Carlo band and theory dashed.
  phase_diagram.png  per activation: xi_c heat map over (sigma_w, sigma_b) with
      the critical line chi1 = 1, and the fixed point c* (Poole et al. Fig. 2C/D,
      Schoenholz et al. 2017 Fig. 1).
  phase_scales.png   per activation: q* and the layers until q^l is within 1 % of q*
      over (sigma_w, sigma_b) (Poole et al. Fig. 1C/D), and xi_q, xi_c against
      sigma_w at a few sigma_b through the critical point (Schoenholz et al. Fig. 1).
  chi1.png           if points.csv has several sigma_w and a finite chi1: chi1 and
      the last-layer correlation (measured vs c*) against sigma_w.
  spectra.png        the Jacobian's squared singular values: λ·ρ(λ) (density per
      unit ln λ) on a log λ axis, Monte Carlo as steps, theory as lines.
      Feedforward: one row per (activation, sigma_w, sigma_b, width), the measured
      layers across, Gaussian and orthogonal init overlaid (Pennington et al.
      2017).  Residual: one row per (width, depth, sigma_b, init), every
      (activation, sigma_w) overlaid and labelled with Tarnowski et al.'s c, their
      L → ∞ universal law dotted (theory_limit).  Sparse
      histograms are shown with adjacent bins merged (said in the panel), as is the
      share of λ outside the bins or below the float floor.  Pages: spectra_p2.png...
  jacobian_moments.png  m1, m2, mean ln λ and the largest / smallest λ vs layer
      (or vs sigma_w when each point is measured at one layer), Monte Carlo
      mean +- stderr against theory lines.
  lyapunov.png       λ_k vs k per point (at most 8 panels; an even spread of the
      points when there are more, then also lyapunov_sigma_w.png with λ1 and
      λ1 − λ2 vs sigma_w), against Newman's curve or ½⟨ln χ^l⟩ for λ1.

  representations.png  orth_gap, eff_rank, gram_min_eig, stable_rank, sensitivity,
      traj_length vs layer (Monte Carlo mean +- stderr, infinite-width theory dashed
      where it exists), three panels a row.
  orth_gap_width.png  with several widths: the gap at the last layer vs width,
      log-log, with fitted slopes (Daneshmand et al. 2021: -1/2 with BN).
  nngp.png           every nngp_a_b entry, Monte Carlo vs the analytic kernel.
  finite_width.png   with ≥ 3 widths of otherwise equal points: the mean squared deviation
      of one network's q and c from mean-field theory at the last layer vs N (log-log,
      fitted slope; finite-width corrections give −1).
  gram_spectrum.png  with gram_spectrum: eigenvalues of the first layer's feature Gram
      FᵀF/B against the deterministic equivalent (Louart, Liao & Couillet 2018).
  ntk_spectrum.png   with ntk = { bins, range }: eigenvalues of the empirical NTK at
      the last layer, with the measured mean and the analytic Θ^L(x, x).
  scaling.png        with scaling.csv: `signalprop plan`'s predicted parallel efficiency
      vs ranks P, and its predicted wall against real runs' (y = x, ±15 %).

Needs numpy, pandas, xarray and matplotlib (drawn with the Agg backend).
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
# this checkout's package, also when it is not installed
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from signalprop import CampaignOutputError  # noqa: E402
from signalprop.figures import INPUTS, render  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", help="output folder of `signalprop sweep` / `phase-diagram`")
    ap.add_argument("--out", help="figure folder (default OUTDIR/figures)")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.outdir):
        sys.exit(f"plot.py: {a.outdir} is not a folder")
    if not any(os.path.isfile(os.path.join(a.outdir, name)) for name in INPUTS):
        sys.exit(f"plot.py: {a.outdir} has none of {', '.join(INPUTS)}; nothing to plot")
    try:
        written = render(a.outdir, a.out, prog="plot.py")
    except CampaignOutputError as e:
        sys.exit(f"plot.py: {e}")
    for w in written:
        print(w)
    if not written:
        sys.exit("plot.py: no figure written (tables empty?)")


if __name__ == "__main__":
    main()
