#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField

/// The empirical one-sample neural tangent kernel of a sampled network at the batch's first
/// input x, in the NTK parameterisation (Jacot et al. 2018; Karakida, Akaho & Amari 2019):
/// `W^l = (σ_w/√(s N_{l−1})) W̃^l`, `b^l = σ_b b̃^l`, gradients taken in W̃, b̃. With
/// `B_l = ∂h^L/∂h^l` (N×N),
///
///     Θ = Σ_l w_l B_l B_lᵀ,   w_l = σ_w² |x^{l−1}|²/(s N_{l−1}) + σ_b²,
///
/// since `∂h^L/∂W̃^l_ij = (σ_w/√(s N_{l−1})) (B_l)_{:i} x^{l−1}_j`. Backward:
/// `B_L = I`, `G_{L−1} = W^L`, and for l < L `B_l = G_l D^l`, `G_{l−1} = B_l W^l + a G_l`
/// (`G_l = ∂h^L/∂x^l`, D^l = diag φ′(h^l), a the skip scale). The weights are regenerated
/// from their random streams (``Affine/weightMatrix(_:fanIn:)``: counter-based, no matrix is
/// kept from the forward pass), in float64; G is renormalised every layer and Θ accumulated
/// with its log-scale carried, so deep nets give finite logs. Written at the last layer:
/// `ntk_mean`, `ntk_max` and `ntk_cond` (λ_max/λ_min) and, with `ntk = { bins, range }`, all N
/// eigenvalues pooled in a histogram (`ntk_eig` in `spectra.csv`; eigenvalues below ε λ_max are
/// not resolved and left out of the rows, so N·n minus the rows' counts is their number);
/// dense backend only.
///
/// Theory: the mean eigenvalue is the analytic `Θ^L(x, x)` (Jacot et al. 2018, eq. 6) for
/// feedforward nets; the histogram has none (Θ is a weighted sum of the non-free B_l B_lᵀ).
public struct EmpiricalNTK: Observable {
    public static let entry = ObservableEntry(
        key: "ntk", placement: .key,
        summary: "true | { bins, range }: one-sample NTK at the last layer, its eigenvalue histogram (dense)",
        parse: { context throws(ConfigError) in
            let section = context.section
            guard let value = section.table["ntk"] else { return nil }
            if value.table != nil, let t = try section.table("ntk") {
                try t.allow(["bins", "range"])
                try JacobianSpectrum.refuseWithoutSingleInputJacobian("observe.ntk", context)
                let (bins, range) = try t.histogram(bins: 120, range: 1e-6...1e6, of: "Θ's eigenvalues")
                return EmpiricalNTK(histogram: (bins, range))
            }
            guard let on = value.bool else {
                throw ConfigError(key: section.key("ntk"), "expected true, false or a table { bins, range }, got \(value.described)")
            }
            guard on else { return nil }
            try JacobianSpectrum.refuseWithoutSingleInputJacobian("observe.ntk", context)
            return EmpiricalNTK()
        })

    /// The eigenvalue histogram's bins and log-spaced range, or nil for the three scalars only.
    public let histogram: (bins: Int, range: ClosedRange<Double>)?

    /// Per layer l (index l − 1): φ′(h^l) at the batch's first input, and
    /// ln(σ_w²|x^{l−1}|²/(s N_{l−1}) + σ_b²), the weight of layer l's parameters.
    private var derivatives: [[Double]] = []
    private var logWeights: [Double] = []

    public init(histogram: (bins: Int, range: ClosedRange<Double>)? = nil) {
        self.histogram = histogram
    }

    public func quantities(_ shape: NetworkShape) -> [String] { ["ntk_mean", "ntk_max", "ntk_cond"] }

    public func histograms(_ shape: NetworkShape) -> [HistogramSlot] {
        histogram.map { [HistogramSlot(layer: shape.spec.depth, observable: "ntk_eig", range: $0.range, bins: $0.bins)] } ?? []
    }

    public var needsDenseWeights: String? { "the empirical NTK (observe.ntk) needs the dense backend" }

    /// Θ, its eigen-solver copy, B, G, the next G, W and (orthogonal) the Haar work matrix,
    /// and the recorded φ′, in float64.
    public func extraBytes(_ shape: NetworkShape, scalarSize: Int) -> Int {
        let n = shape.spec.width
        return (7 * n * n + n * shape.spec.depth) * 8
    }

    /// A GEMM and a syrk per layer (3 N³), the eigenvalues at the end (≈ 4 N³), at about half
    /// the GEMM rate (regenerated normals and column scaling between the BLAS calls).
    public func extraFlops(_ shape: NetworkShape) -> Double {
        2 * (3 * Double(shape.spec.depth) + 4) * pow(Double(shape.spec.width), 3)
    }

    public var normalizedOptions: [String: ManifestValue] {
        guard let h = histogram else { return ["ntk": .bool(true)] }
        return ["ntk": .table(["bins": .integer(h.bins), "range": .list([.real(h.range.lowerBound), .real(h.range.upperBound)])])]
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func beginNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>, slot: Slot)
        throws(LAPACKError) {
        derivatives = [[Double]](repeating: [], count: network.spec.depth)
        logWeights = [Double](repeating: 0, count: network.spec.depth)
    }

