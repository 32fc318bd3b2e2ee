import Foundation
@testable import MeanField
import Testing

/// The four-point functions of three and four inputs (``GaussianProduct``) and the covariance
/// of every kernel entry (``BatchKernelFluctuations``) against known answers.
@Suite struct BatchKernelFluctuationTests {
    /// One-factor covariances `Σ_kl = a_k a_l + δ_kl b_k²` (u_k = a_k w + b_k e_k, w and e iid
    /// standard normal): `E Π f_k(u_k) = E_w Π_k G_k(a_k w)`, `G_k(m) = E f_k(m + b_k e)`, a 1-D
    /// integral of 1-D integrals by the adaptive Gauss–Kronrod rule — an independent route to
    /// the same number, for correlated, unequal inputs and repeated factors (φ²).
    static func oneFactor(_ phi: Activation, loadings a: [Double], noise b: [Double], powers: [Int]) -> (sigma: [Double], value: Double) {
        let d = a.count, quadrature = GaussianExpectation()
        let sigma = (0..<(d * d)).map { e in a[e / d] * a[e % d] + (e / d == e % d ? b[e / d] * b[e / d] : 0) }
        func power(_ x: Double, _ k: Int) -> Double { (0..<k).reduce(1.0) { r, _ in r * phi.value(x) } }
        // In w, factor k's kinks sit at x/a_k, blurred over b_k/a_k.
        let kinks = (0..<d).flatMap { k in phi.breakpoints.kinks.map { $0 / a[k] } }
        let value = quadrature.expectation(scale: 1, breakpoints: Breakpoints(kinks: kinks, bends: [0, 1, -1, 4, -4])) { w in
            (0..<d).reduce(1.0) { product, k in
                product * quadrature.expectation(location: a[k] * w, scale: b[k], breakpoints: phi.breakpoints) { power($0, powers[k]) }.value
            }
        }.value
        return (sigma, value)
    }

    static func factors(_ phi: Activation, _ powers: [Int]) -> [(f: GaussianExpectation.BatchFunction, breakpoints: Breakpoints)] {
        powers.map { k in
            (f: { x, y in
                phi.apply(x, into: y)
                for i in y.indices { y[i] = pow(y[i], Double(k)) }
            }, breakpoints: phi.breakpoints)
        }
    }

    /// The product rule within what its documentation promises, 10⁻⁴ relative at 6 points per
    /// panel and 10⁻⁷ at its default 10, by both its routes (the one-factor one and the nested
    /// Cholesky levels, forced), for relu, tanh, erf and hard_tanh at correlations 0.3–0.99 and
    /// lengths 1–3, three inputs with a square (E φ_a²φ_bφ_c) and four. hard_tanh's kinks at ±1
    /// are blurred over only 0.1 in the outer variables at c = 0.99: without panel ends about
    /// them (and their ladder) either route misses by 10⁻⁴–10⁻².
    @Test(arguments: [Activation.relu, .tanh, .erf, .hardTanh])
    func productMatchesTheOneFactorReference(_ phi: Activation) throws {
        let near: [Double] = Array(repeating: 0.99.squareRoot(), count: 4), residue: [Double] = Array(repeating: 0.1, count: 4)
        let cases: [(a: [Double], b: [Double], powers: [Int])] = [
            ([0.8, 0.5, 1.2], [0.6, 0.9, 0.5], [2, 1, 1]),
            ([0.7, 0.7, 0.7, 0.7], [0.7, 0.7, 0.7, 0.7], [1, 1, 1, 1]),
            ([1.6, 0.4, 1.1, 0.9], [0.7, 1.0, 0.5, 1.3], [1, 1, 1, 1]),
            (Array(near.prefix(3)), Array(residue.prefix(3)), [2, 1, 1]),
            (near, residue, [1, 1, 1, 1]),
        ]
        for c in cases {
            let reference = Self.oneFactor(phi, loadings: c.a, noise: c.b, powers: c.powers)
            #expect(GaussianProduct.oneFactor(reference.sigma, dimension: c.a.count) != nil)
            for route in [true, false] {
                let six = GaussianProduct(pointsPerPanel: 6, oneFactorRoute: route)
                    .expectation(covariance: reference.sigma, factors: Self.factors(phi, c.powers))
                let ten = GaussianProduct(oneFactorRoute: route).expectation(covariance: reference.sigma, factors: Self.factors(phi, c.powers))
                #expect(relativeError(six, reference.value) < 1e-4, "\(phi.name) \(c), one-factor \(route): \(six) vs \(reference.value)")
                #expect(relativeError(ten, reference.value) < 1e-7, "\(phi.name) \(c), one-factor \(route): \(ten) vs \(reference.value)")
            }
        }
    }

