import MeanField
import Testing

/// The leading-order fluctuations of the empirical kernel (``KernelFluctuations``) against
/// known answers.
@Suite struct KernelFluctuationTests {
    /// Hanin & Nica (2019): relu, σ_b = 0, σ_w² = 2, one input — q is the same at every layer
    /// and N Var[K̂^L]/K² = 5(L − 1) + 2 exactly at leading order (Var(relu(z)²)/(E relu(z)²)²
    /// = (3/2 − 1/4)/(1/4) = 5 per layer, the Wishart's χ²_N/N adds 2 at the last).
    @Test func reluLengthsAreLogNormalWithVariance5LMinus3() throws {
        let q = 1.7, depth = 20
        let f = try #require(KernelFluctuations(activation: .relu, sigmaW: 2.0.squareRoot(),
                                                kernels: Array(repeating: (q, q, q), count: depth), sameInput: true))
        for l in 1...depth {
            #expect(abs(f.scaledCovariances[l - 1][0] / (q * q) - Double(5 * l - 3)) < 1e-9, "layer \(l)")
        }
    }

    /// A linear net multiplies Wisharts: with σ_w = 1 and a constant kernel Σ, each layer adds
    /// the Gaussian four-point covariance `Σ_ik Σ_jl + Σ_il Σ_jk`, so N Cov K̂^L = L of them:
    /// N Var K̂_aa = 2L Σ_aa², N Cov(K̂_aa, K̂_bb) = 2L Σ_ab², N Var K̂_ab = L (Σ_aa Σ_bb + Σ_ab²).
    /// Checks the pair's 2-D fourth moments and its numerical derivatives (A = I).
    @Test func linearNetsAddAWishartPerLayer() throws {
        let (qa, qab, qb) = (1.3, 0.4, 0.9), depth = 6
        let f = try #require(KernelFluctuations(activation: .linear, sigmaW: 1,
                                                kernels: Array(repeating: (qa, qab, qb), count: depth)))
        for l in 1...depth {
            let c = f.scaledCovariances[l - 1], L = Double(l)
            #expect(abs(c[0] - 2 * L * qa * qa) < 1e-8, "layer \(l): Var K_aa \(c[0])")
            #expect(abs(c[2] - 2 * L * qab * qab) < 1e-8, "layer \(l): Cov(K_aa, K_bb) \(c[2])")
            #expect(abs(c[4] - L * (qa * qb + qab * qab)) < 1e-8, "layer \(l): Var K_ab \(c[4])")
            #expect(abs(c[1] - 2 * L * qa * qab) < 1e-8, "layer \(l): Cov(K_aa, K_ab) \(c[1])")
        }
    }

    /// An input's own length does not see its partner: the pair's Var K̂_aa is the single
    /// input's (tanh, σ_b > 0, a kernel that moves with depth).
    @Test func aPairsLengthIsItsInputsOwn() throws {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 1.6, sigmaB: 0.3)
        var (qa, qab, qb) = (1.0, 0.3, 0.6)
        var pair: [(Double, Double, Double)] = [], single: [(Double, Double, Double)] = []
        for _ in 0..<8 {
            (qa, qab, qb) = (maps.lengthMap(qa), maps.covarianceMap(qaa: qa, qbb: qb, qab: qab), maps.lengthMap(qb))
            pair.append((qa, qab, qb))
            single.append((qa, qa, qa))
        }
        let p = try #require(KernelFluctuations(activation: .tanh, sigmaW: 1.6, kernels: pair))
        let s = try #require(KernelFluctuations(activation: .tanh, sigmaW: 1.6, kernels: single, sameInput: true))
        for l in 0..<8 {
            #expect(abs(p.scaledCovariances[l][0] - s.scaledCovariances[l][0]) < 1e-12 * s.scaledCovariances[l][0])
        }
    }
}
