#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField

/// Labatie's (2019, §4) normalised sensitivity `χ^l = (SNR^0/SNR^l)^{1/2}`,
/// `SNR = Tr C[y] / (mean_b |dy_b|²/N)`: C the covariance across the batch of the
/// pre-activations y = h^l (the inputs at l = 0), dy a fresh N(0, I) input noise per input
/// and network, stream `(…, sample, layer 0, noise)`, propagated to first order (a JVP: one
/// tangent column per input, φ′ at its own input and, in BN nets, through the
/// normalisation with its statistics frozen). ∞ for a collapsed batch; B ≥ 2. The noise
/// columns are renormalised every layer, their log-scale carried.
///
/// Theory (infinite width): feedforward and convolutional nets carry the input noise's
/// O(1/N₀) correlation with the input (``predictWithInputCorrelation(_:)``). Residual and
/// layer-normalised fully connected nets leave it out: per input b the noise per entry of h^l
/// is `m^l_b = (σ_w²/s) v^{l−1}_b`, `v^0 = 1`, `v^l_b = (χ(q^l_bb) + a²) v^{l−1}_b` with
/// `χ(q) = (σ_w²/s) E φ′(√q z)²` (the noise's cross term with the skip averages out over W),
/// and `χ^l = (Tr C^0 · mean_b m^l_b / Tr C^l)^{1/2}`, Tr C the centred trace of the inputs'
/// Gram and of q^l; exact as N₀ → ∞.
public struct Sensitivity: Observable {
    public static let entry = ObservableEntry(
        key: "sensitivity", placement: .forward,
        summary: "(SNR⁰/SNRˡ)^½ of an input noise (Labatie 2019)",
        parse: { context throws(ConfigError) in
            guard context.listed("sensitivity") else { return nil }
            if let a = context.architectures.first(where: { $0.tangentsUnavailable != nil }) {
                throw ConfigError(key: "observe.forward", "'sensitivity' is not available for \(a.name): \(a.tangentsUnavailable!)")
            }
            var identical = false
            switch context.inputs {
            case .gram(let count, _, let c0): identical = count > 1 && c0 == 1
            case .file(_, let rows, _), .signalFile(_, let rows, _, _): identical = rows.count > 1 && rows.allSatisfy { $0 == rows[0] }
            case .gaussian, .circle, .gaussianSignal: identical = false
            }
            if identical {
                throw ConfigError(key: "observe.forward", "'sensitivity' needs inputs that differ: its signal is their "
                                  + "spread Tr C[x⁰], which is 0 for identical inputs")
            }
            return Sensitivity()
        })

    /// The RMS of the noise columns as last updated (divided out at the next update), the
    /// log of the scale divided out so far, and ln SNR^0 of this network's noise.
    private var noiseRMS = 1.0
    private var logScale = 0.0
    private var logInputSNR = 0.0

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { shape.batch > 1 ? ["sensitivity"] : [] }

    public func tangents(_ shape: NetworkShape) -> TangentColumns? {
        shape.batch > 1 ? TangentColumns(count: shape.batch, derivative: .ownInput) : nil
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func beginNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>, slot: Slot)
        throws(LAPACKError) {
        noiseRMS = 1
        logScale = 0
        let columns = slot.tangents, dimension = network.inputDimension
        guard !columns.isEmpty else { return }
        var dx = [T](repeating: 0, count: dimension * columns.count)
        dx.withUnsafeMutableBufferPointer { T.fillStandardNormal(network.stream(.noise, layer: 0), $0, from: 0, scale: 1) }
        var sum = 0.0
        for (k, c) in columns.enumerated() {
            for i in 0..<dimension {
                let v = dx[k * dimension + i]
                network.setSource(i, c, v)
                sum += Double(v) * Double(v)
            }
        }
        let p = network.spec.positions
        let signal = p == 1 ? GramGeometry.centredTrace(network.inputGram, count: network.batch)
            : network.source.elements.withUnsafeBufferPointer { ps in
                Self.spread(ps, columnLength: network.source.rows, channels: dimension / p, positions: p, batch: network.batch)
            } / Double(network.batch * dimension)
        logInputSNR = log(signal) - log(sum / Double(columns.count * dimension))
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func preActivation<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                          into statistics: inout EnsembleStatistics,
                                                                          slot: Slot) throws(LAPACKError) {
        guard !slot.quantities.isEmpty else { return }
        let columns = slot.tangents, n = network.units, batch = network.batch, p = network.spec.positions
        // ln χ = ½ (ln SNR^0 − ln SNR^l), SNR^l = Tr C[h]/mean_b |dh_b|²/N, both scales in logs.
        var noise = 0.0, spread = 0.0
        network.output.elements.withUnsafeBufferPointer { po in
            for i in (columns.lowerBound * n)..<(columns.upperBound * n) { noise += Double(po[i]) * Double(po[i]) }
            spread = Self.spread(po, columnLength: n, channels: network.width, positions: p, batch: batch)
        }
        let logNoise = log(noise / Double(columns.count * n)) + 2 * logScale
        let logSignal = log(spread / Double(batch * n)) + 2 * network.forwardLogScale
        statistics.add(layer: network.layer, [spread > 0 ? exp(0.5 * (logInputSNR - logSignal + logNoise)) : .infinity],
                       at: slot)
    }

