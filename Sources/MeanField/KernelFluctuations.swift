#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The leading-order fluctuations across networks of the empirical kernel
/// `K̂^l_ab = h^l_a·h^l_b/N` of a pair of inputs (a, b) in a fully connected net of width N
/// with Gaussian weights: `N · Cov[(K̂_aa, K̂_ab, K̂_bb)]` at every layer, which is finite as
/// N → ∞ (Hanin & Nica 2019; Roberts, Yaida & Hanin 2022, ch. 4, the four-point vertex).
///
/// Derivation (linear response through the layers). Given layer l − 1, the N units of h^l are
/// iid centred Gaussian vectors over the inputs with covariance
/// `Σ^l = σ_w² X̂^{l−1} + σ_b²`, `X̂^{l−1}_ab = x^{l−1}_a·x^{l−1}_b/N` (the inputs' Gram at
/// l = 1, fixed). So, with 1/N sampling noise independent of the past:
///
/// - `K̂^l = Σ^l + ξ_K`, `N Cov ξ_K = C_hh(Σ^l)`, `C_hh[(ij),(kl)] = Σ_ik Σ_jl + Σ_il Σ_jk`
///   (Wishart);
/// - `X̂^l = F(Σ^l) + ξ_X`, `F_ij(Σ) = E φ(u_i)φ(u_j)`, u ~ N(0, Σ), and
///   `N Cov ξ_X = C_φφ(Σ^l)`, `C_φφ[(ij),(kl)] = E[φ_iφ_jφ_kφ_l] − F_ij F_kl` (2-D Gaussian
///   integrals: a pair's four-point functions involve only u_a and u_b);
/// - linearised, `δΣ^{l+1} = σ_w² (A δΣ^l + ξ_X)`, A = ∂F/∂Σ at the mean-field Σ^l: by
///   Price's theorem `∂F_ab/∂Σ_ab = E φ′_a φ′_b`, `∂F_aa/∂Σ_aa = dE φ(√q z)²/dq`
///   (``MeanFieldMaps/lengthMapDerivative(_:)``), and `∂F_ab/∂Σ_aa` by a three-point forward
///   difference (raising Σ_aa lowers |c|, so the steps never cross |c| = 1).
///
/// So `s^1 = 0`, `s^{l+1} = σ_w⁴ (A s^l Aᵀ + C_φφ(Σ^l))` for `s^l = N Cov δΣ^l`, and
/// `N Cov K̂^l = s^l + C_hh(Σ^l)`. Known answer: relu, σ_b = 0, σ_w² = 2, one input:
/// `Var(φ²)/(E φ²)² = 5` per layer and the Wishart's 2 at the last give
/// `N Var[K̂^L]/K² = 5(L − 1) + 2 = 5L − 3`, Hanin & Nica's (2019) log-normal variance.
/// Errors are O(1/N²) in the covariance (O(L²/N²) relative at depth L).
public struct KernelFluctuations: Sendable {
    /// `N · Cov[(K̂_aa, K̂_ab, K̂_bb)]` per layer, layer 1 first, 3×3 row-major; for a single
    /// input (a = b) every entry is `N · Var[K̂_aa]`.
    public let scaledCovariances: [[Double]]
    /// For a single input, `N · (E K̂^l − K^l)`, the mean's 1/N correction, layer 1 first:
    /// the second order of the same expansion, `E F(Σ) = F(Σ̄) + A μ + ½ F″ Var δΣ`, so
    /// `N μ^1 = 0`, `N μ^{l+1} = σ_w² (A · N μ^l + ½ F″(q^l) s^l)`, F″ = d² E φ(√q z)²/dq²
    /// (a central difference of the analytic slope); E ξ = 0 adds nothing. Empty for a pair.
    public let scaledMeanShifts: [Double]

    /// From the mean-field kernels of the pair, `(Σ_aa, Σ_ab, Σ_bb)` at each layer (layer 1
    /// first); nil where a moment is not finite (lengths beyond Double's range).
    /// `sameInput`: the pair is one input with itself.
    public init?(activation: Activation, sigmaW: Double, kernels: [(aa: Double, ab: Double, bb: Double)],
                 sameInput: Bool = false) {
        let unit = MeanFieldMaps(activation: activation, sigmaW: 1, sigmaB: 0)
        let w2 = sigmaW * sigmaW, w4 = w2 * w2
        var s = [Double](repeating: 0, count: 9), out: [[Double]] = []
        var shift = 0.0, shifts: [Double] = []
        for (l, k) in kernels.enumerated() {
            // Lengths rounded to 0 or ∞ (beyond Double's range): no theory.
            guard k.aa > 0, k.bb > 0, k.aa.isFinite, k.bb.isFinite, k.ab.isFinite else { return nil }
            let sigma = [k.aa, k.ab, k.bb]
            let wishart = Self.wishart(sigma)
            out.append((0..<9).map { s[$0] + wishart[$0] })
            if sameInput { shifts.append(shift) }
            guard l + 1 < kernels.count else { break }
            if sameInput {
                let h = 1e-4 * k.aa
                let curvature = (unit.lengthMapDerivative(k.aa + h) - unit.lengthMapDerivative(k.aa - h)) / (2 * h)
                shift = w2 * (unit.lengthMapDerivative(k.aa) * shift + 0.5 * curvature * s[0])
            }
            let (a, noise) = sameInput ? Self.singleInput(unit, k.aa) : Self.pair(unit, sigma)
            var next = [Double](repeating: 0, count: 9)
            for i in 0..<3 {
                for j in 0..<3 {
                    var t = noise[i * 3 + j]
                    for m in 0..<3 { for n in 0..<3 { t += a[i * 3 + m] * s[m * 3 + n] * a[j * 3 + n] } }
                    next[i * 3 + j] = w4 * t
                }
            }
            s = next
        }
        guard out.allSatisfy({ $0.allSatisfy(\.isFinite) }), shifts.allSatisfy(\.isFinite) else { return nil }
        scaledCovariances = out
        scaledMeanShifts = shifts
    }

