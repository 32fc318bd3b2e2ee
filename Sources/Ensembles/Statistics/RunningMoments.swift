#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Count, mean and root-mean-square deviation `s = √(M2/n)` of a stream of values
/// (Welford; West 1979), with the exact pairwise merge of Chan, Golub & LeVeque (1979):
///
///     n = n_a + n_b,  δ = μ_b − μ_a,
///     μ = μ_a + δ n_b / n,   M2 = M2_a + M2_b + δ² n_a n_b / n,   M2 = n s².
///
/// Nothing here overflows unless the result does: `s` never exceeds half the values' range,
/// so it is a Double whenever they are, and it is accumulated as a root sum of squares by
/// `hypot`, so values near 10^±308 keep an exact standard error where M2 itself would leave
/// Double's range; a mean whose update `δ n_b` would overflow is taken as the weighted
/// average `μ_a n_a/n + μ_b n_b/n` instead, which lies between the two. Non-finite values
/// are counted in ``nonFinite`` and never enter the mean. Merging in a fixed order gives a
/// bit-identical result wherever the parts were computed.
public struct RunningMoments: Sendable, Hashable {
    public private(set) var count: Int = 0
    public private(set) var mean: Double = 0
    /// `s = √(M2/n) = √(Σ(x − μ)²/n)`.
    public private(set) var spread: Double = 0
    public private(set) var nonFinite: Int = 0

    public init() {}

    init(count: Int, mean: Double, spread: Double, nonFinite: Int) {
        self.count = count
        self.mean = mean
        self.spread = spread
        self.nonFinite = nonFinite
    }

    public mutating func add(_ x: Double) {
        guard x.isFinite else { nonFinite += 1; return }
        count += 1
        let old = mean, n = Double(count)
        let delta = x - old
        mean = delta.isFinite ? old + delta / n : old * ((n - 1) / n) + x / n
        // n s_n² = (n − 1) s² + δ² (n − 1)/n.
        spread = hypot(spread * ((n - 1) / n).squareRoot(), Self.halfDistance(x, old) * (2 * (n - 1).squareRoot() / n))
    }

    public mutating func merge(_ other: RunningMoments) {
        nonFinite += other.nonFinite
        guard other.count > 0 else { return }
        guard count > 0 else { self = RunningMoments(count: other.count, mean: other.mean, spread: other.spread,
                                                     nonFinite: nonFinite); return }
        let (na, nb) = (Double(count), Double(other.count)), n = na + nb
        let step = (other.mean - mean) * nb
        // n s² = n_a s_a² + n_b s_b² + δ² n_a n_b/n; |δ|√(n_a n_b)/n = (|δ|/2)·(2√(n_a n_b)/n), the factor ≤ 1.
        let between = Self.halfDistance(other.mean, mean) * (2 * (na * nb).squareRoot() / n)
        spread = hypot(hypot(spread * (na / n).squareRoot(), other.spread * (nb / n).squareRoot()), between)
        mean = step.isFinite ? mean + step / n : mean * (na / n) + other.mean * (nb / n)
        count += other.count
    }

    /// `|a − b|/2`, without overflow in the difference.
    private static func halfDistance(_ a: Double, _ b: Double) -> Double {
        let d = a - b
        return d.isFinite ? d.magnitude / 2 : (a / 2 - b / 2).magnitude
    }

    /// Unbiased sample variance `M2/(n−1)`; nil below two values.
    public var variance: Double? { count > 1 ? spread * spread * (Double(count) / Double(count - 1)) : nil }

    /// Standard error of the mean `√(M2/(n(n−1))) = s/√(n−1)`; nil below two values.
    public var standardError: Double? { count > 1 ? spread / Double(count - 1).squareRoot() : nil }
}
