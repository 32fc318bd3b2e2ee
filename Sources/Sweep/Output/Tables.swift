import Ensembles
import MeanField

/// The tidy output tables of a sweep (README, "Outputs").
struct Tables {
    let campaign: Campaign
    let points: [PreparedPoint]
    let theories: [PointTheory]
    let statistics: [EnsembleStatistics]

    static let parameterHeader = ["point", "width", "depth", "sigma_w", "sigma_b", "activation", "init", "architecture"]

    static func parameters(_ p: GridPoint) -> [String] {
        let n = p.network
        return [String(p.index), String(n.width), String(n.depth), CSV.number(n.sigmaW), CSV.number(n.sigmaB),
                CSV.text(n.activation.name), n.weightInit.rawValue, n.architecture.name]
    }

    /// `networks.csv` (with `[observe] per_network`): one row per (point, network, layer,
    /// quantity) with that network's own value, networks in the samples' order (the order of
    /// the reduction), layers and quantities as in `layers.csv`; a value not measured at a
    /// layer has no row.
    func networksCSV() -> String {
        var text = CSV.row(["point", "sample", "layer", "observable", "value"])
        for (i, prepared) in points.enumerated() {
            let s = statistics[i], point = String(prepared.point.index)
            for n in 0..<s.networks {
                for layer in 1...s.depth {
                    for (k, name) in s.names.enumerated() where measured(s, k, layer) {
                        text += CSV.row([point, String(n), String(layer), name, CSV.number(s.value(network: n, quantity: k, layer: layer))])
                    }
                }
            }
        }
        return text
    }

    /// Whether quantity k was measured at `layer` by any network (a NaN there is a diverged
    /// value, written; a layer no network measured has no row).
    private func measured(_ s: EnsembleStatistics, _ k: Int, _ layer: Int) -> Bool {
        let m = s.moments[k][layer - 1]
        return m.count > 0 || m.nonFinite > 0
    }

    /// `quantiles.csv` (with `[observe] per_network`): per (point, layer, quantity) the 5, 25,
    /// 50, 75 and 95 % quantiles of the networks' finite values (linear interpolation between
    /// order statistics, Hyndman & Fan's 1996 type 7, numpy's default), and how many there were.
    func quantilesCSV() -> String {
        let levels = [0.05, 0.25, 0.5, 0.75, 0.95]
        var text = CSV.row(Self.parameterHeader + ["layer", "observable", "n", "q05", "q25", "q50", "q75", "q95"])
        for (i, prepared) in points.enumerated() {
            let s = statistics[i], prefix = Self.parameters(prepared.point)
            for layer in 1...s.depth {
                for (k, name) in s.names.enumerated() where measured(s, k, layer) {
                    let values = (0..<s.networks).compactMap { s.value(network: $0, quantity: k, layer: layer) }
                        .filter(\.isFinite).sorted()
                    let q = levels.map { p -> Double? in
                        guard !values.isEmpty else { return nil }
                        let h = p * Double(values.count - 1), lo = Int(h), hi = min(lo + 1, values.count - 1)
                        return values[lo] + (h - Double(lo)) * (values[hi] - values[lo])
                    }
                    text += CSV.row(prefix + [String(layer), name, String(values.count)] + q.map { CSV.number($0) })
                }
            }
        }
        return text
    }

    /// `layers.csv`: one row per (point, layer, quantity) with the ensemble mean, its
    /// standard error, the number of finite values, the mean-field prediction and the predicted
    /// standard deviation across networks (leading order in 1/N, or to the next order,
    /// ``KernelFluctuations``) and
    /// the mean to order 1/N.
    func layersCSV() -> String {
        var text = CSV.row(Self.parameterHeader + ["layer", "observable", "mean", "stderr", "n", "theory", "theory_sd",
                                                    "theory_1n"])
        for (i, prepared) in points.enumerated() {
            let s = statistics[i], theory = theories[i]
            let prefix = Self.parameters(prepared.point)
            for layer in 1...s.depth {
                for (k, name) in s.names.enumerated() {
                    let m = s.moments[k][layer - 1]
                    if m.count == 0 && m.nonFinite == 0 { continue }  // not measured at this layer
                    text += CSV.row(prefix + [String(layer), name, CSV.number(m.count > 0 ? m.mean : nil),
                                              CSV.number(m.standardError), String(m.count),
                                              CSV.number(theory.values[k][layer - 1]),
                                              CSV.number(theory.standardDeviations[k][layer - 1]),
                                              CSV.number(theory.corrected[k][layer - 1])])
                }
            }
        }
        return text
    }

