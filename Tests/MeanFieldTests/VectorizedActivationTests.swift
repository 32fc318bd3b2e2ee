import Foundation
import MeanField
import Testing

@Suite struct VectorizedActivationTests {
    /// The SIMD tanh against the C library's over 2·10⁵ points from 10⁻³⁰⁰ to 40, both signs:
    /// within 1e-14 relative (its error bound is ≈ 5·10⁻¹⁵, see `Activation.tanh(_:)`), and
    /// exact at 0, ±∞ and NaN.
    @Test func simdTanhMatchesTheLibrary() {
        var xs: [Double] = [0, -0.0, .infinity, -.infinity, 0.125, -0.125, 0.1249999999, 20, 20.000001, 1e-300, 5e-324]
        for k in 0..<100_000 { xs.append(40 * Double(k) / 100_000) }
        for k in 0..<1000 { xs.append(pow(10, -300 + 300 * Double(k) / 1000)) }
        xs += xs.map { -$0 }
        var out = [Double](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { px in out.withUnsafeMutableBufferPointer { Activation.tanh.apply(px, into: $0) } }
        var worst = 0.0
        for (x, y) in zip(xs, out) {
            let exact = tanh(x)
            worst = max(worst, exact == 0 ? abs(y) : abs(y - exact) / abs(exact))
        }
        #expect(worst < 1e-14, "worst relative error \(worst)")
    }

    /// NaN in (a diverged network), NaN out for tanh, in every SIMD lane; relu maps NaN and
    /// −0 to 0 exactly as its scalar form does.
    @Test func nonFiniteLanes() {
        let xs: [Double] = [1, .nan, -2, 0.01, .nan, 3, -0.0, 0.5]
        var out = [Double](repeating: 0, count: 8)
        xs.withUnsafeBufferPointer { px in out.withUnsafeMutableBufferPointer { Activation.tanh.apply(px, into: $0) } }
        for (x, y) in zip(xs, out) { #expect(x.isNaN ? y.isNaN : y == tanh(x) || abs(y - tanh(x)) < 1e-15) }
        xs.withUnsafeBufferPointer { px in out.withUnsafeMutableBufferPointer { Activation.relu.apply(px, into: $0) } }
        for (x, y) in zip(xs, out) {
            let scalar = Activation.relu.value(x)
            #expect(y == scalar && y.sign == scalar.sign, "relu(\(x)) = \(y), scalar \(scalar)")
        }
    }

    /// Every activation's batch path equals its scalar one (relu and linear are SIMD too).
    @Test func batchEqualsScalar() {
        let xs = (0..<1003).map { -6 + 12 * Double($0) / 1002 }
        for phi in [Activation.relu, .linear, .erf, .gelu, .hardTanh] {
            var out = [Double](repeating: 0, count: xs.count)
            xs.withUnsafeBufferPointer { px in out.withUnsafeMutableBufferPointer { phi.apply(px, into: $0) } }
            #expect(zip(xs, out).allSatisfy { phi.value($0) == $1 }, "\(phi.name)")
        }
    }

    /// The batch φ′: tanh's sech² within 1e-14 relative of the scalar 1/cosh² (which keeps
    /// its relative accuracy too) from 0 to 354, where sech² is still a normal number, and 0
    /// beyond 710 as the scalar; NaN kept; relu and linear exactly the scalar values.
    @Test func batchDerivative() {
        var xs: [Double] = [0, -0.0, .infinity, -.infinity, 1e-300]
        for k in 0..<40_000 { xs.append(354 * Double(k) / 40_000) }
        xs += [720, 1e10]
        xs += xs.map { -$0 }
        var out = [Double](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { px in out.withUnsafeMutableBufferPointer { Activation.tanh.applyDerivative(px, into: $0) } }
        var worst = 0.0
        for (x, y) in zip(xs, out) {
            let exact = Activation.tanh.derivative(x)
            worst = max(worst, exact == 0 ? abs(y) / Double.leastNormalMagnitude : abs(y - exact) / exact)
        }
        #expect(worst < 1e-14, "worst relative error \(worst)")
        let probe: [Double] = [1, .nan, -2, 0, -0.0, 3, 0.5, -1e-9, 2]
        var d = [Double](repeating: 0, count: probe.count)
        probe.withUnsafeBufferPointer { px in d.withUnsafeMutableBufferPointer { Activation.tanh.applyDerivative(px, into: $0) } }
        #expect(d[1].isNaN)
        for phi in [Activation.relu, .linear] {
            probe.withUnsafeBufferPointer { px in d.withUnsafeMutableBufferPointer { phi.applyDerivative(px, into: $0) } }
            #expect(zip(probe, d).allSatisfy { phi.derivative($0) == $1 }, "\(phi.name)")
        }
    }
}

