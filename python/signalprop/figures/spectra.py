"""spectra.png: the squared singular values λ of the input–output Jacobian, λ·ρ(λ) (density
per unit ln λ) on a log λ axis, Monte Carlo as steps and free-probability theory as lines
(Pennington, Schoenholz & Ganguli 2017; residual nets: Tarnowski et al. 2019)."""

from __future__ import annotations

import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .common import (GRID, INIT_STYLE, MAX_COLS, MAX_PANELS, at_layer, dark, depth_matters, figure, g,
                     init_name, init_style, is_residual, network, page_name, point_label,
                     residual_scale, save, titled, wrap)

MIN_PER_BIN = 40        # merge bins for display until the average shown bin holds this many λ


def histogram(bins):
    """One histogram (rows of spectra.csv) as arrays over its finite bins, sorted: ``lo``, ``hi``,
    ``dens``, ``count``, ``t`` (theory), ``tl`` (the depth → ∞ law, ``theory_limit``), per unit
    ln λ ``y``, ``yt`` and ``ytl``, and ``below`` (the share in the tail row below the bins); None
    without a finite bin."""
    bins = bins.sort_values("bin_lo", kind="stable")
    h = {"lo": bins["bin_lo"], "hi": bins["bin_hi"], "dens": bins["density"],
         "count": bins.get("count", pd.Series(np.nan, index=bins.index)),
         "t": bins.get("theory", pd.Series(np.nan, index=bins.index)),
         "tl": bins.get("theory_limit", pd.Series(np.nan, index=bins.index))}
    h = {k: pd.to_numeric(v, errors="coerce").to_numpy(float) for k, v in h.items()}
    # the tail row [0, range low) holds the share below the bins (density × its width)
    tail = (h["lo"] == 0) & np.isfinite(h["hi"]) & np.isfinite(h["dens"])
    below = float(np.sum(h["dens"][tail] * h["hi"][tail]))
    ok = np.isfinite(h["lo"]) & np.isfinite(h["hi"]) & (h["lo"] > 0) & (h["hi"] > h["lo"])
    if not ok.any():
        return None
    h = {k: v[ok] for k, v in h.items()}
    w = (h["hi"] - h["lo"]) / np.log(h["hi"] / h["lo"])   # per unit ln λ, averaged over the bin
    return dict(h, below=below, y=h["dens"] * w, yt=h["t"] * w, ytl=h["tl"] * w)


def jacobian_spectra(spec):
    """A frame of the points with a `jac_sv2` histogram (grid axes and ``point``, in the order of
    spectra.csv) and {point: {layer: histogram}}."""
    rows = spec[spec["observable"].str.strip() == "jac_sv2"]
    hists = {}
    for point, bins in rows.groupby("point", sort=False):
        layers = {float(layer): histogram(b) for layer, b in bins.groupby("layer", sort=False)}
        layers = {layer: h for layer, h in layers.items() if h is not None and np.isfinite(layer)}
        if layers:
            hists[point] = layers
    found = rows.drop_duplicates("point")[GRID + ["point"]]
    return found[found["point"].isin(list(hists))].reset_index(drop=True), hists


def residual_c(ds, d, a):
    """Tarnowski et al.'s c = (1/L) Σ_l c_2^l, read off the first moment at the last layer:
    m1 = a^{2L} e^{c/a²} (theory where given, else Monte Carlo)."""
    if not (np.isfinite(a) and a > 0):
        return math.nan
    L = d["depth"]
    for name in ("jac_m1_theory", "jac_m1"):
        m1 = at_layer(ds, name, d, L)
        if np.isfinite(m1) and m1 > 0:
            return a * a * (math.log(m1) - 2 * L * math.log(a))
    return math.nan