    /// `points.csv`: one row per grid point with the theory scalars (q*, c*, χ1, ξ_q,
    /// ξ_c, phase) and the measured last-layer q and c.
    func pointsCSV() -> String {
        var text = CSV.row(Self.parameterHeader + ["samples", "q_star", "c_star", "chi1", "xi_q", "xi_c", "phase",
                                                  "layers_to_1pct", "status", "q_last", "q_last_stderr",
                                                  "c_last", "c_last_stderr", "q_last_theory", "c_last_theory"])
        for (i, prepared) in points.enumerated() {
            let s = statistics[i], f = theories[i].fixedPoints
            func last(_ name: String) -> RunningMoments? {
                s.names.firstIndex(of: name).map { s.moments[$0][s.depth - 1] }
            }
            let q = last("q"), c = last("c")
            let layers = theories[i].layers, depth = prepared.point.network.depth
            let last = layers.count >= depth ? layers[depth - 1] : nil
            text += CSV.row(Self.parameters(prepared.point) + [
                String(s.networks), CSV.number(f?.qStar), CSV.number(f?.cStar), CSV.number(f?.chi1),
                CSV.number(f?.xiQ), CSV.number(f?.xiC), f?.phase.rawValue ?? "",
                f?.layersToOnePercent.map(String.init) ?? "",
                CSV.text(f?.status ?? prepared.point.network.architecture.fixedPointNote),
                CSV.number(q.flatMap { $0.count > 0 ? $0.mean : nil }), CSV.number(q?.standardError),
                CSV.number(c.flatMap { $0.count > 0 ? $0.mean : nil }), CSV.number(c?.standardError),
                CSV.number(last?.meanQ), CSV.number(last?.meanC),
            ])
        }
        return text
    }
}

extension Tables {
    /// `spectra.csv`: the pooled histogram of the Jacobian's squared singular values at
    /// each measured layer (`jac_sv2`), and of the first layer's feature Gram eigenvalues
    /// (`gram_eig`, layer 1) and of the empirical NTK's eigenvalues at the last layer
    /// (`ntk_eig`) — `density` = count / (all λ × bin width), so it integrates to
    /// the binned share of the spectrum — beside the free-probability density averaged over
    /// the bin, and `theory_limit`, the bin averages of the depth → ∞ law where one is known
    /// (for residual nets Tarnowski et al.'s 2019 universal law at the same c = Σ_l g_l).
    /// Empty theory where it does not apply or could not be computed. Two tail rows
    /// frame the bins: `[0, range low)` with the values below the range (density over that
    /// interval, no theory) and `[range high, inf)` with those above it (count only); values
    /// below the float floor are in neither (their share is `jac_floor_frac` in layers.csv).
    func spectraCSV() -> String {
        var text = CSV.row(Self.parameterHeader + ["layer", "observable", "bin_lo", "bin_hi", "density", "count", "theory",
                                                    "theory_limit"])
        for (i, prepared) in points.enumerated() {
            let s = statistics[i], prefix = Self.parameters(prepared.point)
            let slots = campaign.observables.histograms(campaign.shape(prepared.point.network))
            for (h, slot) in slots.enumerated() {
                let histogram = s.histograms[h], theory = theories[i].spectra[h], limit = theories[i].limitSpectra[h]
                let all = Double(histogram.total + histogram.belowFloor)
                func row(_ lo: Double, _ hi: Double, _ count: Int, _ theory: Double?, _ limit: Double?) -> String {
                    let density = all > 0 && hi.isFinite ? Double(count) / (all * (hi - lo)) : nil
                    return CSV.row(prefix + [String(slot.layer), slot.observable, CSV.number(lo), CSV.number(hi),
                                             CSV.number(density), String(count), CSV.number(theory),
                                             CSV.number(limit)])
                }
                text += row(0, histogram.lower, histogram.underflow, nil, nil)
                for b in 0..<histogram.counts.count {
                    let (lo, hi) = histogram.edges(b)
                    text += row(lo, hi, histogram.counts[b], theory?[b], limit?[b])
                }
                text += row(histogram.upper, .infinity, histogram.overflow, nil, nil)
            }
        }
        return text
    }
}
