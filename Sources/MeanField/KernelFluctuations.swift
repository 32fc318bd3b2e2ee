#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The leading-order fluctuations across networks of the empirical kernel
/// `K̂^l_ab = h^l_a·h^l_b/N` of a pair of inputs (a, b) in a fully connected net of width N,
/// and its mean to order 1/N: `N · Cov[(K̂_aa, K̂_ab, K̂_bb)]` and `N · (E K̂ − K)` at every
/// layer, both finite as N → ∞ (Hanin & Nica 2019; Roberts, Yaida & Hanin 2022, ch. 4, the
/// four-point vertex and the 1/N correction to the kernel).
///
/// Derivation (linear response through the layers). Write `Σ^l = σ_w² X̂^{l−1} + σ_b²`,
/// `X̂^{l−1}_ab = x^{l−1}_a·x^{l−1}_b/N` (the inputs' Gram at l = 1, fixed), and
/// `U^l = Σ^l − σ_b²`, the Gram of `W x^{l−1}`. With Gaussian weights, given layer l − 1 the N
/// units of h^l are iid centred Gaussian vectors over the inputs with covariance Σ^l, so, with
/// 1/N sampling noise independent of the past:
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
///
/// Orthogonal weights (square layers, or a first layer with N ≥ N₀): `W x^{l−1}` is a Haar
/// frame times the previous layer, so its Gram is exactly U^l and its N rows are iid
/// Gaussian *conditioned on* their empirical Gram being U^l. The bias is still iid. To
/// leading order the conditioning removes from each noise its regression on the rows' second
/// moments: `Cov(g(h), u_k u_l) = (U M_g U)_kl` with `M_g = E ∇²g` (Gaussian integration by
/// parts), which Price's theorem writes through A (`M_aa = 2∂F/∂Σ_aa`, `M_ab = ∂F/∂Σ_ab`), and
/// the regression's variance is `½ tr(M_g U M_g′ U)`. So `C_hh(Σ) − C_hh(U)` replaces the
/// Wishart and `C_φφ − ½ tr(M U M′ U)` the four-point noise. Known answer: relu, σ_b = 0,
/// σ_w² = 2: `(5 − 2)` per layer and no Wishart, `N Var[log K̂^L] = 3(L − 1)`.
///
/// The mean (second order of the same expansion): `E F(Σ) = F(Σ̄) + A μ + ½ D²F[s]`,
/// `D²F[s] = Σ_jk ∂²F/∂Σ_j∂Σ_k s_jk`, and E ξ = 0, so `N μ^1 = 0`,
/// `N μ^{l+1} = σ_w² (A · N μ^l + ½ D²F[s^l] − o^l)`. `o = 0` for Gaussian weights; for
/// orthogonal ones a row of a Haar N×p frame (times √N) has density
/// `∝ (1 − |x|²/N)^{(N−p−2)/2} = ϕ(x)(1 − [|x|⁴ − 2(p+2)|x|² + p(p+2)]/(4N) + O(N⁻²))`, whose
/// correction is `−E[Δ²f]/(4N)`; for `f(x) = g(L x + β)`, LLᵀ = U, it is
/// `o = d²/dt² F(Σ + tU)` at t = 0. K̂ = Σ + ξ_K adds nothing to the mean.
/// The second derivatives are central second differences: of the analytic slope for the
/// lengths, along the Cholesky factors of s and along U for the cross term.
/// Errors are O(1/N²) in the covariance (O(L²/N²) relative at depth L) and in the mean.
public struct KernelFluctuations: Sendable {
    /// `N · Cov[(K̂_aa, K̂_ab, K̂_bb)]` per layer, layer 1 first, 3×3 row-major; for a single
    /// input (a = b) every entry is `N · Var[K̂_aa]`.
    public let scaledCovariances: [[Double]]
    /// `N · (E K̂^l − K^l)` for (aa, ab, bb), the mean's 1/N correction, layer 1 first (for a
    /// single input the three are its length's). For a pair it stops after the first layer
    /// where 1 − |c| < 10⁻⁴: the second differences across the correlation would need steps too
    /// small for the quadrature's accuracy there.
    public let scaledMeanShifts: [[Double]]
    /// With `nextOrder`, Gaussian weights: the covariance's next order,
    /// `N² (Cov K̂ − scaledCovariances/N)`, 3×3 per layer
    /// (``secondOrder(_:sigmaW:kernels:shifts:states:sameInput:)``); it stops with the shifts
    /// or, for a pair, where 1 − |c| < 0.05. Empty otherwise.
    public let scaledSecondOrderCovariances: [[Double]]
    /// The third cumulants `N² κ₃(K̂_α, K̂_β, K̂_γ)`, 3×3×3 per layer, alongside.
    public let scaledThirdCumulants: [[Double]]
    /// A = ∂F/∂Σ and C_φφ at each layer but the last (3×3 each, the noise before the
    /// orthogonal regression), which ``BatchKernelFluctuations`` reads for the pair's entries.
    let slopes: [[Double]], noises: [[Double]]