def residual_rows(ds, found, net):
    """One row per (width, depth, σ_b, init), every (activation, σ_w) overlaid (Tarnowski et al.:
    the density depends on c only), coloured by c (rounded), line style by activation; 8 a row."""
    a = residual_scale(net)
    a = 1.0 if not np.isfinite(a) else a
    found = found.assign(c=[residual_c(ds, d, a) for _, d in found.iterrows()])
    found["c_key"] = found["c"].where(np.isfinite(found["c"]), np.inf)
    found["sw_key"] = found["sigma_w"].where(np.isfinite(found["sigma_w"]), np.inf)
    acts = sorted(set(found["activation"]))
    dashes = ["-", "--", ":", "-."]
    rows = []
    for key, ds_ in found.groupby(["width", "depth", "sigma_b", "init"], sort=True, dropna=False):
        ds_ = ds_.sort_values(["c_key", "activation", "sw_key"], kind="stable")
        rounded = [float(f"{c:.2g}") if np.isfinite(c) else math.nan for c in ds_["c"]]
        colour_of = pd.factorize(pd.Series(rounded), use_na_sentinel=False)[0]
        curves = []
        for ci, (_, d) in zip(colour_of, ds_.iterrows()):
            c = d["c"]
            lab = f"{d['activation']}, σ_w={g(d['sigma_w'])}" + (f", c={c:.2g}" if np.isfinite(c) else "")
            curves.append((lab, f"C{ci % 10}", dashes[acts.index(d["activation"]) % len(dashes)], d))
        title = f"N={g(key[0])}, L={g(key[1])}, σ_b={g(key[2])}, {key[3]} init"
        rows += [(title, curves[i:i + 8]) for i in range(0, len(curves), 8)]
    return rows


def feedforward_rows(found, net):
    """One row per (activation, σ_w, σ_b, width[, depth]), initialisations overlaid; of several
    depths the deepest."""
    key = ["activation", "sigma_w", "sigma_b", "width"] + (["depth"] if depth_matters(net) else [])
    deepest = (found.sort_values("depth", ascending=False, kind="stable")
               .drop_duplicates(key + ["init"]).sort_index())
    rows = []
    for _, group in deepest.groupby(key, sort=True, dropna=False):
        lower = group["init"].str.lower()
        group = group.assign(_other=~lower.isin(list(INIT_STYLE)), _lower=lower).sort_values(["_other", "_lower"])
        curves = [(f"{init_name(d['init'])} init", init_style(d["init"])[0], "-", d) for _, d in group.iterrows()]
        rows.append((point_label(group.iloc[0], depth_matters(net)), curves))
    return rows


def pick_layers(lays, most=6):
    lays = sorted(lays)
    if len(lays) <= most:
        return lays
    idx = np.unique(np.round(np.linspace(0, len(lays) - 1, most)).astype(int))
    return [lays[i] for i in idx]


def spectra_pages(rows, hists, residual, max_rows=6):
    """Pages of panel grids: cells[r][c] = (row title, curves, layer, row legend?) or None.
    One figure row per parameter set with its layers across; when every set has a single
    layer (and the net is feedforward) the panels flow through a grid instead."""
    rows = [(t, c, pick_layers({l for cv in c for l in hists[cv[3]["point"]]})) for t, c in rows]
    if not residual and all(len(lays) == 1 for _, _, lays in rows):
        cells = [(t, c, lays[0], False) for t, c, lays in rows]
        ncol = min(MAX_COLS, len(cells))
        pages = []
        for i in range(0, len(cells), MAX_PANELS):
            chunk = cells[i:i + MAX_PANELS]
            grid = [chunk[k:k + ncol] for k in range(0, len(chunk), ncol)]
            pages.append([r + [None] * (ncol - len(r)) for r in grid])
        return pages
    pages = []
    for i in range(0, len(rows), max_rows):
        chunk = rows[i:i + max_rows]
        ncol = max(len(lays) for _, _, lays in chunk)
        pages.append([[(t, c, l, residual and j == len(lays) - 1) for j, l in enumerate(lays)]
                      + [None] * (ncol - len(lays)) for t, c, lays in chunk])
    return pages


@figure
def spectra(ds, spec, figdir):
    """spectra.png (and spectra_p2.png, …): feedforward nets one row per (activation, σ_w, σ_b,
    width), the measured layers across, Gaussian and orthogonal init overlaid; residual nets one
    row per (width, depth, σ_b, init), every (activation, σ_w) overlaid and labelled with c.
    `spec`: signalprop.spectra."""
    net = network(ds)
    found, hists = jacobian_spectra(spec)
    if found.empty:
        return []
    residual = is_residual(net)
    rows = residual_rows(ds, found, net) if residual else feedforward_rows(found, net)
    written = []
    for pi, grid in enumerate(spectra_pages(rows, hists, residual)):
        fig = spectra_page(ds, grid, hists, net, residual)
        written += save(fig, figdir, page_name("spectra", pi), tight=False)
    return written


