#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import Randomness

/// The empirical one-sample neural tangent kernel of a sampled network (Jacot et al. 2018;
/// Karakida, Akaho & Amari 2019; seed 003), at the batch's first input x, in the NTK
/// parameterisation (`W^l = (σ_w/√(s N_{l−1})) W̃^l`, `b^l = σ_b b̃^l`, gradients taken in
/// W̃, b̃): with `B_l = ∂h^L/∂h^l` (N×N),
///
///     Θ = Σ_l w_l B_l B_lᵀ,   w_l = σ_w² |x^{l−1}|²/(s N_{l−1}) + σ_b²,
///
/// since `∂h^L/∂W̃^l_ij = (σ_w/√(s N_{l−1})) (B_l)_{:i} x^{l−1}_j`. Backward:
/// `B_L = I`, `G_{L−1} = W^L`, and for l < L `B_l = G_l D^l`, `G_{l−1} = B_l W^l + a G_l`
/// (`G_l = ∂h^L/∂x^l`, D^l = diag φ′(h^l), a the skip scale). The weights are regenerated
/// from their random streams (counter-based: no matrix is kept from the forward pass), in
/// float64; G is renormalised every layer and Θ accumulated with its log-scale carried, so
/// deep nets give finite logs. The infinite-width mean eigenvalue is the analytic Θ^L(x, x).
extension NetworkSampler {
    /// Records w_l before layer l's affine map (`source` column 0 holds x^{l−1}).
    mutating func recordNTKWeight(layer: Int, fanIn: Int) {
        var squares = 0.0
        for i in 0..<fanIn { let v = Double(source[i, 0]); squares += v * v }
        let sigma2 = spec.sigmaW * spec.sigmaW / spec.varianceDivisor
        let logWeight = log(sigma2 * squares / Double(fanIn)) + 2 * forwardLogScale
        let logBias = 2 * log(spec.sigmaB)
        let top = Swift.max(logWeight, logBias)
        ntkLogWeights[layer - 1] = top.isFinite ? top + log(exp(logWeight - top) + exp(logBias - top)) : top
    }

    /// W^l as `affine` applies it (N × fanIn), regenerated from stream (…, sample, l, weights).
    func weightMatrix(layer: Int, sample: Int) throws(LAPACKError) -> Matrix<Double> {
        let n = spec.width, fanIn = layer == 1 ? inputDimension : n
        let stream = RandomStream(StreamID(seed: seed, point: UInt32(point), sample: UInt32(sample), layer: UInt32(layer),
                                           purpose: .weights))
        let sigmaW = spec.sigmaW / spec.varianceDivisor.squareRoot()
        switch spec.weightInit {
        case .gaussian:
            return Matrix<Double>.gaussian(rows: n, columns: fanIn, scale: sigmaW / Double(fanIn).squareRoot(), stream: stream)
        case .orthogonal:
            let tall = n >= fanIn
            let o = try Matrix<Double>.haarOrthogonal(rows: max(n, fanIn), columns: min(n, fanIn), stream: stream)
            let alpha = sigmaW * (tall ? (Double(n) / Double(fanIn)).squareRoot() : 1)
            var w = Matrix<Double>(rows: n, columns: fanIn)
            for j in 0..<fanIn { for i in 0..<n { w[i, j] = alpha * (tall ? o[i, j] : o[j, i]) } }
            return w
        }
    }

    /// (mean eigenvalue, largest eigenvalue, λ_max/λ_min) of Θ for network `sample`, after
    /// its forward pass recorded D^l and w_l.
    mutating func empiricalNTK(sample: Int) throws(LAPACKError) -> (Double, Double, Double) {
        let n = spec.width, depth = spec.depth, a = spec.architecture.residualScale
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
        add(.identity(n), logScale: 0, logWeight: ntkLogWeights[depth - 1])
        if depth >= 2 {
            var g = try weightMatrix(layer: depth, sample: sample), logG = 0.0
            for l in stride(from: depth - 1, through: 1, by: -1) {
                var b = g
                let d = ntkDerivatives[l - 1]
                for j in 0..<n { for i in 0..<n { b[i, j] *= d[j] } }
                add(b, logScale: logG, logWeight: ntkLogWeights[l - 1])
                guard l > 1 else { break }
                var next = Matrix<Double>.product(b, try weightMatrix(layer: l, sample: sample))
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
        let eigenvalues = try theta.symmetricEigenvalues()
        let scale = exp(logTheta)
        let mean = eigenvalues.reduce(0, +) / Double(n) * scale
        let largest = (eigenvalues.last ?? 0) * scale, smallest = eigenvalues.first ?? 0
        return (mean, largest, smallest > 0 ? (eigenvalues.last ?? 0) / smallest : .infinity)
    }
}
