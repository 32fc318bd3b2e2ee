#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The mean-field prediction for one layer of a batch of B inputs: the pre-activation
/// covariance `q^l_ab` (Poole et al. 2016) and its summaries.
///
/// Values beyond Double's range are rounded as Double rounds them (±∞ above, 0 below); their
/// base-2 logarithms, exact at any size, say what they are (``ScaledMoments``).
public struct LayerTheory: Sendable, Codable, Equatable {
    /// Layer index l ≥ 1.
    public var layer: Int
    /// Per-input lengths `q^l_a = q^l_aa`.
    public var q: [Double]
    /// Mean of `q` over the inputs.
    public var meanQ: Double
    /// Mean of `c^l_ab = q^l_ab/√(q^l_aa q^l_bb)` over pairs a < b whose lengths are
    /// positive; nil when B = 1 or no pair qualifies. Exact whatever the lengths' size.
    public var meanC: Double?
    /// The B×B covariance `q^l_ab`, row-major.
    public var covariance: [Double]
    /// log₂ q^l_a, and log₂ of the mean length (−∞ for 0).
    public var log2Q: [Double]
    public var log2MeanQ: Double
    /// The covariance as propagated, exact at any size.
    public var moments: ScaledMoments
}

extension LayerTheory {
    /// The summary of a B×B covariance (row-major) at `layer`.
    public init(layer: Int, covariance: [Double], count: Int) {
        self.init(layer: layer, moments: ScaledMoments(covariance: covariance, count: count))
    }

    /// The summary of scaled moments at `layer`.
    public init(layer: Int, moments: ScaledMoments) {
        let b = moments.count
        var sum = 0.0, pairs = 0
        for a in 0..<b {
            for c in (a + 1)..<b {
                guard let r = moments.correlation(a, c) else { continue }
                sum += r
                pairs += 1
            }
        }
        // Σ_a q_a/B at the largest exponent, so that a representable mean never overflows.
        let top = (0..<b).map { 2 * moments.exponents[$0] }.max() ?? 0
        let scaledMean = (0..<b).reduce(0.0) { $0 + ScaledMoments.scale(moments.normalized($1, $1), by: 2 * moments.exponents[$1] - top) }
            / Double(b)
        self.init(layer: layer, q: (0..<b).map { moments.variance($0) }, meanQ: ScaledMoments.scale(scaledMean, by: top),
                  meanC: pairs > 0 ? sum / Double(pairs) : nil, covariance: moments.covariance,
                  log2Q: (0..<b).map { moments.log2Variance($0) },
                  log2MeanQ: scaledMean > 0 ? Double(top) + log2(scaledMean) : -.infinity, moments: moments)
    }

    /// Whether some length here is beyond Double's range (rounded to ∞) or below it (rounded
    /// to 0 or a subnormal, losing digits), though finite and positive.
    public var overflows: Bool { log2Q.contains { $0 >= 1024 } }
    public var underflows: Bool { log2Q.contains { $0 < -1022 && $0 > -.infinity } }

    /// `(G, s)` with `q^l_ab = s·G_ab`, G the covariance divided by `2^(2m)`, m the largest of
    /// the inputs' exponents: G keeps every correlation and ratio of lengths that the plain
    /// covariance loses beyond Double's range; s is `2^(2m)` rounded (∞ or 0 out of range).
    public var commonScaled: (gram: [Double], scale: Double) {
        let b = moments.count, m = moments.exponents.max() ?? 0
        var g = [Double](repeating: 0, count: b * b)
        for i in 0..<b {
            for j in 0..<b {
                g[i * b + j] = ScaledMoments.scale(moments.normalized(i, j), by: moments.exponents[i] + moments.exponents[j] - 2 * m)
            }
        }
        return (g, ScaledMoments.scale(1, by: 2 * m))
    }
}