def spectra_page(ds, grid, hists, net, residual):
    nrow, ncol = len(grid), len(grid[0])
    extra = 2.4 if residual else (1.2 if ncol == 1 else 0)     # room for the per-row legends
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.7 * ncol + extra, 3.0 * nrow + 1.5), squeeze=False,
                             layout="constrained")
    if residual:    # keep a margin on the right for the per-row legends
        fig.get_layout_engine().set(rect=(0, 0, 1 - 2.4 / fig.get_figwidth(), 1))
    has_theory = has_limit = False
    inits = {}
    for r in range(nrow):
        for j in range(ncol):
            ax, cell = axes[r, j], grid[r][j]
            if cell is None:
                ax.set_visible(False)
                continue
            title, curves, layer, legend = cell
            shown = [(c, hists[c[3]["point"]][layer]) for c in curves if layer in hists[c[3]["point"]]]
            ax.set_title(f"{title}\nlayer l = {g(layer)}", fontsize=8.5)
            draw_spectrum_panel(ds, ax, shown, layer, fill=len(curves) <= 2)
            has_theory |= any(np.isfinite(h["yt"]).any() for _, h in shown)
            has_limit |= any(np.isfinite(h["ytl"]).any() for _, h in shown)
            for lab, col, _, _ in curves:
                inits.setdefault(lab, col)
            spectrum_labels(ax, r, j, grid, curves, legend)
    spectra_titles(fig, net, residual, has_theory, has_limit, inits, ncol)
    return fig


def spectrum_labels(ax, r, j, grid, curves, legend):
    if j == 0:
        ax.set_ylabel("λ·ρ(λ)  (density per unit ln λ)", fontsize=8.5)
    if r == len(grid) - 1 or grid[r + 1][j] is None:
        ax.set_xlabel("λ  (squared singular value)")
    if legend:  # residual: the curves differ from row to row, a legend right of each row
        hs = [Line2D([], [], color=col, ls=ls, lw=1.4, label=lab) for lab, col, ls, _ in curves]
        leg = ax.legend(handles=hs, loc="upper left", bbox_to_anchor=(1.03, 1.0), fontsize=7.5, frameon=False,
                        borderaxespad=0)
        leg.set_in_layout(False)


def spectra_titles(fig, net, residual, has_theory, has_limit, inits, ncol):
    product = "Π(a + DˡWˡ)" if residual else "DˡWˡ⋯D¹W¹"
    head = f"Squared singular values λ of the input–output Jacobian J = ∂xˡ/∂x⁰ = {product}, pooled over networks"
    how = "steps: Monte Carlo" + (", smooth lines: free-probability theory" if has_theory else "; no theory given")
    if residual:
        how += (";  c = (1/L)Σ σ_w²⟨φ′²⟩ (Tarnowski et al. 2019: same c ⇒ same density)"
                + (";  dotted: their L → ∞ universal law at the same c" if has_limit else ""))
    fig.suptitle(wrap(titled(net, f"{head}\n{how}"), fig), fontsize=10)
    if not residual:
        hs = [Patch(facecolor=mcolors.to_rgba(c, 0.3), edgecolor=c, label=f"{lab}: Monte Carlo")
              for lab, c in inits.items()]
        if has_theory:
            hs += [Line2D([], [], color=dark(c), lw=1.7, label=f"{lab}: theory") for lab, c in inits.items()]
        fig.legend(handles=hs, loc="outside lower center", ncol=max(1, min(len(hs), 4, 2 * ncol)), frameon=False)


def merge_bins(h, f):
    """Edges and per-ln-λ density of the histogram with every `f` adjacent bins merged."""
    lo, hi = h["lo"], h["hi"]
    if f <= 1:
        return lo, hi, h["y"]
    mass = np.where(np.isfinite(h["dens"]), h["dens"], 0.0) * (hi - lo)
    starts = np.arange(0, len(lo), f)
    ends = np.minimum(starts + f, len(lo)) - 1
    m = np.add.reduceat(mass, starts)
    return lo[starts], hi[ends], m / np.log(hi[ends] / lo[starts])


def visible(h):
    """Indices of the bins that hold data: non-empty, or theory above 1e-3 of its peak."""
    used = np.where(np.isfinite(h["y"]), h["y"], 0.0) > 0
    yt = np.where(np.isfinite(h["yt"]), h["yt"], 0.0)
    if yt.max(initial=0) > 0:
        used |= yt > 1e-3 * yt.max()
    return np.nonzero(used)[0]