    /// `Σ_i Σ_{b,p} (h_{i,p,b} − h̄_i)²`, h̄_i channel i's mean over the batch's inputs and
    /// positions (rows channel fastest, column b at `b · columnLength`): Tr C[h] times B·P·C
    /// by centring h itself (the Gram form cancels as the batch collapses; a collapsed batch,
    /// Tr C = 0, has χ = ∞).
    static func spread<T: BLASScalar>(_ h: UnsafeBufferPointer<T>, columnLength ld: Int, channels c: Int, positions p: Int,
                                      batch: Int) -> Double {
        var spread = 0.0
        for i in 0..<c {
            var mean = 0.0
            for b in 0..<batch { for q in 0..<p { mean += Double(h[b * ld + q * c + i]) } }
            mean /= Double(batch * p)
            for b in 0..<batch { for q in 0..<p { let d = Double(h[b * ld + q * c + i]) - mean; spread += d * d } }
        }
        return spread
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func endLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                     into statistics: inout EnsembleStatistics,
                                                                     slot: Slot) throws(LAPACKError) {
        let columns = slot.tangents
        // The columns now carry e^{−logScale}, this division included.
        let rms = (network.rescaleSource(columns, dividingBy: noiseRMS) / Double(columns.count * network.units)).squareRoot()
        logScale += log(noiseRMS)
        noiseRMS = rms > 0 && rms.isFinite ? rms : 1
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        let b = theory.batch, network = theory.network
        guard b > 1 else { return Prediction(values: []) }
        if network.positions > 1 {
            guard !network.architecture.isResidual else {
                return .none(quantities: 1, depth: network.depth,
                             notes: ["sensitivity of \(network.architecture.name) nets: no theory here (the input noise's "
                                     + "correlation with the input, carried through the skip, is not implemented)"])
            }
            return predictWithInputCorrelation(theory)
        }
        if network.architecture == .feedforward { return predictWithInputCorrelation(theory) }
        guard !theory.layers.isEmpty else { return .none(quantities: 1, depth: network.depth) }
        let a = network.architecture.residualScale, sigma2 = network.sigmaW * network.sigmaW / network.varianceDivisor
        let signal0 = GramGeometry.centredTrace(theory.inputs.gram.elements, count: b)
        var v = [Double](repeating: 1, count: b)
        var chi: [Double] = []
        for t in theory.layers {
            let m = v.map { sigma2 * $0 }
            chi.append((signal0 * m.reduce(0, +) / Double(m.count) / GramGeometry.centredTrace(t.covariance, count: b)).squareRoot())
            v = zip(v, t.q).map { $0 * (theory.maps.chi1(q: $1) + a * a) }
        }
        return Prediction(quantities: 1, theory: theory) { _, l in chi[l - 1] }
    }

