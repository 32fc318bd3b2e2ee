import LinearAlgebra
import MeanField

/// Layer norm of the pre-activations at initialisation (Ba, Kiros & Hinton 2016, eq. 4,
/// without the learned gain and bias): each input's pre-activation vector centred and
/// scaled to unit variance across its N units, `(h_ia − μ_a)/σ_a` with the population σ_a
/// (two passes in float64); a vector with nothing to normalise (σ_a = 0) becomes 0.
///
/// Mean field: the normalisation fixes every length to 1 and keeps the correlations,
/// `q_ab ← q_ab/√(q_aa q_bb)`. The centring subtracts each input's mean over its units,
/// which is O(1/√N) (every unit's h_ia has mean 0), so it moves the covariance at O(1/N)
/// only and the infinite-width map leaves it out.
///
/// No tangent column crosses it: the JVP through layer norm's own statistics (a rank-two
/// projection per input) is not implemented, so the observables that ride on tangents
/// refuse layer-norm nets (``Architecture/tangentsUnavailable``).
public struct LayerNorm: LayerMap {
    public init() {}

    public func propagate(_ state: MeanFieldState) -> MeanFieldState? {
        var next = state
        next.moments = state.moments.correlations
        return next
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) throws(LAPACKError) {
        precondition(network.columns == network.batch, "layer norm carries no tangent columns")
        let n = network.width, batch = network.batch
        network.output.elements.withUnsafeMutableBufferPointer { po in
            for a in 0..<batch {
                let o = a * n
                var mean = 0.0
                for i in 0..<n { mean += Double(po[o + i]) }
                mean /= Double(n)
                var variance = 0.0
                for i in 0..<n { let d = Double(po[o + i]) - mean; variance += d * d }
                variance /= Double(n)
                let scale = variance > 0 ? 1 / variance.squareRoot() : 0
                for i in 0..<n { po[o + i] = T((Double(po[o + i]) - mean) * scale) }
            }
        }
    }
}