    /// The pair's entries (aa, ab, bb) as index pairs over {a = 0, b = 1}.
    private static let entries = [(0, 0), (0, 1), (1, 1)]

    /// `C_hh` of Gaussian units with covariance Σ = (Σ_aa, Σ_ab, Σ_bb).
    static func wishart(_ sigma: [Double]) -> [Double] {
        func v(_ x: Int, _ y: Int) -> Double { sigma[x + y] }   // (0,0)→aa, (0,1)/(1,0)→ab, (1,1)→bb
        return entries.flatMap { i, j in entries.map { k, l in v(i, k) * v(j, l) + v(i, l) * v(j, k) } }
    }

    /// A = ∂F/∂Σ and C_φφ at Σ for two inputs.
    static func pair(_ unit: MeanFieldMaps, _ sigma: [Double]) -> (a: [Double], noise: [Double]) {
        let (qa, qab, qb) = (sigma[0], sigma[1], sigma[2])
        let c = Swift.min(1, Swift.max(-1, qab / (qa.squareRoot() * qb.squareRoot())))
        func f(_ qa: Double, _ qb: Double) -> Double { unit.secondMoment(qaa: qa, qbb: qb, qab: qab) }
        /// `(−3 f(0) + 4 f(h) − f(2h))/(2h)`: second order, like a central difference.
        func slope(_ g: (Double) -> Double, step h: Double) -> Double { (-3 * g(0) + 4 * g(h) - g(2 * h)) / (2 * h) }
        var a = [Double](repeating: 0, count: 9)
        a[0] = unit.lengthMapDerivative(qa)
        a[3] = slope({ f(qa + $0, qb) }, step: 1e-4 * qa)
        a[4] = unit.chiC(qaa: qa, qbb: qb, c: c)
        a[5] = slope({ f(qa, qb + $0) }, step: 1e-4 * qb)
        a[8] = unit.lengthMapDerivative(qb)
        // E φ_a^m φ_b^{4−m}, m = 0…4 (φ^k for k = 1…4).
        let phi = unit.activation, quadrature = unit.quadrature
        func power(_ k: Int) -> GaussianExpectation.BatchFunction {
            { x, y in
                phi.apply(x, into: y)
                for i in y.indices {
                    let v = y[i]
                    for _ in 1..<k { y[i] *= v }
                }
            }
        }
        let fourth: [Double] = (0...4).map { m in
            if m == 4 { return quadrature.expectation(scale: qa.squareRoot(), breakpoints: phi.breakpoints, batch: power(4)).value }
            if m == 0 { return quadrature.expectation(scale: qb.squareRoot(), breakpoints: phi.breakpoints, batch: power(4)).value }
            return quadrature.expectation(qaa: qa, qbb: qb, correlation: c, batch: power(m), breakpointsF: phi.breakpoints,
                                          batch: power(4 - m), breakpointsG: phi.breakpoints).value
        }
        let second = [unit.secondMoment(qaa: qa, qbb: qa, qab: qa), f(qa, qb), unit.secondMoment(qaa: qb, qbb: qb, qab: qb)]
        let noise = entries.enumerated().flatMap { x, ij in
            entries.enumerated().map { y, kl in
                let m = [ij.0, ij.1, kl.0, kl.1].filter { $0 == 0 }.count
                return fourth[m] - second[x] * second[y]
            }
        }
        return (a, noise)
    }

    /// The same for one input (every entry its length): A = d E φ²/dq, C_φφ = Var φ².
    static func singleInput(_ unit: MeanFieldMaps, _ q: Double) -> (a: [Double], noise: [Double]) {
        let phi = unit.activation
        let fourth = unit.quadrature.expectation(scale: q.squareRoot(), breakpoints: phi.breakpoints) { x in
            let y = phi.value(x)
            return y * y * y * y
        }.value
        let second = unit.secondMoment(qaa: q, qbb: q, qab: q)
        // Spread over the 3×3 form so that the recursion treats the pair (a, a) alike: each
        // entry of δΣ is the same number, so A acts as its scalar slope through one column.
        let slope = unit.lengthMapDerivative(q)
        var a = [Double](repeating: 0, count: 9)
        for i in 0..<3 { a[i * 3 + i] = slope }
        return (a, [Double](repeating: fourth - second * second, count: 9))
    }
}
