#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField

/// The nonlinearity `y = φ(h)` on the batch columns, and `dy = φ′(h) ⊙ dh` on the tangent
/// columns (at the batch's first input, or at each column's own input: ``TangentColumns``).
///
/// Mean field: `x_a·x_b/N → E φ(u_a) φ(u_b)`, `u ~ N(0, q)` (Poole et al. 2016, eq. 3 and
/// the covariance map of their eq. 5), and where a skip needs them the means `E φ(u_a)`,
/// at any size of q (``MeanFieldMaps/activationMoments(_:)``).
///
/// For a positively homogeneous φ in a net without normalisation, the stored batch (and
/// the stream it is added to) is divided by a power of two whenever it leaves 2^±256,
/// the factor's log carried in ``SampledNetwork/forwardLogScale`` (biases are drawn divided
/// by it), so a deep chaotic ReLU net keeps finite numbers; its measured q then overflows
/// honestly to ∞ (reported as diverged) while its Jacobian stays exact. After the last
/// layer no batch output is needed and none is computed.
public struct Nonlinearity: LayerMap {
    public let activation: Activation
    /// Whether the batch may be rescaled by powers of two (no normalisation keeps h of order 1).
    public let rescales: Bool
    let kernel: MeanFieldMaps

    public init(_ activation: Activation, rescales: Bool) {
        self.activation = activation
        self.rescales = rescales && activation.isPositivelyHomogeneous
        kernel = MeanFieldMaps(activation: activation, sigmaW: 1, sigmaB: 0)
    }

    public func propagate(_ state: MeanFieldState) -> MeanFieldState? {
        var next = state
        // A convolutional state: only its tracked pairs (each entry mapped on its own).
        let tracked: ((Int, Int) -> Bool)? = state.positions > 1 ? { state.tracks($0, $1) } : nil
        next.moments = kernel.activationMoments(state.moments, tracked: tracked)
        return next
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) throws(LAPACKError) {
        differentiateTangents(&network)
        guard !network.isLastLayer else { return }
        if rescales { rescaleForward(&network) }
        let n = network.units, batch = network.batch, phi = activation
        // φ(h) over h in place, one pass: float64 through the SIMD path, float32 element by element.
        network.output.elements.withUnsafeMutableBufferPointer { po in
            if T.self == Double.self {
                UnsafeMutableRawPointer(po.baseAddress!).withMemoryRebound(to: Double.self, capacity: n * batch) { h in
                    phi.apply(UnsafeBufferPointer(start: h, count: n * batch), into: UnsafeMutableBufferPointer(start: h, count: n * batch))
                }
            } else {
                for i in 0..<(n * batch) { po[i] = T(phi.value(Double(po[i]))) }
            }
        }
    }

    /// `dh ← φ′(h_a) ⊙ dh` on every tangent column of `output`, a = 0 or the column's own input.
    private func differentiateTangents<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) {
        let n = network.units, batch = network.batch, columns = network.columns, phi = activation
        guard columns > batch else { return }
        let kinds = network.tangentDerivative, inputs = network.tangentInput
        network.output.elements.withUnsafeMutableBufferPointer { po in
            network.scratch.withUnsafeMutableBufferPointer { pd in
                network.ownDerivative.withUnsafeMutableBufferPointer { pn in
                    if kinds.contains(.firstInput) {
                        for i in 0..<n { pd[i] = T(phi.derivative(Double(po[i]))) }
                    }
                    for c in batch..<columns {
                        let o = c * n
                        guard kinds[c - batch] == .ownInput else {
                            for i in 0..<n { po[o + i] = pd[i] * po[o + i] }
                            continue
                        }
                        // φ′ at the column's own input b (float64: the SIMD path).
                        let h = inputs[c - batch] * n
                        if T.self == Double.self {
                            UnsafeRawPointer(po.baseAddress! + h).withMemoryRebound(to: Double.self, capacity: n) { x in
                                UnsafeMutableRawPointer(pn.baseAddress!).withMemoryRebound(to: Double.self, capacity: n) { y in
                                    phi.applyDerivative(UnsafeBufferPointer(start: x, count: n),
                                                        into: UnsafeMutableBufferPointer(start: y, count: n))
                                }
                            }
                        } else {
                            for i in 0..<n { pn[i] = T(phi.derivative(Double(po[h + i]))) }
                        }
                        for i in 0..<n { po[o + i] = pn[i] * po[o + i] }
                    }
                }
            }
        }
    }

    /// Divides h (and the stream it will be added to) by 2^e when its largest entry leaves
    /// [2^-k, 2^k], k a quarter of T's exponent range (256 for Double, 32 for Float), so that
    /// the next layer's h and the Gram's squares stay within T; exact in binary floating point.
    private func rescaleForward<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) {
        let n = network.units, ld = network.source.rows, batch = network.batch
        var largest = 0.0
        for c in 0..<batch { for i in 0..<n { largest = max(largest, abs(Double(network.output.elements[c * n + i]))) } }
        guard let e = Self.rescaleExponent(largest: largest, T.self) else { return }
        let factor = T(exp2(-e))
        for c in 0..<batch {
            for i in 0..<n {
                network.output.elements[c * n + i] *= factor
                network.source.elements[c * ld + i] *= factor
            }
        }
        network.forwardLogScale += e * log(2)
    }

    /// The e of the rescaling by 2^−e for a batch whose largest |h| is `largest`: nil while it
    /// is within [2^-k, 2^k] (k a quarter of T's exponent range), zero or not finite.
    static func rescaleExponent<T: BinaryFloatingPoint>(largest: Double, _: T.Type) -> Double? {
        let k = Double((Int(T.greatestFiniteMagnitude.exponent) + 1) / 4)
        guard largest > exp2(k) || (largest < exp2(-k) && largest > 0), largest.isFinite else { return nil }
        return Double(Int(log2(largest)))
    }
}
