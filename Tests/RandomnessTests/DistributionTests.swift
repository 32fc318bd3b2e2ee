#if canImport(Glibc)
import Glibc
#endif
import Randomness
import Testing

/// Moments, tails and the Kolmogorov–Smirnov distance of the stream's normals, against
/// N(0, 1). Every tolerance is 5 standard errors of the estimator (or the 10⁻³ KS critical
/// value), with fixed seeds, so the tests are deterministic and a wrong transform fails them.
@Suite struct DistributionTests {
    /// P(|z| > 3) for a standard normal, erfc(3/√2).
    static let tailProbability = 0.0026997960632601913

    /// Φ(x) = erfc(−x/√2)/2.
    static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    /// sup |F_n − F| of the sample against `cdf`.
    static func kolmogorovSmirnov(_ sample: [Double], cdf: (Double) -> Double) -> Double {
        let sorted = sample.sorted()
        let n = Double(sorted.count)
        var d = 0.0
        for (i, x) in sorted.enumerated() {
            let f = cdf(x)
            d = max(d, Double(i + 1) / n - f, f - Double(i) / n)
        }
        return d
    }

    /// Checks mean 0 (SE 1/√n), E z² = 1 (Var z² = 2), E z⁴ = 3 (Var z⁴ = 105 − 9 = 96),
    /// P(|z| > 3) (binomial SE), and D_n < 1.95/√n (KS critical value at level 10⁻³).
    static func checkStandardNormal(_ z: [Double]) {
        let n = Double(z.count)
        var m1 = 0.0, m2 = 0.0, m4 = 0.0, tail = 0.0
        for x in z {
            let x2 = x * x
            m1 += x
            m2 += x2
            m4 += x2 * x2
            if abs(x) > 3 { tail += 1 }
        }
        m1 /= n; m2 /= n; m4 /= n; tail /= n
        #expect(abs(m1) < 5 * (1 / n).squareRoot(), "mean \(m1)")
        #expect(abs(m2 - 1) < 5 * (2 / n).squareRoot(), "second moment \(m2)")
        #expect(abs(m4 - 3) < 5 * (96 / n).squareRoot(), "fourth moment \(m4)")
        let p = tailProbability
        #expect(abs(tail - p) < 5 * (p * (1 - p) / n).squareRoot(), "P(|z|>3) = \(tail)")
        let d = kolmogorovSmirnov(z, cdf: normalCDF)
        #expect(d < 1.95 / n.squareRoot(), "KS distance \(d)")
    }

    @Test func float64Normals() {
        Self.checkStandardNormal(normals(stream(), count: 1 << 21))
    }

    /// Several short streams of different samples together are N(0, 1) as well (the way an
    /// ensemble consumes them).
    @Test func float64NormalsAcrossSamples() {
        var z: [Double] = []
        for sample in 0..<64 as Range<UInt32> {
            z += normals(stream(sample: sample, purpose: .inputs), count: 1 << 14, from: 5)
        }
        Self.checkStandardNormal(z)
    }

    @Test func float32Normals() {
        let z = normals(stream(layer: 9), count: 1 << 20, scale: Float(1))
        Self.checkStandardNormal(z.map { Double($0) })
    }

    @Test func scaledNormals() {
        let sigma = 2.5
        let z = normals(stream(layer: 10), count: 1 << 20, scale: sigma)
        Self.checkStandardNormal(z.map { $0 / sigma })
    }

    /// Uniforms: mean 1/2 (Var 1/12), E u² = 1/3 (Var u² = 1/5 − 1/9 = 4/45), KS against U(0,1).
    @Test func uniformDistribution() {
        let float64 = uniforms(stream(layer: 11), count: 1 << 20)
        let float32 = floatUniforms(stream(layer: 12), count: 1 << 20).map { Double($0) }
        for u in [float64, float32] {
            let n = Double(u.count)
            let m1 = u.reduce(0, +) / n
            let m2 = u.reduce(0) { $0 + $1 * $1 } / n
            #expect(abs(m1 - 0.5) < 5 * (1 / (12 * n)).squareRoot(), "mean \(m1)")
            #expect(abs(m2 - 1.0 / 3) < 5 * (4 / (45 * n)).squareRoot(), "E u² = \(m2)")
            let d = Self.kolmogorovSmirnov(u) { $0 }
            #expect(d < 1.95 / n.squareRoot(), "KS distance \(d)")
        }
    }
}
