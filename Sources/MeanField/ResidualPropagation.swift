extension MeanFieldMaps {
    /// `E φ(√q z)`, the mean of a unit's activation at pre-activation variance q.
    public func activationMean(q: Double) -> Double {
        precondition(q >= 0, "q must be non-negative")
        let phi = activation
        return quadrature.expectation(scale: q.squareRoot(), breakpoints: phi.breakpoints) { phi.value($0) }.value
    }

    /// Layer-by-layer theory for a residual net `x^l = φ(h^l) + a x^{l−1}`,
    /// `h^l = W^l x^{l−1} + b^l`, `W_ij ~ N(0, σ_w²/(N·s))` with `s = L` (Tarnowski et al.
    /// 2019, seed 002; `weight_scaling = "width*depth"`) or `s = 1` (`"width"`).
    ///
    /// Tracks the second moments `r^l_ab = x^l_a·x^l_b/N` and the means `μ^l_a = E x^l_{a,i}`
    /// (DESIGN §2): with `u_a = h^l_a`, independent of `x^{l−1}_{b,i}` at infinite width,
    ///
    ///     q^l_ab = σ_w² r^{l−1}_ab / s + σ_b²
    ///     r^l_ab = E φ(u_a)φ(u_b) + a (E φ(u_a) μ^{l−1}_b + μ^{l−1}_a E φ(u_b)) + a² r^{l−1}_ab
    ///     μ^l_a  = E φ(u_a) + a μ^{l−1}_a
    ///
    /// starting from the inputs' `r^0 = G0` and means `μ^0`. Returns the pre-activation
    /// covariances `q^l` (what the sampler measures), layer 1 first.
    public func propagateResidual(inputGram: [Double], inputMeans: [Double], count: Int, depth: Int,
                                  scale a: Double, varianceDivisor s: Double) -> [LayerTheory] {
        precondition(count >= 1 && inputGram.count == count * count && inputMeans.count == count,
                     "inputGram must be count × count and inputMeans count long")
        precondition(depth >= 0 && s > 0, "depth must be non-negative and the divisor positive")
        var r = inputGram, mu = inputMeans
        var layers: [LayerTheory] = []
        layers.reserveCapacity(depth)
        for layer in 0..<depth {
            let q = r.map { weightVariance * $0 / s + biasVariance }
            layers.append(LayerTheory(layer: layer + 1, covariance: q, count: count))
            let means = (0..<count).map { activationMean(q: q[$0 * count + $0]) }
            var next = r
            for i in 0..<count {
                for j in i..<count {
                    let phiPhi = secondMoment(qaa: q[i * count + i], qbb: q[j * count + j], qab: q[i * count + j])
                    let value = phiPhi + a * (means[i] * mu[j] + mu[i] * means[j]) + a * a * r[i * count + j]
                    next[i * count + j] = value
                    next[j * count + i] = value
                }
            }
            r = next
            mu = (0..<count).map { means[$0] + a * mu[$0] }
        }
        return layers
    }
}
