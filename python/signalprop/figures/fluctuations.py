"""fluctuations.png: beyond the mean (Hanin & Nica 2019; Roberts, Yaida & Hanin 2022). For q, c,
orth_gap and eff_rank of every grid point with a fluctuation theory: the measured standard deviation across
networks (stderr·√n, with its own sampling band ±sd/√(2(n−1))) and the predicted one
(``theory_sd``) against depth; and the measured mean's deviation from mean field beside
``theory_1n − theory``, the 1/N correction; fluctuations_width.png, with three or more widths
(a fitted slope and its error need them), that deviation and the one from theory_1n at the
last layer against N, with fitted slopes; fluctuations_distribution.png, with per-network
values, the
distribution across networks of log q (and c) at the last layer with the theory's Gaussian."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np

from ..reader import networks
from .common import coords, figure, g, log_log, point_table, save


def _series(ds, point, obs, suffix):
    name = obs + suffix
    if name not in ds:
        return None
    return ds[name].sel(coords(point)).values.astype(float)


@figure
def fluctuations(ds, figdir):
    """One column per observable with a predicted standard deviation (q, c, orth_gap,
    eff_rank): the sd (top) and the mean's 1/N deviation (bottom, where theory_1n exists),
    one colour per grid point."""
    shown = [o for o in ("q", "c", "orth_gap", "eff_rank")
             if f"{o}_theory_sd" in ds and np.isfinite(ds[f"{o}_theory_sd"].values).any()]
    if not shown:
        return []
    fig, axes = plt.subplots(2, len(shown), figsize=(6.2 * len(shown), 8.2), squeeze=False)
    layer = ds["layer"].values.astype(float)
    for column, obs in enumerate(shown):
        top, bottom = axes[0][column], axes[1][column]
        drew_bottom = False
        for i, (_, p) in enumerate(point_table(ds, obs).iterrows()):
            predicted = _series(ds, p, obs, "_theory_sd")
            if predicted is None or not np.isfinite(predicted).any():
                continue
            colour = f"C{i % 10}"
            n = _series(ds, p, obs, "_n")
            sd = _series(ds, p, obs, "_stderr") * np.sqrt(n)
            band = sd / np.sqrt(2 * np.maximum(n - 1, 1))
            label = f"{p['activation']}, σ_w={g(p['sigma_w'])}, σ_b={g(p['sigma_b'])}, N={g(p['width'])}"
            if ds.sizes.get("init", 1) > 1:
                label += f", {p['init']}"
            top.fill_between(layer, sd - band, sd + band, color=colour, alpha=0.25, lw=0)
            top.plot(layer, sd, color=colour, lw=0.8, label=f"{label}: measured")
            top.plot(layer, predicted, "--", color=colour, lw=1.2)
            corrected = _series(ds, p, obs, "_theory_1n")
            if corrected is not None and np.isfinite(corrected).any():
                mean, theory = _series(ds, p, obs, ""), _series(ds, p, obs, "_theory")
                stderr = _series(ds, p, obs, "_stderr")
                bottom.errorbar(layer, mean - theory, yerr=stderr, fmt="o", ms=3, color=colour, label=f"{label}: measured")
                bottom.plot(layer, corrected - theory, "--", color=colour, lw=1.2)
                drew_bottom = True
        top.set_xlabel("layer l")
        top.set_ylabel(f"standard deviation of {obs} across networks")
        top.set_title(f"{obs}: measured (band: its sampling error) vs theory_sd (dashed)")
        top.grid(alpha=0.3)
        top.legend(fontsize=7)
        if drew_bottom:
            bottom.axhline(0, color="black", lw=0.6)
            bottom.set_xlabel("layer l")
            bottom.set_ylabel(f"mean − mean-field {obs}")
            bottom.set_title(f"{obs}: the mean's deviation (± s.e.) vs theory_1n − theory (dashed)")
            bottom.grid(alpha=0.3)
            bottom.legend(fontsize=7)
        else:
            bottom.set_visible(False)
    observe = json.loads(ds.attrs.get("config") or "{}").get("observe", {})
    order = "with its next order where there is one" if observe.get("fluctuations_order") == 2 else "leading order in 1/N"
    fig.suptitle(f"fluctuations across networks at finite width (theory_sd: {order})")
    written = save(fig, figdir, "fluctuations.png")
    return written + _versus_width(ds, figdir) + _distributions(ds, figdir)


def _distributions(ds, figdir):
    """fluctuations_distribution.png, with per-network values: at each point's last layer the
    histogram over networks of log q (and of c) with the Gaussian the theory predicts: for log q
    Hanin & Nica's log-normal, standard deviation theory_sd/theory (the delta method) and mean
    log theory_1n (or theory) less half its variance; for c mean theory (theory_1n where there
    is one) and standard deviation theory_sd."""
    frame = networks(ds.attrs.get("out", "")) if ds.attrs.get("out") else None
    if frame is None or "q_theory_sd" not in ds:
        return []
    shown = [o for o in ("q", "c") if (frame["observable"] == o).any() and f"{o}_theory_sd" in ds]
    table = point_table(ds, "q")
    table = table[[np.isfinite(float(ds["q_theory_sd"].sel(coords(p)).sel(layer=int(p["last"])))) for _, p in table.iterrows()]]
    if table.empty:
        return []
    table = table.head(6)
    fig, axes = plt.subplots(len(shown), len(table), figsize=(3.6 * len(table), 3.2 * len(shown)), squeeze=False)
    for j, (_, p) in enumerate(table.iterrows()):
        layer = int(p["last"])
        for i, obs in enumerate(shown):
            ax = axes[i][j]
            mask = (frame["layer"] == layer) & (frame["observable"] == obs)
            for axis, value in coords(p).items():
                mask &= frame[axis].astype(str) == str(value)
            rows = frame[mask]
            values = rows["value"].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            sd = float(ds[f"{obs}_theory_sd"].sel(coords(p)).sel(layer=layer))
            mean = float(ds[f"{obs}_theory"].sel(coords(p)).sel(layer=layer))
            if f"{obs}_theory_1n" in ds and np.isfinite(float(ds[f"{obs}_theory_1n"].sel(coords(p)).sel(layer=layer))):
                mean = float(ds[f"{obs}_theory_1n"].sel(coords(p)).sel(layer=layer))
            if obs == "q":
                # Hanin & Nica's (2019) log-normal: Var log q = (sd/q)² and E log q = log E q − Var/2,
                # each to leading order (log q^L is a sum of independent per-layer logs).
                spread = sd / mean
                values, centre, label = np.log(values[values > 0]), np.log(mean) - spread ** 2 / 2, "log q"
            else:
                centre, spread, label = mean, sd, "c"
            if values.size == 0 or not np.isfinite(spread) or spread <= 0:
                ax.set_visible(False)
                continue
            ax.hist(values, bins=40, density=True, color="C0", alpha=0.5, label=f"{values.size} networks")
            x = np.linspace(values.min(), values.max(), 200)
            ax.plot(x, np.exp(-0.5 * ((x - centre) / spread) ** 2) / (spread * np.sqrt(2 * np.pi)), "k--", lw=1.2,
                    label="Gaussian of theory_sd")
            ax.set_xlabel(f"{label} at layer {layer}")
            ax.set_title(f"{p['activation']}, σ_w={g(p['sigma_w'])}, N={g(p['width'])}", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle("distribution across networks at the last layer, with the Gaussian the 1/N theory predicts")
    return save(fig, figdir, "fluctuations_distribution.png")


def log_slope(n, y, se):
    """The exponent k of y ≈ a·n^k fitted to the points by weighted least squares on y itself
    (weights 1/se², Gauss–Newton from the log-log line), and its standard error, scaled by
    √(χ²/dof) where the scatter exceeds the error bars; NaNs with fewer than 3 points with
    se > 0 or no power law in them. Fitting y rather than log|y| keeps noisy points from
    weighting themselves."""
    n, y, se = (np.asarray(v, dtype=float).ravel() for v in (n, y, se))
    keep = (se > 0) & np.isfinite(y) & (n > 0)
    if keep.sum() < 3:
        return np.nan, np.nan
    n, y, se = n[keep], y[keep], se[keep]
    x = np.log(n)
    big = np.abs(y) > 0
    k, log_a = np.polyfit(x[big], np.log(np.abs(y[big])), 1)
    a = np.sign(np.sum(y)) * np.exp(log_a)

    def cost(a, k):
        return np.sum(((y - a * n**k) / se) ** 2)

    for _ in range(200):
        model = a * n**k
        jacobian = np.column_stack([n**k, model * x]) / se[:, None]
        step = np.linalg.lstsq(jacobian, (y - model) / se, rcond=None)[0]
        scale = 1.0
        while scale > 1e-6 and not cost(a + scale * step[0], k + scale * step[1]) <= cost(a, k):
            scale /= 2   # a damped Gauss–Newton step: never uphill
        a, k = a + scale * step[0], k + scale * step[1]
        if not (np.isfinite(k) and np.isfinite(a) and abs(k) < 10):
            return np.nan, np.nan   # no power law in the points (pure noise about 0)
        if abs(scale * step[1]) < 1e-12:
            break
    jacobian = np.column_stack([n**k, a * n**k * x]) / se[:, None]
    chi2 = np.sum(((y - a * n**k) / se) ** 2) / max(len(y) - 2, 1)
    covariance = np.linalg.pinv(jacobian.T @ jacobian) * max(chi2, 1.0)
    return k, np.sqrt(covariance[1, 1])


def _versus_width(ds, figdir):
    """fluctuations_width.png, with ≥ 3 widths: one panel per observable with theory_1n (q, c),
    at each point's last layer against N (log-log, ± s.e.): |mean − mean field| (circles) beside
    |theory_1n − theory| (dashed, ∝ 1/N), and |mean − theory_1n| (squares), what the 1/N theory
    leaves, which shrinks like 1/N²; each with its fitted slope (``log_slope``)."""
    shown = [o for o in ("q", "c") if f"{o}_theory_1n" in ds and np.isfinite(ds[f"{o}_theory_1n"].values).any()]
    if not shown or ds.sizes.get("width", 0) < 3:
        return []
    fig, axes = plt.subplots(1, len(shown), figsize=(6.6 * len(shown), 5.0), squeeze=False)
    drew = False
    for ax, obs in zip(axes[0], shown):
        table = point_table(ds, obs)
        table = table[np.isfinite(table["t"])]
        groups = [(key, rows) for key, rows in table.groupby(["activation", "sigma_w", "sigma_b", "depth", "init"],
                                                              sort=False) if rows["width"].nunique() >= 3]
        for i, (key, rows) in enumerate(groups):
            colour = f"C{i % 10}"
            widths, bias, residual, errors, predicted = [], [], [], [], []
            for _, p in rows.iterrows():
                corrected = float(ds[f"{obs}_theory_1n"].sel(coords(p)).sel(layer=int(p["last"])))
                if not np.isfinite(corrected):
                    continue
                widths.append(float(p["width"]))
                bias.append(p["m"] - p["t"])
                residual.append(p["m"] - corrected)
                errors.append(p["s"])
                predicted.append(abs(corrected - p["t"]))
            if len(widths) < 3:
                continue
            order = np.argsort(widths)
            w, b, r, e, t = (np.array(v)[order] for v in (widths, bias, residual, errors, predicted))
            label = f"{key[0]}, σ_w={g(key[1])}, σ_b={g(key[2])}, L={g(key[3])}"
            if ds.sizes.get("init", 1) > 1:
                label += f", {key[4]}"
            slope_b, slope_r = log_slope(w, b, e), log_slope(w, r, e)
            ax.errorbar(w, np.abs(b), yerr=e, fmt="o", color=colour,
                        label=f"{label}: |mean − mean field|, slope {slope_b[0]:+.2f} ± {slope_b[1]:.2f}")
            ax.plot(w, t, "--", color=colour, label="|theory_1n − theory| (∝ 1/N)")
            ax.errorbar(w, np.abs(r), yerr=e, fmt="s", mfc="none", color=colour,
                        label=f"|mean − theory_1n|, slope {slope_r[0]:+.2f} ± {slope_r[1]:.2f}")
            drew = True
        log_log(ax, "width N", f"|deviation of the mean {obs}| at the last layer",
                f"{obs}: the 1/N bias, and what theory_1n leaves (O(1/N²))")
    if not drew:
        plt.close(fig)
        return []
    return save(fig, figdir, "fluctuations_width.png")
