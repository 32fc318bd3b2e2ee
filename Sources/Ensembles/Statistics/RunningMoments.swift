/// Count, mean and sum of squared deviations of a stream of values (Welford), with
/// the exact pairwise merge of Chan, Golub & LeVeque (1979):
///
///     n = n_a + n_b,  δ = μ_b − μ_a,
///     μ = μ_a + δ n_b / n,   M2 = M2_a + M2_b + δ² n_a n_b / n.
///
/// Non-finite values are counted in ``nonFinite`` and never enter the mean.
/// Merging in a fixed order gives a bit-identical result wherever the parts were computed.
public struct RunningMoments: Sendable, Hashable {
    public private(set) var count: Int = 0
    public private(set) var mean: Double = 0
    public private(set) var m2: Double = 0
    public private(set) var nonFinite: Int = 0

    public init() {}

    init(count: Int, mean: Double, m2: Double, nonFinite: Int) {
        self.count = count
        self.mean = mean
        self.m2 = m2
        self.nonFinite = nonFinite
    }

    public mutating func add(_ x: Double) {
        guard x.isFinite else { nonFinite += 1; return }
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
    }

    public mutating func merge(_ other: RunningMoments) {
        nonFinite += other.nonFinite
        guard other.count > 0 else { return }
        guard count > 0 else { count = other.count; mean = other.mean; m2 = other.m2; return }
        let n = count + other.count
        let delta = other.mean - mean
        mean += delta * Double(other.count) / Double(n)
        m2 += other.m2 + delta * delta * Double(count) * Double(other.count) / Double(n)
        count = n
    }

    /// Unbiased sample variance `M2/(n−1)`; nil below two values.
    public var variance: Double? { count > 1 ? m2 / Double(count - 1) : nil }

    /// Standard error of the mean `√(var/n)`; nil below two values.
    public var standardError: Double? { variance.map { ($0 / Double(count)).squareRoot() } }
}
