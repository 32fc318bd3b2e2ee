import LinearAlgebra
import MeanField

/// The stream update that ends every layer: `x^l = y` without a skip connection, or
/// `x^l = ν (y + a x^{l−1})` with one (Tarnowski et al. 2019's `x^l = φ(h^l) + a x^{l−1}`;
/// ν = 1/√(1 + a²) when normalised, the usual 1/√2 of a = 1, else 1), on the batch and,
/// linearly, on every tangent column. Rows past N (an input wider than the layer) are
/// cleared, so every later layer reads N rows.
///
/// Mean field, tracking the means `μ_a = E x_{a,i}` (the skip's cross term needs them):
///
///     r^l_ab = ν² (E φ(u_a)φ(u_b) + a (E φ(u_a) μ^{l−1}_b + μ^{l−1}_a E φ(u_b)) + a² r^{l−1}_ab)
///     μ^l_a  = ν (E φ(u_a) + a μ^{l−1}_a)
///
/// with `u = h^l`, independent of `x^{l−1}_{b,i}` at infinite width (Tarnowski et al. 2019).
public struct Skip: LayerMap {
    /// a; nil: no skip connection.
    public let scale: Double?
    /// ν.
    public let normalization: Double

    /// `x^l = y`.
    public static let none = Skip(scale: nil, normalized: false)

    public init(scale: Double?, normalized: Bool) {
        self.scale = scale
        normalization = normalized ? 1 / (1 + (scale ?? 0) * (scale ?? 0)).squareRoot() : 1
    }

    public func propagate(_ state: MeanFieldState) -> MeanFieldState? {
        guard let a = scale else { return state }
        precondition(state.input.normalizedMeans != nil && state.moments.normalizedMeans != nil,
                     "a skip connection's theory needs the means tracked (Composition.tracksMeans)")
        var next = state
        next.moments = ScaledMoments.sum(normalization * a, state.input, normalization, state.moments)
        return next
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) throws(LAPACKError) {
        if scale == nil, network.source.rows == network.output.rows {
            // x^l = y: the two buffers trade places instead of copying (the next affine map
            // overwrites all of `output`).
            swap(&network.source, &network.output)
            return
        }
        let n = network.units, ld = network.source.rows, batch = network.batch
        let a = T(scale ?? 0), nu = T(normalization)
        // After the last layer only the tangents go on.
        let first = network.isLastLayer ? batch : 0, columns = network.columns
        network.output.elements.withUnsafeBufferPointer { po in
            network.source.elements.withUnsafeMutableBufferPointer { ps in
                for c in first..<columns {
                    let o = c * n, s = c * ld
                    if a == 0 {
                        for i in 0..<n { ps[s + i] = po[o + i] }
                    } else {
                        for i in 0..<n { ps[s + i] = nu * (po[o + i] + a * ps[s + i]) }
                    }
                    for i in n..<ld { ps[s + i] = 0 }
                }
            }
        }
    }
}
