#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The second moments `Σ_ab` of B vectors, and where they are tracked their first moments
/// `μ_a`, each vector carrying its own power-of-two scale:
///
///     Σ_ab = 2^(e_a + e_b) K_ab,     μ_a = 2^(e_a) m_a,     K_aa ∈ [1, 4) (or 0).
///
/// Mean-field lengths leave Double's range long before anything in them is singular: a
/// relu net at σ_w = 4 has q^l = 16·8^(l−1), past 10³⁰⁸ at l ≈ 341, and a vanishing tanh
/// net at σ_w = 0.1 falls like 10^(−2l). Held this way every length stays exact wherever
/// the exponents fit in an `Int`, and correlations `K_ab/√(K_aa K_bb)` never overflow or
/// underflow. Scaling by a power of two is exact, so every map evaluated through this type
/// gives the same bits as on the plain matrix wherever the plain matrix is representable.
public struct ScaledMoments: Sendable, Codable, Equatable {
    /// B.
    public let count: Int
    /// `e_a`.
    public private(set) var exponents: [Int]
    /// `K_ab`, row-major.
    public private(set) var normalized: [Double]
    /// `m_a`, where first moments are tracked.
    public private(set) var normalizedMeans: [Double]?

    /// The moments `Σ_ab` (row-major, finite, positive semi-definite diagonal) and `μ_a`.
    public init(covariance: [Double], means: [Double]? = nil, count: Int) {
        self.init(exponents: [Int](repeating: 0, count: count), normalized: covariance, means: means, count: count)
    }

    /// `Σ_ab = 2^(e_a + e_b) K_ab` and `μ_a = 2^(e_a) m_a` for any finite K and m.
    public init(exponents: [Int], normalized: [Double], means: [Double]?, count: Int) {
        precondition(exponents.count == count && normalized.count == count * count
                     && (means?.count ?? count) == count, "ScaledMoments: shapes do not match B = \(count)")
        self.count = count
        self.exponents = exponents
        self.normalized = normalized
        normalizedMeans = means
        renormalize()
    }

    /// The same moments without the means.
    public func droppingMeans() -> ScaledMoments {
        ScaledMoments(exponents: exponents, normalized: normalized, means: nil, count: count)
    }

    /// `μ_a`, rounded to Double (0 where means are not tracked).
    public func mean(_ a: Int) -> Double { normalizedMeans.map { Self.scale($0[a], by: exponents[a]) } ?? 0 }

    /// `Σ_ab`, rounded to Double: ±∞ beyond its range, 0 (or a subnormal) below it.
    public func value(_ a: Int, _ b: Int) -> Double {
        Self.scale(normalized[a * count + b], by: exponents[a] + exponents[b])
    }

    /// `Σ_aa`, rounded to Double.
    public func variance(_ a: Int) -> Double { value(a, a) }

    /// log₂ Σ_aa, exact to rounding at any size; −∞ for a zero variance.
    public func log2Variance(_ a: Int) -> Double {
        let k = normalized[a * count + a]
        return k > 0 ? Double(2 * exponents[a]) + log2(k) : -.infinity
    }

    /// The whole Σ, row-major, rounded to Double.
    public var covariance: [Double] {
        var sigma = [Double](repeating: 0, count: count * count)
        for a in 0..<count { for b in 0..<count { sigma[a * count + b] = value(a, b) } }
        return sigma
    }

    /// `μ_a` rounded to Double, where tracked.
    public var means: [Double]? {
        normalizedMeans.map { m in (0..<count).map { Self.scale(m[$0], by: exponents[$0]) } }
    }

    /// `c_ab = Σ_ab/√(Σ_aa Σ_bb)`, clamped to [−1, 1]; nil when either variance is 0.
    public func correlation(_ a: Int, _ b: Int) -> Double? {
        let kaa = normalized[a * count + a], kbb = normalized[b * count + b]
        guard kaa > 0 && kbb > 0 else { return nil }
        return Swift.min(1, Swift.max(-1, normalized[a * count + b] / (kaa * kbb).squareRoot()))
    }

    /// `Σ_ab` in units of `2^(e_a + e_b)`, `K_ab`.
    public func normalized(_ a: Int, _ b: Int) -> Double { normalized[a * count + b] }

    /// Every moment times `factor` (Σ by `factor`, μ by its square root): factor > 0, finite.
    public func scaled(by factor: Double) -> ScaledMoments {
        precondition(factor > 0 && factor.isFinite, "ScaledMoments: a scale factor must be positive and finite")
        let root = factor.squareRoot()
        return ScaledMoments(exponents: exponents, normalized: normalized.map { $0 * factor },
                             means: normalizedMeans?.map { $0 * root }, count: count)
    }