def merge_factor(h):
    """How many adjacent bins to merge so that the shown bins hold MIN_PER_BIN λ on average
    (at least 25 bins remain across the occupied range).  Without a count column the counts
    are estimated from the density, taking its smallest non-zero bin mass as one λ."""
    count = h["count"]
    if not np.isfinite(count).any():
        mass = np.where(np.isfinite(h["dens"]), h["dens"], 0.0) * (h["hi"] - h["lo"])
        if not (mass > 0).any():
            return 1
        count = mass / mass[mass > 0].min()
    n = np.nansum(count)
    v = np.nonzero(np.where(np.isfinite(count), count, 0) > 0)[0]
    if not v.size or not np.isfinite(n) or n <= 0:
        return 1
    span = v[-1] - v[0] + 1
    return int(max(1, min(math.ceil(MIN_PER_BIN * span / n), span // 25)))


def draw_spectrum_panel(ds, ax, shown, layer, fill):
    """The histograms of one panel (`shown`: [(curve, histogram)]), their theory, limits and notes."""
    bounds, drawn, notes, merged = [], [], [], []
    for (label, col, ls, d), h in shown:
        f = merge_factor(h)
        if f > 1:
            merged.append(f)
        yf, lo, hi = draw_histogram(ax, h, f, col, ls, fill, drawn)
        v = visible(h)
        if v.size:
            ytf = np.fmax(np.where(np.isfinite(h["yt"]), h["yt"], 0.0), np.where(np.isfinite(h["ytl"]), h["ytl"], 0.0))
            bounds.append((h["lo"][max(v[0] - f, 0)], h["hi"][min(v[-1] + f, len(h["hi"]) - 1)],
                           max(yf.max(), ytf.max()), yf[yf > 0]))
        bits = unseen_share(h, at_layer(ds, "jac_floor_frac", d, layer))
        if bits:
            notes.append(f"{label.split(', c=')[0]}: " + ", ".join(bits))
    if merged:
        fs = sorted(set(merged))
        notes.append(f"Monte Carlo: bins merged ×{fs[0]}" + (f"–{fs[-1]}" if len(fs) > 1 else ""))
    ax.set_xscale("log")
    spectrum_limits(ax, bounds)
    if notes:
        place_notes(ax, notes, drawn)
    ax.grid(True, which="major", alpha=0.25)


def draw_histogram(ax, h, f, col, ls, fill, drawn):
    """Monte Carlo steps (bins merged `f`-fold) and the theory line; what was drawn goes to `drawn`."""
    lo, hi, y = merge_bins(h, f)
    yf = np.where(np.isfinite(y), y, 0.0)
    if np.allclose(lo[1:], hi[:-1], rtol=1e-9):
        edges = np.append(lo, hi[-1])
        if fill:
            ax.stairs(yf, edges, fill=True, color=col, alpha=0.22, lw=0)
        ax.stairs(yf, edges, color=col, lw=0.9, ls=ls, alpha=0.95)
    else:       # bins with gaps: one segment per bin
        ax.hlines(yf, lo, hi, color=col, lw=1.2, ls=ls)
    drawn.append((np.concatenate([lo, hi]), np.concatenate([yf, yf]), fill))
    okt = np.isfinite(h["yt"])
    if okt.any():
        x = np.sqrt(h["lo"] * h["hi"])
        ax.plot(x[okt], h["yt"][okt], "-", color=dark(col), lw=1.7, zorder=4)
        drawn.append((x[okt], h["yt"][okt], False))
    okl = np.isfinite(h["ytl"])
    if okl.any():
        x = np.sqrt(h["lo"] * h["hi"])
        ax.plot(x[okl], h["ytl"][okl], ":", color=dark(col), lw=1.5, zorder=5)
        drawn.append((x[okl], h["ytl"][okl], False))
    return yf, lo, hi


def unseen_share(h, floor):
    """The share of the spectrum the bins do not show: below the float floor, below, above."""
    inside = float(np.nansum(h["dens"] * (h["hi"] - h["lo"])))
    floor = floor if np.isfinite(floor) else 0.0
    below = h.get("below", 0.0)
    above = 1.0 - inside - floor - below

    def pct(v):
        return f"{100 * v:.0f}%" if v >= 0.1 else f"{100 * v:.2g}%"
    bits = []
    if not (inside > 0):
        bits.append("no finite λ in the bins (diverged?)")
    elif floor > 0.005:
        bits.append(f"{pct(floor)} below float floor")
    if inside > 0 and below > 0.005:
        bits.append(f"{pct(below)} below the bins")
    if inside > 0 and above > 0.005:
        bits.append(f"{pct(above)} above the bins")
    return bits


def spectrum_limits(ax, bounds):
    """x: the occupied bins (a narrow spectrum widened); y: log when the Monte Carlo bulk spans
    decades or the curves' peaks differ a lot. `bounds`: [(lowest, highest λ, peak, y > 0)]."""
    if not bounds:
        ax.set_ylim(0, 1)
        return
    xl, xh = min(b[0] for b in bounds), max(b[1] for b in bounds)
    if xh / xl < 10:    # a narrow spectrum (e.g. orthogonal, all λ ≈ 1): widen symmetrically
        m = math.sqrt(xl * xh)
        xl, xh = m / 3.2, m * 3.2
    ax.set_xlim(xl, xh)
    peaks = [b[2] for b in bounds]
    y = np.concatenate([b[3] for b in bounds])
    top = max(peaks)
    if y.size and (np.percentile(y, 10) < top / 100 or (len(peaks) > 1 and max(peaks) / min(peaks) > 10)):
        ax.set_yscale("log")
        ax.set_ylim(max(y.min() / 2, top * 1e-5), top * 3)
    else:
        ax.set_ylim(0, top * 1.1 if top > 0 else 1)


def place_notes(ax, notes, drawn):
    """Notes in an empty corner of the panel (judged from the drawn curves, after the limits
    are set); when every corner is taken, in a band above the data."""
    fx, fy, filled = drawn_fractions(ax, drawn)
    pos = ax.get_position()     # the box's size in axes fraction, from a 6.5 pt font
    w_pt, h_pt = pos.width * ax.figure.get_figwidth() * 72, pos.height * ax.figure.get_figheight() * 72
    notes = [t for n in notes for t in textwrap.wrap(n, max(20, int((w_pt - 12) / 3.5)), subsequent_indent="  ")]
    height = min(0.9, (10 + 8.5 * len(notes)) / h_pt)
    width = min(0.97, (10 + 3.5 * max(len(t) for t in notes)) / w_pt)
    for loc, (x0, x1), (y0, y1) in (("upper left", (0, width), (1 - height, 1)),
                                    ("upper right", (1 - width, 1), (1 - height, 1)),
                                    ("lower left", (0, width), (0, height)),
                                    ("lower right", (1 - width, 1), (0, height))):
        # a filled histogram covers everything below its top
        inside = (fx >= x0 - 0.02) & (fx <= x1 + 0.02) & (fy >= y0 - 0.02) & (filled | (fy <= y1 + 0.02))
        if not inside.any():
            _notes(ax, notes, loc)
            return
    # every corner taken: raise the top of the y axis to free a band for the notes
    lo, hi = ax.get_ylim()
    keep = 1 - height - 0.04
    if ax.get_yscale() == "log":
        ax.set_ylim(lo, 10 ** (math.log10(lo) + (math.log10(hi) - math.log10(lo)) / keep))
    else:
        ax.set_ylim(lo, lo + (hi - lo) / keep)
    _notes(ax, notes, "upper left")


def _notes(ax, notes, loc):
    ax.legend(handles=[Line2D([], [], ls="none", label=t) for t in notes], loc=loc,
              handlelength=0, handletextpad=0, fontsize=6.5, framealpha=0.8)


def drawn_fractions(ax, drawn):
    """The drawn points' positions as fractions of the axes, and whether each is a filled histogram."""
    def frac(v, lim, scale):
        lo, hi = lim
        if scale == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return (v - lo) / (hi - lo)
    ok = [np.isfinite(x) & np.isfinite(y) & (y > 0) for x, y, _ in drawn]
    xs = [x[k] for (x, _, _), k in zip(drawn, ok)]
    ys = [y[k] for (_, y, _), k in zip(drawn, ok)]
    filled = [np.full(k.sum(), f) for (_, _, f), k in zip(drawn, ok)]
    fx = frac(np.concatenate(xs), ax.get_xlim(), ax.get_xscale()) if xs else np.array([])
    fy = frac(np.concatenate(ys), ax.get_ylim(), ax.get_yscale()) if ys else np.array([])
    filled = np.concatenate(filled) if filled else np.array([], bool)
    return fx, fy, filled
