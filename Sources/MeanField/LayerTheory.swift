/// The mean-field prediction for one layer of a batch of B inputs: the pre-activation
/// covariance `q^l_ab` (Poole et al. 2016) and its summaries.
public struct LayerTheory: Sendable, Codable, Equatable {
    /// Layer index l ≥ 1.
    public var layer: Int
    /// Per-input lengths `q^l_a = q^l_aa`.
    public var q: [Double]
    /// Mean of `q` over the inputs.
    public var meanQ: Double
    /// Mean of `c^l_ab = q^l_ab/√(q^l_aa q^l_bb)` over pairs a < b whose lengths are
    /// positive; nil when B = 1 or no pair qualifies.
    public var meanC: Double?
    /// The B×B covariance `q^l_ab`, row-major.
    public var covariance: [Double]
}

extension LayerTheory {
    /// The summary of a B×B covariance (row-major) at `layer`.
    public init(layer: Int, covariance: [Double], count: Int) {
        let q = (0..<count).map { covariance[$0 * count + $0] }
        var sum = 0.0, pairs = 0
        for a in 0..<count {
            for b in (a + 1)..<count where q[a] > 0 && q[b] > 0 {
                sum += covariance[a * count + b] / (q[a] * q[b]).squareRoot()
                pairs += 1
            }
        }
        self.init(layer: layer, q: q, meanQ: q.reduce(0, +) / Double(count),
                  meanC: pairs > 0 ? sum / Double(pairs) : nil, covariance: covariance)
    }
}
