import Foundation
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

    /// Orthogonal weights hold the Gram of W x fixed, so a relu net with σ_b = 0, σ_w² = 2 keeps
    /// only the split of the length between positive and negative units: given the sphere,
    /// `Var(Σ_i z_i² 1[z_i > 0]/Σ_i z_i²) = E[z⁴/4]/N = 3/(4N)`, relative variance 3/N a layer
    /// (5 − 2: Gaussian weights' φ noise less its Wishart part) and no Wishart at the end:
    /// `N Var[K̂^L]/K² = 3(L − 1)`. A linear orthogonal net with σ_b = 0 keeps every length and
    /// angle: no fluctuation and no shift at all.
    @Test func orthogonalWeightsLeaveOnlyTheSignSplit() throws {
        let q = 1.7, depth = 12
        let relu = try #require(KernelFluctuations(activation: .relu, sigmaW: 2.0.squareRoot(), weights: .orthogonal,
                                                   kernels: Array(repeating: (q, q, q), count: depth), sameInput: true))
        for l in 1...depth {
            #expect(abs(relu.scaledCovariances[l - 1][0] / (q * q) - Double(3 * (l - 1))) < 1e-9, "layer \(l)")
        }
        let (qa, qab, qb) = (1.3, 0.4, 0.9)
        let linear = try #require(KernelFluctuations(activation: .linear, sigmaW: 1, weights: .orthogonal,
                                                     kernels: Array(repeating: (qa, qab, qb), count: 6)))
        for l in 0..<6 {
            #expect(linear.scaledCovariances[l].allSatisfy { abs($0) < 1e-9 }, "layer \(l + 1): \(linear.scaledCovariances[l])")
            #expect(linear.scaledMeanShifts[l].allSatisfy { abs($0) < 1e-6 }, "layer \(l + 1): \(linear.scaledMeanShifts[l])")
        }
    }

    /// The bias is iid whatever the weights: a linear orthogonal net with σ_b > 0 adds, a layer,
    /// the Wishart of Σ = U + σ_b² less that of U (the cross terms β·u and β², see the
    /// derivation), `N Var K̂_aa = 4σ_b² U_aa + 2σ_b⁴` at the first layer; with σ_w = 1 the
    /// fluctuations pass unchanged (A = 1) and the layers' add up.
    @Test func orthogonalBiasNoiseIsTheWishartsExcess() throws {
        let b = 0.5, b2 = b * b, u = 1.1, depth = 5
        let kernels = (0..<depth).map { l -> (Double, Double, Double) in
            let q = u + Double(l + 1) * b2
            return (q, q, q)
        }
        let f = try #require(KernelFluctuations(activation: .linear, sigmaW: 1, sigmaB: b, weights: .orthogonal,
                                                kernels: kernels, sameInput: true))
        var expected = 0.0
        for l in 1...depth {
            let q = kernels[l - 1].0, fixed = q - b2
            let layer = 2 * q * q - 2 * fixed * fixed
            #expect(abs(f.scaledCovariances[l - 1][0] - (expected + layer)) < 1e-9, "layer \(l)")
            expected += layer
        }
    }

    /// A pair's shift of its own lengths is its input's (the pair's recursion, A·μ and its
    /// covariance's s_aa,aa, against the single input's; tanh with σ_b > 0, both weight laws),
    /// and the cross entry's shift is the same whichever input is called a.
    @Test(arguments: [WeightLaw.gaussian, .orthogonal])
    func aPairsLengthShiftIsItsInputsOwn(_ law: WeightLaw) throws {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 1.6, sigmaB: 0.3)
        var (qa, qab, qb) = (1.0, 0.3, 0.6)
        var pair: [(Double, Double, Double)] = [], swapped: [(Double, Double, Double)] = [], single: [(Double, Double, Double)] = []
        for _ in 0..<8 {
            (qa, qab, qb) = (maps.lengthMap(qa), maps.covarianceMap(qaa: qa, qbb: qb, qab: qab), maps.lengthMap(qb))
            pair.append((qa, qab, qb))
            swapped.append((qb, qab, qa))
            single.append((qa, qa, qa))
        }
        let p = try #require(KernelFluctuations(activation: .tanh, sigmaW: 1.6, sigmaB: 0.3, weights: law, kernels: pair))
        let r = try #require(KernelFluctuations(activation: .tanh, sigmaW: 1.6, sigmaB: 0.3, weights: law, kernels: swapped))
        let s = try #require(KernelFluctuations(activation: .tanh, sigmaW: 1.6, sigmaB: 0.3, weights: law, kernels: single,
                                                sameInput: true))
        #expect(p.scaledMeanShifts.count == 8)
        // Gaussian weights: layer 2's shift is 0 (layer 1's kernel is exact), so from layer 3.
        for l in 2..<8 {
            let shift = s.scaledMeanShifts[l][0]
            #expect(shift != 0)
            #expect(abs(p.scaledMeanShifts[l][0] - shift) < 1e-12 * abs(shift), "layer \(l + 1)")
            #expect(abs(p.scaledMeanShifts[l][1] - r.scaledMeanShifts[l][1]) < 1e-6 * abs(p.scaledMeanShifts[l][1]),
                    "layer \(l + 1): \(p.scaledMeanShifts[l][1]) vs \(r.scaledMeanShifts[l][1])")
        }
    }

    /// The orthogonal mean correction o against the law it comes from: a row of a Haar N×2
    /// frame (times √N) has density ∝ (1 − |x|²/N)^{(N−4)/2} on |x|² < N, so with σ_b = 0,
    /// `E_N φ(Lx)_i φ(Lx)_j` (LLᵀ = U = Σ¹) is F_ij(Σ¹) − o_ij/N + O(N⁻²), and layer 2's shift
    /// is `N μ² = −σ_w² o` (s¹ = 0). The expectations are trapezoid sums on a grid over
    /// [−10, 10]² (spectrally accurate for these smooth, decaying integrands), at N = 1000 and
    /// 4000, extrapolated in 1/N (Richardson; O(10⁻⁶) left); tanh, three input correlations.
    @Test(arguments: [-0.4, 0.3, 0.8])
    func orthogonalMeanCorrectionIsTheFrameRowsLaw(_ c0: Double) throws {
        let sigmaW = 1.7, maps = MeanFieldMaps(activation: .tanh, sigmaW: sigmaW, sigmaB: 0)
        let (qa, qb) = (sigmaW * sigmaW * 1.2, sigmaW * sigmaW * 0.7), qab = c0 * (qa * qb).squareRoot()
        let second = (maps.lengthMap(qa), maps.covarianceMap(qaa: qa, qbb: qb, qab: qab), maps.lengthMap(qb))
        let f = try #require(KernelFluctuations(activation: .tanh, sigmaW: sigmaW, weights: .orthogonal,
                                                kernels: [(qa, qab, qb), second]))
        // L = chol(U), U = Σ¹ (σ_b = 0).
        let l00 = qa.squareRoot(), l10 = qab / l00, l11 = (qb - l10 * l10).squareRoot()
        let h = 0.05, points = Array(stride(from: -10.0, through: 10.0, by: h))
        /// E φ(u_i)φ(u_j) for (aa, ab, bb) under the weight w(|x|²).
        func moments(_ weight: (Double) -> Double) -> [Double] {
            var sums = [0.0, 0.0, 0.0], mass = 0.0
            for x in points {
                for y in points {
                    let w = weight(x * x + y * y)
                    guard w > 0 else { continue }
                    let a = tanh(l00 * x), b = tanh(l10 * x + l11 * y)
                    sums[0] += w * a * a
                    sums[1] += w * a * b
                    sums[2] += w * b * b
                    mass += w
                }
            }
            return sums.map { $0 / mass }
        }
        let gaussian = moments { exp(-$0 / 2) }
        func scaled(_ n: Double) -> [Double] {
            let e = moments { r2 in r2 < n ? exp((n - 4) / 2 * log1p(-r2 / n)) : 0 }
            return (0..<3).map { n * (e[$0] - gaussian[$0]) }
        }
        let (n1, n2) = (1000.0, 4000.0), d1 = scaled(n1), d2 = scaled(n2)
        for k in 0..<3 {
            let limit = (n2 * d2[k] - n1 * d1[k]) / (n2 - n1)
            let shift = f.scaledMeanShifts[1][k]
            #expect(abs(shift - sigmaW * sigmaW * limit) < 1e-4 * abs(shift) + 1e-7,
                    "c⁰ = \(c0), entry \(k): shift \(shift) vs σ_w² × \(limit)")
        }
    }

    /// The covariance's next order (``KernelFluctuations/scaledSecondOrderCovariances``) and the
    /// third cumulants against an independent implementation of the same expansion (numpy,
    /// 2-D Gauss–Hermite with 100² nodes, its own nested differences), tanh with σ_w = 2,
    /// σ_b = 0.3 and inputs at q⁰ = 1, c⁰ = 0.5: Q and κ at layers 2, 3, 5, 10 within 3·10⁻³
    /// relative (that implementation's own quadrature error: up to 7·10⁻⁴ against 200² nodes);
    /// both follow the same formulas, which the Monte Carlo tests check. One input's
    /// `Q = t + 4Σμ + 2s` and `κ = k + 12Σs + 8Σ³` at layer 10, 2.2126 and 148.906 there.
    @Test func theNextOrderMatchesAnIndependentImplementation() throws {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 2, sigmaB: 0.3)
        var (qa, qab, qb) = (4.09, 2.09, 4.09)
        var pair: [(Double, Double, Double)] = [], single: [(Double, Double, Double)] = []
        for _ in 0..<10 {
            pair.append((qa, qab, qb))
            single.append((qa, qa, qa))
            (qa, qab, qb) = (maps.lengthMap(qa), maps.covarianceMap(qaa: qa, qbb: qb, qab: qab), maps.lengthMap(qb))
        }
        let p = try #require(KernelFluctuations(activation: .tanh, sigmaW: 2, sigmaB: 0.3, kernels: pair, nextOrder: true))
        let reference: [Int: (q: [Double], kappa: [Double])] = [
            2: ([3.925664, 2.261784, 10.959887, 5.707339], [208.68239, 82.02819, 107.09421, 44.79667]),
            3: ([3.171043, 2.482966, 16.638487, 5.906317], [164.10366, 72.7944, 82.66317, 31.55253]),
            5: ([2.40674, 4.500988, 26.966928, 4.642406], [150.23273, 75.39675, 59.17932, 23.88315]),
            10: ([2.21228, 12.499769, 41.57964, 13.712329], [148.90556, 76.0989, 42.86109, 16.38341]),
        ]
        #expect(p.scaledSecondOrderCovariances.count == 10)
        for (layer, r) in reference {
            let q = p.scaledSecondOrderCovariances[layer - 1], k = p.scaledThirdCumulants[layer - 1]
            // Q: (aa,aa), (aa,ab), (aa,bb), (ab,ab); κ: (aa,aa,aa), (aa,ab,bb), (ab,ab,ab), (aa,aa,bb).
            let mine = [q[0], q[1], q[2], q[4]], kappa = [k[0], k[5], k[13], k[2]]
            for (x, y) in zip(mine + kappa, r.q + r.kappa) {
                #expect(abs(x - y) < 3e-3 * abs(y), "layer \(layer): \(x) vs \(y)")
            }
        }
        let s = try #require(KernelFluctuations(activation: .tanh, sigmaW: 2, sigmaB: 0.3, kernels: single, sameInput: true,
                                                nextOrder: true))
        #expect(abs(s.scaledSecondOrderCovariances[9][0] - 2.2126) < 1e-3 * 2.2126, "\(s.scaledSecondOrderCovariances[9][0])")
        #expect(abs(s.scaledThirdCumulants[9][0] - 148.906) < 1e-3 * 148.906, "\(s.scaledThirdCumulants[9][0])")
    }
}
