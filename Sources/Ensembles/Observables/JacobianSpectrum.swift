#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FreeProbability
import LinearAlgebra
import MeanField

/// The Jacobian spectrum `jacobian`: all squared singular values λ of the input-output
/// Jacobian at the batch's first input, `J^l = ∂x^l/∂x^0 = D^l W^l ⋯ D^1 W^1`
/// (`Π (a·1 + D^l W^l)` with a skip), at chosen depths, per network (`jac_m1`, `jac_m2`,
/// `jac_meanlog`, `jac_max`, `jac_min`, `jac_floor_frac`) and pooled in a histogram
/// (`jac_sv2` in `spectra.csv`). It rides on N₀ tangent columns starting as `I`, the
/// Frobenius norm divided out every layer and its logarithm carried apart, so depth 1000
/// in either phase neither overflows nor underflows; the dense backend only (an SVD of J).
///
/// Theory: Pennington, Schoenholz & Ganguli's (2017, eq. 13–16) free-probability density of
/// JJᵀ for feedforward nets, Tarnowski et al.'s (2019) for residual ones (a > 0, every layer
/// gain below a²; Gaussian or orthogonal weights alike, since to first order in 1/L a block's
/// S-transform depends only on the second moments of DW), with their L → ∞ universal law
/// beside it (`theory_limit`), and the exact infinite-width m1, m2 (``JacobianMoments``) for
/// both; square J only.
public struct JacobianSpectrum: Observable {
    public static let entry = ObservableEntry(
        key: "jacobian", placement: .key,
        summary: "{ depths, bins, range }: spectrum of JJᵀ (dense)",
        parse: { context throws(ConfigError) in
            guard let t = try context.section.table("jacobian") else { return nil }
            try t.allow(["depths", "bins", "range"])
            try refuseWithoutSingleInputJacobian("observe.jacobian", context)
            let depths = try t.intAxis("depths", min: 1, what: "a layer ≥ 1", default: [])
            if let deepest = context.depths.max(), let d = depths.first(where: { $0 > deepest }) {
                throw ConfigError(key: t.key("depths"), "\(d) is deeper than the deepest network (grid.depth at most "
                                  + "\(deepest)); a net shallower than every listed depth is measured at its last layer")
            }
            let (bins, range) = try t.histogram(bins: 200, range: 1e-12...1e4, of: "λ")
            return JacobianSpectrum(depths: Array(Set(depths)).sorted(), bins: bins, range: range)
        })

    /// Refuses a Jacobian observable for an architecture whose Jacobian it does not sample.
    static func refuseWithoutSingleInputJacobian(_ key: String, _ context: ObserveContext) throws(ConfigError) {
        if let a = context.architectures.first(where: { $0.jacobianUnavailable != nil }) {
            throw ConfigError(key: key, "is not available for \(a.name): \(a.jacobianUnavailable!)")
        }
    }

    /// Layers at which the spectrum is taken (ascending; deeper than the net: the last layer).
    public let depths: [Int]
    public let bins: Int
    public let range: ClosedRange<Double>
    /// The RMS norm ‖J‖_F/√N₀ as last updated (divided out at the next update) and the log
    /// of the scale divided out so far.
    private var rms = 1.0
    private var logScale = 0.0

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

    public func quantities(_ shape: NetworkShape) -> [String] {
        ["jac_m1", "jac_m2", "jac_meanlog", "jac_max", "jac_min", "jac_floor_frac"]
    }

    public func histograms(_ shape: NetworkShape) -> [HistogramSlot] {
        depths(for: shape.spec.depth).map { HistogramSlot(layer: $0, observable: "jac_sv2", range: range, bins: bins) }
    }

    public func tangents(_ shape: NetworkShape) -> TangentColumns? {
        TangentColumns(count: shape.inputDimension, derivative: .firstInput)
    }

    public var needsDenseWeights: String? { "the full Jacobian spectrum (observe.jacobian) needs the dense backend" }

    /// J itself and its singular values.
    public func extraBytes(_ shape: NetworkShape, scalarSize: Int) -> Int {
        (shape.spec.units * shape.inputDimension + shape.inputDimension * 8) * scalarSize
    }

    /// An SVD of the N×N₀ Jacobian (≈ 10 N·N₀² flops; N·P rows in a conv net) at each depth.
    public func extraFlops(_ shape: NetworkShape) -> Double {
        Double(depths(for: shape.spec.depth).count) * 10 * Double(shape.spec.units) * Double(shape.inputDimension * shape.inputDimension)
    }

