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
        var nan = [Double.nan]
        var nanOut = [0.0]
        nan.withUnsafeBufferPointer { px in nanOut.withUnsafeMutableBufferPointer { Activation.tanh.apply(px, into: $0) } }
        #expect(nanOut[0].isNaN)
        _ = nan.popLast()
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
}
