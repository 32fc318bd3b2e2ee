/// The mean-field prediction for one layer of a batch of B inputs.
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

extension MeanFieldMaps {
    /// Layer-by-layer theory for a batch (Poole et al. 2016):
    /// `q¹_ab = σ_w² G0_ab + σ_b²` (no activation on the input), then
    /// `q^l_ab = σ_w² E φ(u1) φ(u2) + σ_b²` with the previous layer's (q_aa, q_bb, q_ab)
    /// (`covarianceMap`; `lengthMap` on the diagonal).
    ///
    /// - Parameters:
    ///   - inputGram: G0, B×B row-major, `G0_ab = x_a·x_b/N_0`.
    ///   - count: B ≥ 1.
    ///   - depth: number of layers returned, layer 1 first.
    public func propagate(inputGram: [Double], count: Int, depth: Int) -> [LayerTheory] {
        precondition(count >= 1 && inputGram.count == count * count, "inputGram must be count × count")
        precondition(depth >= 0, "depth must be non-negative")
        guard depth > 0 else { return [] }
        var layers: [LayerTheory] = []
        layers.reserveCapacity(depth)
        var covariance = inputGram.map { weightVariance * $0 + biasVariance }
        for layer in 1...depth {
            if layer > 1 {
                var next = covariance
                for a in 0..<count {
                    next[a * count + a] = lengthMap(covariance[a * count + a])
                    for b in (a + 1)..<count {
                        let value = covarianceMap(qaa: covariance[a * count + a], qbb: covariance[b * count + b],
                                                  qab: covariance[a * count + b])
                        next[a * count + b] = value
                        next[b * count + a] = value
                    }
                }
                covariance = next
            }
            layers.append(LayerTheory(layer: layer, covariance: covariance, count: count))
        }
        return layers
    }
}

extension LayerTheory {
    /// The summary of a B×B covariance (row-major) at `layer`.
    init(layer: Int, covariance: [Double], count: Int) {
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