    /// Records w_l before layer l's affine map (`source` column 0 holds x^{l−1}).
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func beginLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) {
        let spec = network.spec, fanIn = network.fanIn
        var squares = 0.0
        for i in 0..<fanIn { let v = Double(network.source[i, 0]); squares += v * v }
        let sigma2 = spec.sigmaW * spec.sigmaW / spec.varianceDivisor
        let logWeight = log(sigma2 * squares / Double(fanIn)) + 2 * network.forwardLogScale
        let logBias = 2 * log(spec.sigmaB)
        let top = Swift.max(logWeight, logBias)
        logWeights[network.layer - 1] = top.isFinite ? top + log(exp(logWeight - top) + exp(logBias - top)) : top
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func preActivation<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                          into statistics: inout EnsembleStatistics,
                                                                          slot: Slot) throws(LAPACKError) {
        let phi = network.spec.activation
        derivatives[network.layer - 1] = (0..<network.width).map { phi.derivative(Double(network.output.elements[$0])) }
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func endNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                       into statistics: inout EnsembleStatistics,
                                                                       slot: Slot) throws(LAPACKError) {
        let (eigenvalues, logScale) = try kernel(network)
        let scale = exp(logScale)
        let mean = eigenvalues.reduce(0, +) / Double(eigenvalues.count) * scale
        let largest = eigenvalues.last ?? 0, smallest = eigenvalues.first ?? 0
        statistics.add(layer: network.spec.depth,
                       [mean, largest * scale, smallest > 0 ? largest / smallest : .infinity], at: slot)
        // A diverged Θ (NaN from φ′ of a non-finite h) has no spectrum to pool.
        guard histogram != nil, eigenvalues.allSatisfy(\.isFinite) else { return }
        let floor = Double.ulpOfOne * largest
        for v in eigenvalues {
            if v > floor, v > 0 {
                statistics.histograms[slot.histograms.lowerBound].add(logValue: log(v) + logScale)
            } else {
                statistics.histograms[slot.histograms.lowerBound].flagBelowFloor()
            }
        }
    }

    /// The eigenvalues of Θ̃ (ascending) and ln of the scale s with Θ = s Θ̃, after the forward
    /// pass recorded D^l and w_l.
    private func kernel<T: BLASScalar & GaussianFillable>(_ network: SampledNetwork<T>) throws(LAPACKError)
        -> (eigenvalues: [Double], logScale: Double) {
        let n = network.width, depth = network.spec.depth, a = network.spec.architecture.residualScale
        let affine = Affine(spec: network.spec)
        func weights(_ layer: Int) throws(LAPACKError) -> Matrix<Double> {
            try affine.weightMatrix(network.stream(.weights, layer: layer), fanIn: layer == 1 ? network.inputDimension : n)
        }
        var theta = Matrix<Double>(rows: n, columns: n)
        var logTheta = -Double.infinity
        /// Θ += e^{logWeight + 2 logScale} B Bᵀ, Θ kept as Θ̃ e^{logTheta}.
        func add(_ b: Matrix<Double>, logScale: Double, logWeight: Double) {
            let logTerm = logWeight + 2 * logScale
            guard logTerm.isFinite else { return }
            if logTerm > logTheta {
                if logTheta.isFinite {
                    let shrink = exp(logTheta - logTerm)
                    for i in theta.elements.indices { theta.elements[i] *= shrink }
                }
                logTheta = logTerm
            }
            theta.addOuterGram(b, alpha: exp(logTerm - logTheta))
        }
        add(.identity(n), logScale: 0, logWeight: logWeights[depth - 1])
        if depth >= 2 {
            var g = try weights(depth), logG = 0.0
            for l in stride(from: depth - 1, through: 1, by: -1) {
                var b = g
                let d = derivatives[l - 1]
                for j in 0..<n { for i in 0..<n { b[i, j] *= d[j] } }
                add(b, logScale: logG, logWeight: logWeights[l - 1])
                guard l > 1 else { break }
                var next = Matrix<Double>.product(b, try weights(l))
                if a != 0 { for i in next.elements.indices { next.elements[i] += a * g.elements[i] } }
                var squares = 0.0
                for v in next.elements { squares += v * v }
                let rms = (squares / Double(n)).squareRoot()
                if rms > 0, rms.isFinite {
                    for i in next.elements.indices { next.elements[i] /= rms }
                    logG += log(rms)
                }
                g = next
            }
        }
        for j in 0..<n { for i in (j + 1)..<n { theta[i, j] = theta[j, i] } }
        return (try theta.symmetricEigenvalues(), logTheta)
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        let histograms = histogram == nil ? 0 : 1
        guard case .feedforward = theory.network.architecture else {
            return .none(quantities: 3, depth: theory.network.depth, histograms: histograms)
        }
        let kernel = theory.network.meanField(inputGram: [theory.inputs.gram[0, 0]], count: 1).map(\.covariance)
        let diagonal = theory.maps.neuralTangentKernel(nngp: kernel, count: 1).last?[0]
        var prediction = Prediction(quantities: 3, theory: theory) { k, _ in k == 0 ? diagonal : nil }
        prediction.spectra = Array(repeating: nil, count: histograms)
        prediction.limitSpectra = prediction.spectra
        return prediction
    }
}