    /// Linear factors: Isserlis' (Wick's) theorem, `E u₁u₂u₃u₄ = Σ₁₂Σ₃₄ + Σ₁₃Σ₂₄ + Σ₁₄Σ₂₃` and
    /// `E u₁²u₂u₃ = Σ₁₁Σ₂₃ + 2Σ₁₂Σ₁₃` (to 10⁻⁹: the rule is not exact for them, the Gaussian
    /// weight is not a polynomial); and a direction the others determine (u₃ = u₂, a zero
    /// pivot of the nested levels, forced) reduces to the two-input `E φ(u₁)φ(u₂)³`.
    @Test func isserlisAndADegenerateDirection() throws {
        let rule = GaussianProduct(), nested = GaussianProduct(oneFactorRoute: false)
        let s: [Double] = [1.3, 0.4, -0.2, 0.5,
                           0.4, 0.9, 0.3, 0.1,
                           -0.2, 0.3, 1.1, 0.35,
                           0.5, 0.1, 0.35, 0.8]
        let four = rule.expectation(covariance: s, factors: Self.factors(.linear, [1, 1, 1, 1]))
        #expect(abs(four - (s[1] * s[11] + s[2] * s[7] + s[3] * s[6])) < 1e-9, "\(four)")
        let three = Array(s[0..<3] + s[4..<7] + s[8..<11])
        let square = rule.expectation(covariance: three, factors: Self.factors(.linear, [2, 1, 1]))
        #expect(abs(square - (s[0] * s[6] + 2 * s[1] * s[2])) < 1e-9, "\(square)")

        let (qa, qab, qb) = (1.2, 0.5, 0.8)
        let degenerate = [qa, qab, qab, qab, qb, qb, qab, qb, qb]
        for phi in [Activation.relu, .tanh] {
            let product = nested.expectation(covariance: degenerate, factors: Self.factors(phi, [1, 1, 2]))
            let pair = GaussianExpectation().expectation(qaa: qa, qbb: qb, correlation: qab / (qa * qb).squareRoot(),
                                                         { phi.value($0) }, breakpointsF: phi.breakpoints,
                                                         { pow(phi.value($0), 3) }, breakpointsG: phi.breakpoints).value
            #expect(relativeError(product, pair) < 1e-7, "\(phi.name): \(product) vs \(pair)")
        }
    }