    /// `Σ_ab + v` for every pair (an independent shared term, e.g. a bias variance): v ≥ 0.
    public func adding(_ v: Double) -> ScaledMoments {
        guard v > 0 else { return self }
        var k = normalized
        for a in 0..<count {
            for b in 0..<count { k[a * count + b] += Self.scale(v, by: -exponents[a] - exponents[b]) }
        }
        return ScaledMoments(exponents: exponents, normalized: k, means: normalizedMeans, count: count)
    }

    /// The moments of `z = p x + q y` for x, y independent but for their means (a skip
    /// connection, Tarnowski et al. 2019):
    ///
    ///     Σ^z_ab = p² Σ^x_ab + q² Σ^y_ab + p q (μ^x_a μ^y_b + μ^y_a μ^x_b),   μ^z = p μ^x + q μ^y,
    ///
    /// both sides brought to the larger exponent of each vector first, so nothing overflows
    /// that the result does not. Untracked means count as 0.
    public static func sum(_ p: Double, _ x: ScaledMoments, _ q: Double, _ y: ScaledMoments) -> ScaledMoments {
        precondition(x.count == y.count, "ScaledMoments: adding moments of different batch sizes")
        let b = x.count
        let e = (0..<b).map { Swift.max(x.exponents[$0], y.exponents[$0]) }
        func down(_ s: ScaledMoments, _ i: Int, _ j: Int) -> Double {
            scale(s.normalized[i * b + j], by: s.exponents[i] + s.exponents[j] - e[i] - e[j])
        }
        func mean(_ s: ScaledMoments, _ i: Int) -> Double {
            guard let m = s.normalizedMeans else { return 0 }
            return scale(m[i], by: s.exponents[i] - e[i])
        }
        var k = [Double](repeating: 0, count: b * b)
        for i in 0..<b {
            for j in 0..<b {
                let cross = mean(x, i) * mean(y, j) + mean(y, i) * mean(x, j)
                k[i * b + j] = p * p * down(x, i, j) + q * q * down(y, i, j) + p * q * cross
            }
        }
        let tracked = x.normalizedMeans != nil || y.normalizedMeans != nil
        let means = tracked ? (0..<b).map { p * mean(x, $0) + q * mean(y, $0) } : nil
        return ScaledMoments(exponents: e, normalized: k, means: means, count: b)
    }

    /// The same second moments with every tracked mean 0 (a pre-activation `W x`: E W = 0).
    public var centred: ScaledMoments {
        ScaledMoments(exponents: exponents, normalized: normalized,
                      means: normalizedMeans.map { [Double](repeating: 0, count: $0.count) }, count: count)
    }

    /// The correlations only: every positive variance 1 (layer norm), the means divided alike.
    public var correlations: ScaledMoments {
        var k = normalized, m = normalizedMeans
        for a in 0..<count {
            let da = normalized[a * count + a]
            for b in 0..<count {
                let db = normalized[b * count + b]
                k[a * count + b] = da > 0 && db > 0 ? normalized[a * count + b] / (da * db).squareRoot() : 0
            }
            if da > 0 { m?[a] /= da.squareRoot() } else { m?[a] = 0 }
        }
        return ScaledMoments(exponents: [Int](repeating: 0, count: count), normalized: k, means: m, count: count)
    }

    /// Moves each vector's scale into its exponent so that `K_aa ∈ [1, 4)` (powers of two:
    /// exact). A zero variance keeps exponent 0.
    private mutating func renormalize() {
        for a in 0..<count {
            let kaa = normalized[a * count + a]
            guard kaa > 0 && kaa.isFinite else { continue }
            let shift = Int(kaa.exponent) >> 1   // floor(log₂ K_aa / 2)
            guard shift != 0 else { continue }
            exponents[a] += shift
            for b in 0..<count {
                normalized[a * count + b] = Self.scale(normalized[a * count + b], by: -shift)
                normalized[b * count + a] = Self.scale(normalized[b * count + a], by: -shift)
            }
            if let m = normalizedMeans?[a] { normalizedMeans?[a] = Self.scale(m, by: -shift) }
        }
    }

    /// `x · 2^k`, correctly rounded (`scalbn`).
    @inline(__always)
    public static func scale(_ x: Double, by k: Int) -> Double {
        k == 0 ? x : Double(sign: .plus, exponent: k, significand: x)
    }
}
