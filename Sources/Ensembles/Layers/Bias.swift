#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import Randomness

/// The bias `h ← h + b 1ᵀ`, `b_i ~ N(0, σ_b²)` from stream `(…, sample, l, biases)`, on the
/// batch columns (tangents have no bias); a convolution's, one per channel at every position. Drawn divided by the batch's carried scale
/// `e^{forwardLogScale}`, so it adds to the stored activations at their true size.
///
/// Mean field: `q_ab ← q_ab + σ_b²` (Poole et al. 2016, eq. 3).
public struct Bias: LayerMap {
    public let sigmaB: Double

    public init(sigmaB: Double) { self.sigmaB = sigmaB }

    public func propagate(_ state: MeanFieldState) -> MeanFieldState? {
        var next = state
        next.moments = state.moments.adding(sigmaB * sigmaB)
        return next
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) throws(LAPACKError) {
        guard sigmaB > 0 else { return }
        let n = network.width, units = network.units, batch = network.batch, biases = network.stream(.biases)
        let scale = T(sigmaB * exp(-network.forwardLogScale))
        network.bias.withUnsafeMutableBufferPointer { pb in
            T.fillStandardNormal(biases, pb, from: 0, scale: scale)
            network.output.elements.withUnsafeMutableBufferPointer { ph in
                for a in 0..<batch {
                    // One bias per channel, the same at every position (rows channel fastest).
                    for p in stride(from: 0, to: units, by: n) { for i in 0..<n { ph[p + i + a * units] += pb[i] } }
                }
            }
        }
    }
}