    public var normalizedOptions: [String: ManifestValue] {
        ["jacobian": .table(["depths": .list(depths.map { .integer($0) }), "bins": .integer(bins),
                             "range": .list([.real(range.lowerBound), .real(range.upperBound)])])]
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func beginNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>, slot: Slot)
        throws(LAPACKError) {
        rms = 1
        logScale = 0
        for (i, c) in slot.tangents.enumerated() { network.setSource(i, c, 1) }
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func endLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                     into statistics: inout EnsembleStatistics,
                                                                     slot: Slot) throws(LAPACKError) {
        // J = source · e^{logScale} once the previous norm is divided out.
        let next = (network.rescaleSource(slot.tangents, dividingBy: rms) / Double(slot.tangents.count)).squareRoot()
        let measured = depths(for: network.spec.depth)
        if let index = measured.firstIndex(of: network.layer) {
            let values = try measure(network.sourceBlock(slot.tangents),
                                     histogram: &statistics.histograms[slot.histograms.lowerBound + index])
            statistics.add(layer: network.layer, values, at: slot)
        }
        // 1 when J vanished or overflowed: the logs then report the collapse.
        rms = next > 0 && next.isFinite ? next : 1
        logScale += log(rms)
    }

    /// All squared singular values λ = s²·e^{2·logScale} of J: their moments (computed from
    /// logs, so overflow shows as ∞ = diverged, never as NaN), and the histogram. Values below
    /// `(ε s_max)²` are not resolved by the arithmetic: they are counted (`jac_floor_frac`)
    /// and left out of the mean log, the minimum and the bins.
    private func measure<T: BLASScalar>(_ j: Matrix<T>, histogram: inout SpectrumHistogram) throws(LAPACKError) -> [Double] {
        guard j.elements.allSatisfy(\.isFinite) else {
            // φ′ of a diverged pre-activation: this network's spectrum is undefined here.
            return [Double](repeating: .nan, count: 6)
        }
        let s = try j.singularValues().map { Double($0) }
        let sMax = s.first ?? 0
        let floor = Double(T.ulpOfOne) * sMax
        var sumSquares = 0.0, sumFourth = 0.0, sumLog = 0.0, trusted = 0, smallest = Double.infinity
        for v in s {
            let r = v / max(sMax, .leastNormalMagnitude)
            sumSquares += r * r
            sumFourth += r * r * r * r
            guard v > floor, v > 0 else { histogram.flagBelowFloor(); continue }
            let logLambda = 2 * (log(v) + logScale)
            sumLog += logLambda
            trusted += 1
            smallest = min(smallest, logLambda)
            histogram.add(logValue: logLambda)
        }
        let count = Double(s.count)
        let logMax = 2 * (log(sMax) + logScale)
        return [exp(logMax + log(sumSquares / count)), exp(2 * logMax + log(sumFourth / count)),
                trusted > 0 ? sumLog / Double(trusted) : -.infinity, exp(logMax), exp(smallest),
                Double(s.count - trusted) / count]
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        let network = theory.network
        let shape = theory.shape
        let measured = depths(for: network.depth)
        var prediction = Prediction.none(quantities: 6, depth: network.depth, histograms: measured.count)
        for (index, layer) in measured.enumerated() where layer <= theory.layers.count {
            let (moments, law, note) = Self.theory(theory, layer: layer)
            if let note { prediction.notes.append(note) }
            guard let moments else { break }
            prediction.values[0][layer - 1] = moments.firstMoment
            prediction.values[1][layer - 1] = moments.secondMoment
            let bins = LogBins.bins(of: histograms(shape)[index])
            if let law {
                do { prediction.spectra[index] = try LogBins.averages(bins, density: law.density(at:)) } catch {
                    prediction.notes.append("layer \(layer), jac_sv2: \(error)")
                }
            }
            if let limit = Self.limitLaw(theory, layer: layer) {
                do { prediction.limitSpectra[index] = try LogBins.averages(bins, density: limit.density(at:)) } catch {
                    prediction.notes.append("layer \(layer), jac_sv2 (L → ∞ law): \(error)")
                }
            }
        }
        return prediction
    }