    /// χ^l of a feedforward net, or of a convolutional one over positions × inputs (Labatie
    /// 2019's CNNs), with Tr C the centred trace of the B·P × B·P covariance
    /// (``TheoryContext/positionPairLayers``; P = 1 and the inputs' own covariance for a fully
    /// connected net, where 𝒜 below is the identity and C₀ = N₀).
    ///
    /// The noise: a few input channels (C₀ = 3 for images, N₀ = 2 for points in the plane)
    /// make the input noise dx_p at a position correlated with x_p at O(1/C₀) —
    /// `r_p = x_p·dx_p/C₀` has `E r_p² = q⁰_p/C₀`, an O(1) share of the signal for small C₀, not
    /// a finite-width effect — and so h and dh of one channel are jointly Gaussian,
    /// `(u, v) ~ N(0, [[q, r], [r, s]])`. Per input, the noise variance `s_p` at each position
    /// and the second moments `R_pp′ = E r_p r_p′` of the cross terms (over the noise) close
    /// under the layer maps, with 𝒜 the footprint average (Xiao et al. 2018) and the taps of
    /// both factors shared:
    ///
    /// - through ω ⋆ ·: `s^h = σ_w² 𝒜(s^x)`, `R^h_pp′ = σ_w⁴ k^{−2d} Σ_{t,t′} R^x_{p+t,p′+t′}`;
    /// - through φ: `R^x_pp′ = α_p α_p′ R^h_pp′`, `α = E[φ φ′(u) u]/q`, and
    ///   `s^x_p = R^h_pp (E[φ′(u)² u²]/q² − E[φ′(u)²]/q) + s^h_p E[φ′(u)²]`
    ///   (v = (r/q) u + √(s − r²/q) z);
    ///
    /// from `s⁰ = 1`, `R⁰_pp′ = δ_pp′ q⁰_p/C₀`. The noise at layer l is the mean of s^h over
    /// inputs and positions, and `χ^l = (Tr C^0 · mean s^h / Tr C^l)^{1/2}`: every term is
    /// linear in the iid per-position noise norms, so this is the expectation of the measured
    /// noise ratio exactly; only the square root of a ratio fluctuating at O((B·P)^{−1/2}/C₀)
    /// over the noise is left out.
    private func predictWithInputCorrelation(_ theory: TheoryContext) -> Prediction {
        let network = theory.network, p = network.positions, b = theory.batch, n = b * p
        let conv = network.architecture.composition(network).pre.first as? Convolution
        let layers = p > 1 ? theory.positionPairLayers : theory.layers
        guard p == 1 || conv != nil, !layers.isEmpty else { return .none(quantities: 1, depth: network.depth) }
        let sigma2 = network.sigmaW * network.sigmaW / network.varianceDivisor
        let input = p > 1 ? theory.inputs.moments(positions: p) : theory.inputs.moments
        let channels = Double(theory.inputs.dimension / p)
        let signal0 = GramGeometry.centredTrace(input.covariance, count: n)
        let phi = network.activation, quadrature = theory.maps.quadrature
        /// The footprint average of a per-position field (the field itself without positions).
        func average(_ f: (Int) -> Double, at q: Int) -> Double {
            guard let conv else { return f(q) }
            return conv.footprint.reduce(0.0) { $0 + f(conv.shifted(q, by: $1)) } / Double(conv.footprint.count)
        }
        var noise = [[Double]](repeating: [Double](repeating: 1, count: p), count: b)
        var cross = (0..<b).map { a in
            (0..<(p * p)).map { $0 / p == $0 % p ? input.variance(a * p + $0 / p) / channels : 0 }
        }
        var chi: [Double] = []
        for t in layers {
            var mean = 0.0
            for a in 0..<b {
                let s = noise[a], r = cross[a]
                noise[a] = (0..<p).map { q in sigma2 * average({ s[$0] }, at: q) }
                // R^h = σ_w⁴ 𝒜 ⊗ 𝒜 (R^x), one axis at a time.
                let rows = (0..<(p * p)).map { k in average({ r[$0 * p + k % p] }, at: k / p) }
                cross[a] = (0..<(p * p)).map { k in sigma2 * sigma2 * average({ rows[(k / p) * p + $0] }, at: k % p) }
                mean += noise[a].reduce(0, +)
            }
            chi.append((signal0 * mean / Double(n) / GramGeometry.centredTrace(t.covariance, count: n)).squareRoot())
            for a in 0..<b {
                let laws = (0..<p).map { q -> (alpha: Double, curvature: Double, slope: Double) in
                    let v = t.q[a * p + q], scale = v.squareRoot(), breaks = phi.breakpoints
                    let alpha = quadrature.expectation(scale: scale, breakpoints: breaks) { phi.value($0) * phi.derivative($0) * $0 }
                        .value / v
                    let square = quadrature.expectation(scale: scale, breakpoints: breaks) { u in
                        let d = phi.derivative(u)
                        return d * d * u * u
                    }.value / (v * v)
                    let slope = theory.maps.chi1(q: v) / sigma2
                    return (alpha, square - slope / v, slope)
                }
                let r = cross[a]
                noise[a] = (0..<p).map { q in r[q * p + q] * laws[q].curvature + noise[a][q] * laws[q].slope }
                cross[a] = (0..<(p * p)).map { k in laws[k / p].alpha * laws[k % p].alpha * r[k] }
            }
        }
        return Prediction(quantities: 1, theory: theory) { _, l in chi[l - 1] }
    }
}
