import LinearAlgebra

/// Batch norm of the pre-activations at initialisation (Ioffe & Szegedy 2015; no learned
/// scale or shift): every neuron (row of the N×B batch; in a convolutional net every channel,
/// over the batch and the positions, as Ioffe & Szegedy normalise feature maps) normalised across the batch,
/// `(h_ib − μ_i)/σ_i` with the population σ_i (two passes: nearly collapsed batches have
/// σ_i ≪ |μ_i|), or without centring `h_ib/√(mean_b h_ib²)` — Daneshmand, Joudaki & Bach's
/// (2021) `BN(M) = diag(MMᵀ)^{−1/2} M`, whose rows need not sum to 0, so HᵀH can approach a
/// multiple of I. A row with nothing to normalise (σ_i = 0) becomes 0.
///
/// Tangent columns pass through with the statistics frozen, `dn = dz/σ_i`: Labatie's (2019)
/// BN normalises by moments over the input distribution, which an infinitesimal
/// perturbation of the inputs does not move. (Differentiating the batch's own μ, σ would
/// project out 2 of the B directions per layer, a (1 − 2/B)^l finite-batch loss.)
///
/// Mean field: none here. BN couples the inputs of the batch, so the layer is not a
/// Gaussian map of each pair's covariance; `propagate` reports no theory.
public struct BatchNorm: LayerMap {
    public let centred: Bool

    public init(centred: Bool) { self.centred = centred }

    public func propagate(_ state: MeanFieldState) -> MeanFieldState? { nil }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) throws(LAPACKError) {
        // Channel i of row r = i + C·p (C = N and P = 1 for a fully connected net).
        let n = network.width, units = network.units, batch = network.batch, columns = network.columns
        let inverseCount = 1 / Double(batch * network.spec.positions)
        var mean = [Double](repeating: 0, count: n), scale = [Double](repeating: 0, count: n)
        network.output.elements.withUnsafeMutableBufferPointer { po in
            if centred {
                for b in 0..<batch {
                    for p in stride(from: b * units, to: (b + 1) * units, by: n) { for i in 0..<n { mean[i] += Double(po[p + i]) } }
                }
                for i in 0..<n { mean[i] *= inverseCount }
            }
            for b in 0..<batch {
                for p in stride(from: b * units, to: (b + 1) * units, by: n) {
                    for i in 0..<n { let d = Double(po[p + i]) - mean[i]; scale[i] += d * d }
                }
            }
            for i in 0..<n { scale[i] = scale[i] > 0 ? 1 / (scale[i] * inverseCount).squareRoot() : 0 }
            for b in 0..<batch {
                for p in stride(from: b * units, to: (b + 1) * units, by: n) {
                    for i in 0..<n { po[p + i] = T((Double(po[p + i]) - mean[i]) * scale[i]) }
                }
            }
            for c in batch..<columns {
                for p in stride(from: c * units, to: (c + 1) * units, by: n) { for i in 0..<n { po[p + i] = T(Double(po[p + i]) * scale[i]) } }
            }
        }
    }
}