    /// The exact m1, m2 of JJᵀ at `layer` and its free-probability law, with a note where
    /// either is missing (no moments: J is not square; no law: outside the residual law's
    /// assumptions).
    public static func theory(_ theory: TheoryContext, layer: Int)
        -> (moments: JacobianMoments?, law: JacobianLaw?, note: String?) {
        let network = theory.network
        if network.positions > 1 { return convolutionTheory(theory, layer: layer) }
        guard theory.inputs.dimension == network.width else {
            return (nil, nil, "no spectrum theory: J is \(network.width)×\(theory.inputs.dimension), not square")
        }
        let sigmaW = network.sigmaW / network.varianceDivisor.squareRoot()
        let slopes = theory.slopeVariances[..<layer]
        if let l = slopes.firstIndex(where: { $0 == nil }) {
            return (nil, nil, "no spectrum theory from layer \(l + 1): log10 q = \(Int(theory.layers[l].log2Q[0] * 0.30103)) is beyond 2^500, "
                    + "where \(network.activation.name)′(h)² vanishes but on a shrinking window and has no limiting law")
        }
        let variances = slopes.map { $0! }
        let moments = JacobianMoments(activation: network.activation, sigmaW: sigmaW, layerVariances: variances,
                                      weights: network.weightInit, residualScale: network.architecture.residualScale)
        switch network.architecture {
        case .feedforward:
            return (moments, .feedforward(FeedforwardSpectrum(activation: network.activation, sigmaW: sigmaW,
                                                              layerVariances: variances, weights: network.weightInit)), nil)
        case .residual(let a):
            // Tarnowski et al.: S = a^{−2l} Π (1 − c_k (1+2z)/(a² l)), c_k/l the layer gain.
            let gains = theory.layerGains[..<layer].map { $0! }
            guard a > 0, gains.allSatisfy({ $0 < a * a }) else {
                return (moments, nil, "no finite-depth spectrum theory at layer \(layer): the residual law needs a > 0 "
                        + "and every layer gain below a²")
            }
            return (moments, .residual(ResidualSpectrum(scale: a, layerGains: gains.map { $0 * Double(layer) })), nil)
        default:
            return (moments, nil, nil)   // refused by the campaign parser (Architecture.jacobianUnavailable)
        }
    }
}

extension JacobianSpectrum {
    /// A conv net's J = ∂x^l/∂x^0 (C·P × C₀·P) at the batch's first input. With a
    /// delta-orthogonal kernel it is block-diagonal over the positions, block p the orthogonal
    /// fully connected net's Jacobian `D^l_p α O^l ⋯ D^1_p α O^1` at position p's own
    /// pre-activation variances q^l_p, so JJᵀ's spectrum is the mixture over positions of
    /// Pennington et al.'s (2017) orthogonal law at each position's q^l_p, and its moments the
    /// average of theirs — the dynamical isometry of Xiao et al. (2018). With Gaussian kernels
    /// the same mixture of the Gaussian fully connected law: each layer is block-diagonal in
    /// Fourier space with C×C Gaussian blocks of the fully connected variance σ_w²/C, as
    /// Xiao et al. (2018, §4) use; exact where the positions share q (a stationary input),
    /// the positions' laws mixed where they do not. Square J only (C = C₀).
    static func convolutionTheory(_ theory: TheoryContext, layer: Int)
        -> (moments: JacobianMoments?, law: JacobianLaw?, note: String?) {
        let network = theory.network, p = network.positions
        guard theory.inputs.dimension == network.units else {
            return (nil, nil, "no spectrum theory: J is \(network.units)×\(theory.inputs.dimension), not square (C ≠ C₀)")
        }
        // q^l at the first input's P positions (vectors 0…P−1), layer 1 first.
        let maps = theory.maps
        let variances = network.architecture.composition(network).propagate(
            input: theory.inputs.moments(positions: p), depth: layer
        ) { _, m in (0..<p).map { maps.slopeVariance(log2Q: m.log2Variance($0), value: m.variance($0)) } }
        guard variances.count == layer, variances.allSatisfy({ $0.allSatisfy { $0 != nil } }) else {
            return (nil, nil, "no spectrum theory at layer \(layer): a position's q^l is beyond 2^500")
        }
        let sigmaW = network.sigmaW, weights: WeightLaw = network.weightInit == .gaussian ? .gaussian : .orthogonal
        let laws = (0..<p).map { q in
            FeedforwardSpectrum(activation: network.activation, sigmaW: sigmaW, layerVariances: variances.map { $0[q]! },
                                weights: weights)
        }
        let moments = (0..<p).map { q in
            JacobianMoments(activation: network.activation, sigmaW: sigmaW, layerVariances: variances.map { $0[q]! },
                            weights: weights, residualScale: 0)
        }
        return (JacobianMoments(mixing: moments), .positions(laws), nil)
    }

