/// The forward observables of DESIGN §2, measured on the pre-activations `h^l`.
public enum ForwardObservable: String, Sendable, Hashable, CaseIterable, Codable {
    /// `q^l = (1/B) Σ_a |h^l_a|²/N`: the mean squared length over the batch.
    case q
    /// `c^l = mean over pairs a<b of q^l_ab/√(q^l_aa q^l_bb)`.
    case c
    /// Every entry `q^l_ab = h^l_a·h^l_b/N`, `a ≤ b`, as observables `gram_a_b`.
    case gram
    /// `‖HᵀH/‖H‖_F² − I_B/B‖_F` of the pre-activations `H = [h_1 … h_B]` (Daneshmand et al.
    /// 2021): 0 for orthogonal equal-length representations, √(1 − 1/B) for collapsed ones.
    case orthGap = "orth_gap"
    /// `Tr C/λ_max(C)` of the covariance of the pre-activations across the inputs,
    /// `C = P G P`, `P = I − 11ᵀ/B` (Labatie 2019): B − 1 at most, 1 for a one-dimensional cloud.
    case effRank = "eff_rank"
    /// The length of the closed polygon `h_1 → h_2 → … → h_B → h_1` over √N,
    /// `Σ_a √(q_aa + q_bb − 2q_ab)` with b = a + 1 mod B (Raghu et al. 2017 for a
    /// great-circle batch, `kind = "circle"`).
    case trajLength = "traj_length"
    /// Labatie's normalised sensitivity `χ^l = (SNR^0/SNR^l)^{1/2}`,
    /// `SNR = Tr C[y] / (mean_b |dy_b|²/N)`: C the covariance across the batch of the
    /// pre-activations y = h^l (the inputs at l = 0), dy a fresh N(0, I) input noise per input
    /// and network propagated to first order (a JVP, through φ′ of its own input and, in BN
    /// nets, through the normalisation with its statistics frozen). ∞ for a collapsed batch.
    case sensitivity
    /// The empirical NNGP kernel `h_a·h_b/N`, `a ≤ b`, as `nngp_a_b`, at the layers
    /// `nngp_depths` only (the last by default), beside the analytic kernel.
    case nngp
}

/// Per-layer running moments of every measured quantity of one grid point (and its pooled
/// Jacobian spectra), merged exactly across samples, tasks and ranks.
///
/// Quantities are named columns (`q`, `c`, `gram_0_1`, …) in a fixed order so that two
/// statistics of the same campaign always line up.
public struct EnsembleStatistics: Sendable, Hashable {
    public let names: [String]
    public let depth: Int
    /// `moments[k][l]`: quantity `names[k]` at layer `l + 1`.
    public internal(set) var moments: [[RunningMoments]]
    /// Networks accumulated.
    public internal(set) var networks: Int = 0
    /// Pooled spectra (one per Jacobian depth), empty without the `jacobian` observable.
    public internal(set) var histograms: [SpectrumHistogram]

    public init(names: [String], depth: Int, histograms: [SpectrumHistogram] = []) {
        self.names = names
        self.depth = depth
        self.histograms = histograms
        moments = Array(repeating: Array(repeating: RunningMoments(), count: depth), count: names.count)
    }

    /// The quantities measured for `observables` on a batch of `batch` inputs.
    public static func names(for observables: [ForwardObservable], batch: Int) -> [String] {
        var names: [String] = []
        for o in ForwardObservable.allCases where observables.contains(o) {
            switch o {
            case .q: names.append("q")
            case .c: if batch > 1 { names.append("c") }
            case .gram:
                for a in 0..<batch { for b in a..<batch { names.append("gram_\(a)_\(b)") } }
            case .orthGap: names.append("orth_gap")
            case .effRank: if batch > 1 { names.append("eff_rank") }
            case .trajLength: if batch > 1 { names.append("traj_length") }
            case .sensitivity: if batch > 1 { names.append("sensitivity") }
            case .nngp:
                for a in 0..<batch { for b in a..<batch { names.append("nngp_\(a)_\(b)") } }
            }
        }
        return names
    }

    /// Adds one network's values: `values[k]` is quantity `k` at `layer` (1-based); NaN
    /// marks a quantity not measured at this layer (nothing is added).
    mutating func add(layer: Int, _ values: [Double], measured: Range<Int>) {
        for k in measured { moments[k][layer - 1].add(values[k]) }
    }

    mutating func finishNetwork() { networks += 1 }

    /// Merges another part of the same ensemble (Chan et al.); call in a fixed order.
    public mutating func merge(_ other: EnsembleStatistics) {
        precondition(names == other.names && depth == other.depth && histograms.count == other.histograms.count,
                     "merging statistics of different shapes")
        for k in moments.indices { for l in 0..<depth { moments[k][l].merge(other.moments[k][l]) } }
        for i in histograms.indices { histograms[i].merge(other.histograms[i]) }
        networks += other.networks
    }
}