    /// A tanh net's mean-field kernels of three inputs with unequal lengths and correlations.
    static func tanhChain(depth: Int) -> [[Double]] {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 1.6, sigmaB: 0.3)
        var k: [Double] = [1.0, 0.3, -0.2, 0.3, 0.6, 0.25, -0.2, 0.25, 1.4]
        var out: [[Double]] = []
        for _ in 0..<depth {
            k = (0..<9).map { e in maps.covarianceMap(qaa: k[(e / 3) * 4], qbb: k[(e % 3) * 4], qab: k[e]) }
            out.append(k)
        }
        return out
    }

    /// Each pair's block of the batch's covariance is the pair's own table (the recursion over
    /// all entries restricted to a pair's), for both weight laws.
    @Test(arguments: [WeightLaw.gaussian, .orthogonal])
    func aPairsBlockIsItsOwnTable(_ law: WeightLaw) throws {
        let kernels = Self.tanhChain(depth: 8)
        var pairs: [Int: KernelFluctuations] = [:]
        for a in 0..<3 {
            for c in (a + 1)..<3 {
                pairs[a * 3 + c] = try #require(KernelFluctuations(
                    activation: .tanh, sigmaW: 1.6, sigmaB: 0.3, weights: law,
                    kernels: kernels.map { ($0[a * 3 + a], $0[a * 3 + c], $0[c * 3 + c]) }))
            }
        }
        let batch = try #require(BatchKernelFluctuations(activation: .tanh, sigmaW: 1.6, sigmaB: 0.3, weights: law,
                                                         kernels: kernels) { pairs[$0 * 3 + $1] })
        #expect(batch.scaledCovariances.count == 8)
        for (key, pair) in pairs {
            let (a, c) = (key / 3, key % 3), entries = [(a, a), (a, c), (c, c)]
            for l in 1...8 {
                for (x, e) in entries.enumerated() {
                    for (y, f) in entries.enumerated() {
                        let v = try #require(batch.covariance(e.0, e.1, f.0, f.1, layer: l))
                        let expected = pair.scaledCovariances[l - 1][x * 3 + y]
                        #expect(abs(v - expected) <= 1e-12 * max(1, abs(expected)), "\(law) pair (\(a), \(c)) layer \(l)")
                    }
                }
            }
        }
    }

    /// A linear net with σ_w = 1, σ_b = 0 and a constant kernel adds a Wishart a layer to every
    /// entry, disjoint pairs included: `N Cov(K̂_ij, K̂_kl) = L (Σ_ik Σ_jl + Σ_il Σ_jk)` at layer L
    /// (Gaussian weights); an orthogonal one keeps the kernel exactly (every entry 0).
    @Test func linearNetsAddAWishartToEveryEntry() throws {
        let s: [Double] = [1.3, 0.4, -0.2, 0.5,
                           0.4, 0.9, 0.3, 0.1,
                           -0.2, 0.3, 1.1, 0.35,
                           0.5, 0.1, 0.35, 0.8]
        let depth = 5, kernels = Array(repeating: s, count: depth)
        func pairs(_ law: WeightLaw) -> [Int: KernelFluctuations] {
            var out: [Int: KernelFluctuations] = [:]
            for a in 0..<4 {
                for c in (a + 1)..<4 {
                    out[a * 4 + c] = KernelFluctuations(activation: .linear, sigmaW: 1, weights: law,
                                                        kernels: kernels.map { ($0[a * 4 + a], $0[a * 4 + c], $0[c * 4 + c]) })
                }
            }
            return out
        }
        let gaussian = pairs(.gaussian), orthogonal = pairs(.orthogonal)
        let g = try #require(BatchKernelFluctuations(activation: .linear, sigmaW: 1, kernels: kernels) { gaussian[$0 * 4 + $1] })
        let o = try #require(BatchKernelFluctuations(activation: .linear, sigmaW: 1, weights: .orthogonal,
                                                     kernels: kernels) { orthogonal[$0 * 4 + $1] })
        let entries = (0..<4).flatMap { i in (i..<4).map { (i, $0) } }
        for l in 1...depth {
            for (i, j) in entries {
                for (k, m) in entries {
                    let wick = Double(l) * (s[i * 4 + k] * s[j * 4 + m] + s[i * 4 + m] * s[j * 4 + k])
                    let v = try #require(g.covariance(i, j, k, m, layer: l))
                    #expect(abs(v - wick) < 1e-8, "layer \(l), (\(i)\(j)), (\(k)\(m)): \(v) vs \(wick)")
                    #expect(abs(try #require(o.covariance(i, j, k, m, layer: l))) < 1e-8, "orthogonal layer \(l)")
                }
            }
        }
    }

    /// Near |c| = 1 c's variance is a small difference of the four-point functions, so their
    /// error is amplified: a net (σ_w = 1, σ_b = 0.3) on a Gram batch of four inputs (c⁰ = 0.5)
    /// reaches 1 − c ≈ 10⁻³ at layer 30. Its c's `N Var` from the one-factor route (the batch's
    /// own) and from the nested Cholesky levels (forced) agree within 0.1 % at layers 20, 25 and
    /// 30, for erf (1 − c = 7·10⁻³, 2.5·10⁻³, 9·10⁻⁴; with 6 points per panel the nested levels
    /// would differ by 7 % at layer 30) and for hard_tanh, whose kinks at ±1 the outer levels
    /// must split at.
    @Test(arguments: [Activation.erf, .hardTanh])
    func bothRoutesAgreeNearCOne(_ phi: Activation) throws {
        let maps = MeanFieldMaps(activation: phi, sigmaW: 1, sigmaB: 0.3)
        var (q, qab) = (1.0, 0.5)
        var kernels: [[Double]] = []
        for _ in 0..<30 {
            (q, qab) = (maps.lengthMap(q), maps.covarianceMap(qaa: q, qbb: q, qab: qab))
            kernels.append((0..<16).map { $0 / 4 == $0 % 4 ? q : qab })
        }
        let pair = try #require(KernelFluctuations(activation: phi, sigmaW: 1, sigmaB: 0.3, kernels: kernels.map { ($0[0], $0[1], $0[5]) }))
        let oneFactor = try #require(BatchKernelFluctuations(activation: phi, sigmaW: 1, sigmaB: 0.3, kernels: kernels) { _, _ in pair })
        let nested = try #require(BatchKernelFluctuations(activation: phi, sigmaW: 1, sigmaB: 0.3, kernels: kernels,
                                                          pairs: { _, _ in pair }, product: GaussianProduct(oneFactorRoute: false)))
        /// c's N Var: ∇c of each pair, (−c/(2K_aa), 1/K_aa, −c/(2K_aa)) over six pairs.
        func variance(_ f: BatchKernelFluctuations, layer l: Int) -> Double {
            let k = kernels[l - 1], c = k[1] / k[0]
            var g = [Double](repeating: 0, count: 10)
            for j in 1..<4 {
                for a in 0..<j {
                    let entries = [f.entryIndex(a, a), f.entryIndex(a, j), f.entryIndex(j, j)]
                    let gradient: [Double] = [-c / (2 * k[0]), 1 / k[0], -c / (2 * k[0])]
                    for x in 0..<3 { g[entries[x]] += gradient[x] / 6 }
                }
            }
            var total = 0.0
            for x in 0..<10 { for y in 0..<10 { total += g[x] * f.scaledCovariances[l - 1][x * 10 + y] * g[y] } }
            return total
        }
        for l in [20, 25, 30] {
            let (v, w) = (variance(oneFactor, layer: l), variance(nested, layer: l))
            #expect(relativeError(w, v) < 1e-3, "\(phi.name) layer \(l), 1 − c = \(1 - kernels[l - 1][1] / kernels[l - 1][0]): \(w) vs \(v)")
        }
    }
}
