import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Testing

/// `stable_rank` = (Tr G)²/Tr(G²): closed forms, and Monte Carlo against the mean-field
/// prediction with a derived finite-width allowance.
@Suite struct StableRankTests {
    @Test("equicorrelated Gram: B²/((B−1)(1−c)² + (1+(B−1)c)²); B for I, 1 for rank one; scale-free")
    func closedForms() {
        let b = 6
        for (q, c) in [(1.0, 0.0), (2.5, 0.3), (0.7, 0.9), (1.0, 1.0), (1.3, -0.15)] {
            let g = (0..<(b * b)).map { q * ($0 % (b + 1) == 0 ? 1 : c) }
            let value = StableRank().values(g, count: b, scale: 7)[0]
            let n = Double(b)
            let expected = n * n / ((n - 1) * (1 - c) * (1 - c) + (1 + (n - 1) * c) * (1 + (n - 1) * c))
            #expect(abs(value - expected) < 1e-13 * expected, "q \(q), c \(c): \(value) vs \(expected)")
        }
        #expect(StableRank().values([0, 0, 0, 0], count: 2, scale: 1)[0].isNaN)
    }

    /// Given a layer's input, Ĝ is Wishart with N degrees of freedom around Σ (Gaussian
    /// weights: iid rows). With T = Tr Σ, S_k = Tr Σ^k and r = T²/S_2, the Wishart moments
    /// E(Tr Ĝ)² = T² + 2S_2/N, E Tr Ĝ² = S_2 + (S_2 + T²)/N, Cov(Tr Ĝ, Tr Ĝ²) = 4S_3/N and
    /// Var Tr Ĝ² = 8S_4/N give, by the delta method for the ratio,
    ///
    ///     bias = (2 − r − r²)/N − 8 T S_3/(N S_2²) + 8 T² S_4/(N S_2³).
    ///
    /// (Checked against 2·10⁵ Wishart draws at N = 256, B = 4: within 2 % of the measured
    /// bias.) Twice it, plus the O(l/N) relative allowance of the other forward observables
    /// for the earlier layers' sampling, and 4 standard errors.
    static func allowance(_ covariance: [Double], count b: Int, width n: Int, layer: Int) throws -> Double {
        let lambda = try GramGeometry.eigenvalues(covariance, count: b)
        func power(_ k: Double) -> Double { lambda.reduce(0) { $0 + pow($1, k) } }
        let (t, s2, s3, s4, nn) = (power(1), power(2), power(3), power(4), Double(n))
        let r = t * t / s2
        let bias = (2 - r - r * r) / nn - 8 * t * s3 / (nn * s2 * s2) + 8 * t * t * s4 / (nn * s2 * s2 * s2)
        return 2 * abs(bias) + 2 * Double(layer) / nn * r
    }

    @Test("Monte Carlo within 4 SE + the Wishart bias of the mean-field stable rank",
          arguments: [(Activation.tanh, Backend.dense), (.tanh, .implicit), (.erf, .dense)])
    func matchesTheory(_ phi: Activation, _ backend: Backend) throws {
        let (n, depth, samples, b) = (512, 6, 48, 6)
        let spec = NetworkSpec(width: n, depth: depth, sigmaW: 1.8, sigmaB: 0.2, activation: phi)
        let batch = try InputBatch(spec: .gram(count: b, q0: 1, c0: 0.4), dimension: n,
                                   stream: RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        var sampler = NetworkSampler<Double>(spec: spec, inputs: batch, observables: Observables([StableRank()]), seed: 12,
                                             point: 0, backend: backend)
        var statistics = sampler.makeStatistics()
        for s in 0..<samples { try sampler.run(sample: s, into: &statistics) }
        let theory = TheoryContext(network: spec, inputs: batch)
        let predicted = StableRank().predict(theory).values[0]
        for layer in 1...depth {
            let m = statistics.moments[0][layer - 1], expected = try #require(predicted[layer - 1])
            let tolerance = 4 * m.standardError! + (try Self.allowance(theory.layers[layer - 1].covariance, count: b,
                                                                        width: n, layer: layer))
            #expect(abs(m.mean - expected) <= tolerance,
                    "\(phi.name) \(backend) layer \(layer): \(m.mean) vs \(expected) ± \(tolerance)")
        }
    }
}