    /// From the mean-field kernels of the pair, `(Σ_aa, Σ_ab, Σ_bb)` at each layer (layer 1
    /// first); nil where a moment is not finite (lengths beyond Double's range).
    /// `sigmaW`, `sigmaB`: the net's σ_w (divided by √depth where its scaling says so) and σ_b.
    /// `sameInput`: the pair is one input with itself. `nextOrder`: also the covariance's next
    /// order (Gaussian weights; about 40× the leading order's cost).
    public init?(activation: Activation, sigmaW: Double, sigmaB: Double = 0, weights: WeightLaw = .gaussian,
                 kernels: [(aa: Double, ab: Double, bb: Double)], sameInput: Bool = false, nextOrder: Bool = false) {
        let unit = MeanFieldMaps(activation: activation, sigmaW: 1, sigmaB: 0)
        let w2 = sigmaW * sigmaW, w4 = w2 * w2, b2 = sigmaB * sigmaB, orthogonal = weights.isOrthogonal
        var s = [Double](repeating: 0, count: 9), out: [[Double]] = [], states: [[Double]] = []
        var shift: [Double]? = [0, 0, 0], shifts: [[Double]] = []
        var slopes: [[Double]] = [], noises: [[Double]] = []
        for (l, k) in kernels.enumerated() {
            // Lengths rounded to 0 or ∞ (beyond Double's range): no theory.
            guard k.aa > 0, k.bb > 0, k.aa.isFinite, k.bb.isFinite, k.ab.isFinite else { return nil }
            let sigma = [k.aa, k.ab, k.bb], u = [k.aa - b2, k.ab - b2, k.bb - b2]
            var measured = Self.wishart(sigma)
            if orthogonal {
                let fixed = Self.wishart(u)
                for i in 0..<9 { measured[i] -= fixed[i] }
            }
            out.append((0..<9).map { s[$0] + measured[$0] })
            states.append(s)
            if let m = shift { shifts.append(m) }
            guard l + 1 < kernels.count else { break }
            var (a, noise) = sameInput ? Self.singleInput(unit, k.aa) : Self.pair(unit, sigma)
            slopes.append(a)
            noises.append(noise)
            if let m = shift {
                shift = Self.meanShift(unit, sigma, u: orthogonal ? u : nil, slope: a, covariance: s, shift: m,
                                       sameInput: sameInput).map { $0.map { w2 * $0 } }
            }
            if orthogonal {
                let regression = Self.regressionOnGram(slope: a, u: u, sameInput: sameInput)
                for i in 0..<9 { noise[i] -= regression[i] }
            }
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
        guard out.allSatisfy({ $0.allSatisfy(\.isFinite) }) else { return nil }
        scaledCovariances = out
        (self.slopes, self.noises) = (slopes, noises)
        scaledMeanShifts = Array(shifts.prefix { $0.allSatisfy(\.isFinite) })
        let next: (covariances: [[Double]], cumulants: [[Double]]) = orthogonal || !nextOrder ? ([], [])
            : Self.secondOrder(unit, sigmaW: sigmaW, kernels: kernels, shifts: scaledMeanShifts, states: states,
                               sameInput: sameInput)
        let finite = zip(next.covariances, next.cumulants).prefix { (q: [Double], k: [Double]) in
            q.allSatisfy(\.isFinite) && k.allSatisfy(\.isFinite)
        }.count
        scaledSecondOrderCovariances = Array(next.covariances.prefix(finite))
        scaledThirdCumulants = Array(next.cumulants.prefix(finite))
    }

    /// `A · N μ + ½ D²F[s] − o` (before the σ_w² factor), see the type's derivation; nil where
    /// the pair's correlation is within 10⁻⁴ of ±1.
    static func meanShift(_ unit: MeanFieldMaps, _ sigma: [Double], u: [Double]?, slope a: [Double], covariance s: [Double],
                          shift m: [Double], sameInput: Bool) -> [Double]? {
        /// d²E φ(√q z)²/dq², a central difference of the analytic slope.
        func curvature(_ q: Double) -> Double {
            let h = 1e-4 * q
            return (unit.lengthMapDerivative(q + h) - unit.lengthMapDerivative(q - h)) / (2 * h)
        }
        let ca = curvature(sigma[0]), cb = sameInput ? ca : curvature(sigma[2])
        var out = [0, 1, 2].map { i in (0..<3).reduce(0) { $0 + a[i * 3 + $1] * m[$1] } }
        out[0] += 0.5 * ca * s[0] - (u.map { $0[0] * $0[0] * ca } ?? 0)
        out[2] += 0.5 * cb * s[8] - (u.map { $0[2] * $0[2] * cb } ?? 0)
        if sameInput { return [out[0], out[0], out[0]] }
        let scale = (sigma[0] * sigma[2]).squareRoot(), margin = 1 - abs(sigma[1] / scale)
        guard margin >= 1e-4 else { return nil }
        let epsilon = Swift.min(1e-3, margin / 4)
        func fab(_ v: [Double], _ t: Double) -> Double {
            unit.secondMoment(qaa: sigma[0] + t * v[0], qbb: sigma[2] + t * v[2], qab: sigma[1] + t * v[1])
        }
        let centre = fab([0, 0, 0], 0)
        /// d²/dt² F_ab(Σ + t v) at 0, with a step that moves no entry by more than ε relative.
        func secondDifference(_ v: [Double]) -> Double {
            let size = Swift.max(abs(v[0]) / sigma[0], abs(v[1]) / scale, abs(v[2]) / sigma[2])
            guard size > 0 else { return 0 }
            let h = epsilon / size
            return (fab(v, h) - 2 * centre + fab(v, -h)) / (h * h)
        }
        out[1] += 0.5 * Self.factors(s).reduce(0) { $0 + secondDifference($1) }
        if let u { out[1] -= secondDifference(u) }
        return out
    }

    /// Vectors v_m with `s = Σ_m v_m v_mᵀ` for a positive semi-definite 3×3 s (an outer-product
    /// Cholesky, pivots below 10⁻¹⁴ of the largest diagonal entry dropped as zero).
    static func factors(_ s: [Double]) -> [[Double]] {
        var a = s, out: [[Double]] = []
        let floor = 1e-14 * Swift.max(s[0], s[4], s[8])
        for k in 0..<3 {
            let d = a[k * 3 + k]
            guard d > floor else { continue }
            let v = (0..<3).map { i in i < k ? 0 : a[i * 3 + k] / d.squareRoot() }
            for i in 0..<3 { for j in 0..<3 { a[i * 3 + j] -= v[i] * v[j] } }
            out.append(v)
        }
        return out
    }

    /// `½ tr(M_x U M_y U)` for the entries x, y of F: the variance of each φ moment's regression
    /// on the rows' second moments, which orthogonal weights hold fixed (see the derivation).
    static func regressionOnGram(slope a: [Double], u: [Double], sameInput: Bool) -> [Double] {
        if sameInput {
            let v = 2 * a[0] * a[0] * u[0] * u[0]
            return [Double](repeating: v, count: 9)
        }
        let gram: [[Double]] = [[u[0], u[1]], [u[1], u[2]]]
        let m: [[[Double]]] = (0..<3).map { x in
            let (aa, ab, bb) = (2 * a[x * 3], a[x * 3 + 1], 2 * a[x * 3 + 2])
            return [[aa, ab], [ab, bb]]
        }
        func product(_ x: [[Double]], _ y: [[Double]]) -> [[Double]] {
            (0..<2).map { i in
                (0..<2).map { j -> Double in
                    let first = x[i][0] * y[0][j]
                    return first + x[i][1] * y[1][j]
                }
            }
        }
        let mu = m.map { product($0, gram) }
        return (0..<3).flatMap { x in
            (0..<3).map { y in
                let p = product(mu[x], mu[y])
                return 0.5 * (p[0][0] + p[1][1])
            }
        }
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
        // E φ_a^m φ_b^{4−m}, m = 0…4.
        let fourth = (0...4).map { m in moment(unit, sigma, m, 4 - m) }
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