    /// Tarnowski et al.'s (2019) L → ∞ law of JJᵀ at `layer` of a residual net with a > 0
    /// and their weight scaling σ_w²/(N L) (`weight_scaling = "width*depth"`, under which
    /// each layer's gain is O(1/L) and the limit exists): `ResidualSpectrum.universal` at
    /// c = (1/l) Σ_k c_k = Σ_k g_k, the layer gains g_k = (σ_w²/L) E φ′(h^k)² summed over the
    /// first l layers. The same for every activation, and for Gaussian and orthogonal weights
    /// (it depends on DW only through its second moments). nil for other architectures or
    /// scalings, a = 0, or where a gain is unknown.
    public static func limitLaw(_ theory: TheoryContext, layer: Int) -> ResidualSpectrum? {
        guard case .residual(let a) = theory.network.architecture, a > 0, theory.network.weightScaling != .width,
              theory.inputs.dimension == theory.network.width, layer <= theory.layerGains.count else { return nil }
        let gains = theory.layerGains[..<layer]
        guard gains.allSatisfy({ $0 != nil }) else { return nil }
        return .universal(scale: a, depth: layer, c: gains.reduce(0) { $0 + $1! })
    }
}

/// The free-probability law of JJᵀ of a feedforward or a residual net, or of a conv net as
/// the equal mixture of its positions' fully connected laws.
public enum JacobianLaw: Sendable {
    case feedforward(FeedforwardSpectrum)
    case residual(ResidualSpectrum)
    case positions([FeedforwardSpectrum])

    /// The density of the continuous part at each λ (point masses left out).
    public func density(at x: [Double]) throws -> [Double] {
        switch self {
        case .feedforward(let f): return try f.density(at: x)
        case .residual(let r): return try r.density(at: x)
        case .positions(let laws):
            var total = [Double](repeating: 0, count: x.count)
            for law in laws { for (i, v) in try law.density(at: x).enumerated() { total[i] += v / Double(laws.count) } }
            return total
        }
    }

    /// Each position's m1 over the mixture's (the scale of its λ/m1 against the mixture's),
    /// from the logs, so depths where m1 leaves Double's range keep finite ratios.
    private static func relativeScales(_ laws: [FeedforwardSpectrum]) -> [Double] {
        let top = laws.map(\.logFirstMoment).max() ?? 0
        let mean = laws.reduce(0.0) { $0 + exp($1.logFirstMoment - top) } / Double(laws.count)
        return laws.map { exp($0.logFirstMoment - top) / mean }
    }

    /// The law of λ/m1 (mean 1), for depths where λ leaves Double's range: the density of
    /// its continuous part at each x, its support and its point masses.
    public func normalizedDensity(at x: [Double]) throws -> [Double] {
        switch self {
        case .feedforward(let f): return try f.normalizedDensity(at: x)
        case .residual(let r): return try r.normalizedDensity(at: x)
        case .positions(let laws):
            // λ/m1 = (λ/m1_p)·s_p, s_p = m1_p/m1: each component's density at x/s_p, over s_p.
            var total = [Double](repeating: 0, count: x.count)
            for (law, scale) in zip(laws, Self.relativeScales(laws)) {
                for (i, v) in try law.normalizedDensity(at: x.map { $0 / scale }).enumerated() {
                    total[i] += v / (scale * Double(laws.count))
                }
            }
            return total
        }
    }

    public func normalizedSupportRange() throws -> ClosedRange<Double> {
        switch self {
        case .feedforward(let f): return try f.normalizedSupportRange()
        case .residual(let r): return r.normalizedSupportRange()
        case .positions(let laws):
            var lo = Double.infinity, hi = 0.0
            for (law, scale) in zip(laws, Self.relativeScales(laws)) {
                let range = try law.normalizedSupportRange()
                lo = min(lo, range.lowerBound * scale)
                hi = max(hi, range.upperBound * scale)
            }
            return lo...hi
        }
    }

    public var normalizedAtoms: [SpectralAtom] {
        switch self {
        case .feedforward(let f): return f.normalizedAtoms
        case .residual(let r): return r.normalizedAtoms
        case .positions(let laws):
            return zip(laws, Self.relativeScales(laws)).flatMap { law, scale in
                law.normalizedAtoms.map { SpectralAtom(location: $0.location * scale, weight: $0.weight / Double(laws.count)) }
            }
        }
    }
}
