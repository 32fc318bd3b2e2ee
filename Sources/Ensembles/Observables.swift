/// The Jacobian spectrum observable `jacobian` (seeds 002, 003): all squared singular
/// values λ of `J = ∂h^l/∂x^0` at chosen depths, per network and pooled in a histogram.
public struct JacobianObservable: Sendable, Hashable {
    /// Layers at which the spectrum is taken (ascending; each ≤ the network depth).
    public var depths: [Int]
    /// Log-spaced histogram bins over `range`.
    public var bins: Int
    public var range: ClosedRange<Double>

    public init(depths: [Int], bins: Int = 200, range: ClosedRange<Double> = 1e-12...1e4) {
        self.depths = depths
        self.bins = bins
        self.range = range
    }

    /// The depths for a network of `depth` layers: those ≤ depth, or the last layer.
    public func depths(for depth: Int) -> [Int] {
        let d = depths.filter { $0 <= depth }
        return d.isEmpty ? [depth] : d
    }

    /// Per-network quantities, recorded at each chosen depth.
    public static let names = ["jac_m1", "jac_m2", "jac_meanlog", "jac_max", "jac_min", "jac_floor_frac"]
}

/// The Lyapunov observable `lyapunov` (seed 000): the top-k exponents of the Jacobian
/// product by repeated QR (Benettin et al. 1980), `λ_k = (1/L) Σ_l ln|R^l_kk|`.
public struct LyapunovObservable: Sendable, Hashable {
    /// How many exponents; nil means all (the input dimension).
    public var k: Int?

    public init(k: Int?) { self.k = k }

    public func count(inputDimension: Int, width: Int) -> Int { min(k ?? inputDimension, inputDimension, width) }
}

/// The random-feature Gram spectrum `gram_spectrum` (Louart, Liao & Couillet 2018; seed
/// 000): the B eigenvalues of `K = FᵀF/B`, `F = φ(h¹)` the N×B first-layer features of the
/// campaign's inputs, pooled over networks in a log-binned histogram.
public struct GramSpectrumObservable: Sendable, Hashable {
    public var bins: Int
    public var range: ClosedRange<Double>

    public init(bins: Int = 100, range: ClosedRange<Double> = 1e-4...1e4) {
        self.bins = bins
        self.range = range
    }
}

/// Everything measured on each sampled network.
public struct Observables: Sendable, Hashable {
    public var forward: [ForwardObservable]
    public var jacobian: JacobianObservable?
    public var lyapunov: LyapunovObservable?
    /// Layers (1-based) where `nngp` is measured; empty: the last layer.
    public var nngpDepths: [Int]
    public var gramSpectrum: GramSpectrumObservable?
    /// The empirical one-sample NTK at the last layer (`ntk_mean`, `ntk_max`, `ntk_cond`).
    public var ntk: Bool

    public init(forward: [ForwardObservable], jacobian: JacobianObservable? = nil, lyapunov: LyapunovObservable? = nil,
                nngpDepths: [Int] = [], gramSpectrum: GramSpectrumObservable? = nil, ntk: Bool = false) {
        self.forward = forward
        self.jacobian = jacobian
        self.lyapunov = lyapunov
        self.nngpDepths = nngpDepths
        self.gramSpectrum = gramSpectrum
        self.ntk = ntk
    }

    /// The empirical NTK's quantities, at the last layer: its mean and largest eigenvalue and
    /// its condition number λ_max/λ_min.
    public static let ntkNames = ["ntk_mean", "ntk_max", "ntk_cond"]

    /// The layers where `nngp` is measured in a net of `depth` layers (deeper ones dropped).
    public func nngpDepths(for depth: Int) -> [Int] {
        nngpDepths.isEmpty ? [depth] : nngpDepths.filter { $0 <= depth }
    }

    /// Quantity names, in a fixed order: forward ones, then `jac_*`, then `lyap_1…lyap_k`
    /// and `lyap_gap` (λ1 − λ2).
    public func names(batch: Int, inputDimension: Int, width: Int) -> [String] {
        var names = EnsembleStatistics.names(for: forward, batch: batch)
        if jacobian != nil { names += JacobianObservable.names }
        if let lyapunov {
            let k = lyapunov.count(inputDimension: inputDimension, width: width)
            names += (1...max(k, 1)).map { "lyap_\($0)" }
            if k >= 2 { names.append("lyap_gap") }
        }
        if ntk { names += Self.ntkNames }
        return names
    }
}

extension Observables {
    /// An empty accumulator for networks of `spec` on `batch` inputs of dimension
    /// `inputDimension`: every quantity at every layer, one histogram per Jacobian depth,
    /// then the Gram spectrum's.
    public func emptyStatistics(spec: NetworkSpec, batch: Int, inputDimension: Int) -> EnsembleStatistics {
        var histograms = jacobian.map { j in
            j.depths(for: spec.depth).map { _ in SpectrumHistogram(range: j.range, bins: j.bins) }
        } ?? []
        if let g = gramSpectrum { histograms.append(SpectrumHistogram(range: g.range, bins: g.bins)) }
        return EnsembleStatistics(names: names(batch: batch, inputDimension: inputDimension, width: spec.width),
                                  depth: spec.depth, histograms: histograms)
    }
}
