/// The next order of ``KernelFluctuations`` for Gaussian weights: the O(1/N²) term Q of
/// `N Cov K̂ = P + Q/N` and the third cumulant `κ = N² κ₃(K̂)`, which the delta method needs
/// for c's variance to O(1/N²) (Roberts, Yaida & Hanin 2022, ch. 4, carried one order on).
///
/// With the pair's state Σ = (Σ_aa, Σ_ab, Σ_bb) (Σ_ab one coordinate), Y = (φ_a², φ_aφ_b, φ_b²),
/// F = E Y, C = Cov Y, κ₃^φ its third cumulant, A, H, T the first three derivatives of F, and
/// the cumulants of δΣ^l: mean μ/N, covariance s/N + t/N², third cumulant k/N². Given Σ^l,
/// X̂^l is a mean of N iid Y's, exactly, so by the laws of total variance and cumulance,
/// expanding F and C about Σ̄ with Gaussian fourth moments of δΣ (Var δ² = 2s², Cov(δ, δ³) = 3s²):
///
/// - `t^{l+1} = σ_w⁴ [A t Aᵀ + X + Xᵀ + ½ H_α:s:H_β + Y + Yᵀ + ∂C·μ + ½ ∂²C:s]`,
///   `X_αβ = ½ A_αi H_βjk (2 μ_j s_ik + k_ijk)`, `Y_αβ = ½ A_αi T_βjkl s_ij s_kl`;
/// - `k^{l+1} = σ_w⁶ [A A A:k + sym(A_αi A_βj H_γkl s_ik s_jl) + sym(A_αi s_ij ∂_j C_βγ) + κ₃^φ]`
///   (sym: the sum over the three cyclic orders);
///
/// all zero at l = 1. The measured K̂ is Σ plus a Wishart given Σ (exact): with W(Σ) the
/// Wishart covariance, `Q = t + ∂W·μ + ½ ∂²W:s`, `κ = k + sym(s ∂W) + κ₃^W`,
/// `κ₃^W_αβγ = 8 tr(M_α Σ M_β Σ M_γ Σ)`, M_(ab) = ½(e_a e_bᵀ + e_b e_aᵀ). One input is the
/// scalar case of the same formulas. Known answers, tested: the classical second order of the
/// sample correlation's variance at layer 1, `(1 − ρ²)²(1 + 11ρ²/(2N))/N` (Hotelling 1953),
/// and an independent implementation's numbers. Derivatives are nested central differences
/// of the 2-D Gaussian integrals (steps 10⁻³ relative, 4·10⁻³ for the third), so the pair's
/// terms stop where 1 − |c| < 0.05, whose steps would cross |c| = 1.
extension KernelFluctuations {
    /// Q and κ per layer from the leading order's mean-field kernels, shifts and state
    /// covariances s (layer 1 first); stops at the first layer without a shift or, for a pair,
    /// with 1 − |c| < 0.05.
    static func secondOrder(_ unit: MeanFieldMaps, sigmaW: Double, kernels: [(aa: Double, ab: Double, bb: Double)],
                            shifts: [[Double]], states: [[Double]], sameInput: Bool)
        -> (covariances: [[Double]], cumulants: [[Double]]) {
        let w2 = sigmaW * sigmaW, w4 = w2 * w2, w6 = w4 * w2
        let d = sameInput ? 1 : 3
        var t = [Double](repeating: 0, count: d * d), k = [Double](repeating: 0, count: d * d * d)
        var covariances: [[Double]] = [], cumulants: [[Double]] = []
        for l in 0..<min(kernels.count, shifts.count, states.count) {
            let kernel = kernels[l]
            let sigma = sameInput ? [kernel.aa] : [kernel.aa, kernel.ab, kernel.bb]
            if !sameInput {
                guard 1 - abs(kernel.ab / (kernel.aa * kernel.bb).squareRoot()) >= 0.05 else { break }
            }
            let mu = sameInput ? [shifts[l][0]] : shifts[l]
            let s = sameInput ? [states[l][0]] : states[l]
            let scale = sameInput ? [kernel.aa] : [kernel.aa, (kernel.aa * kernel.bb).squareRoot(), kernel.bb]
            let wishart: ([Double]) -> [Double] = sameInput ? { [2 * $0[0] * $0[0]] } : { Self.wishart($0) }
            // The measured kernel: Q and κ.
            let dW = derivatives(wishart, at: sigma, order: 1, step: 1e-3, scale: scale, dimension: d)
            let d2W = derivatives(wishart, at: sigma, order: 2, step: 1e-3, scale: scale, dimension: d)
            var q = t
            for x in 0..<(d * d) {
                for i in 0..<d { q[x] += dW[x * d + i] * mu[i] }
                for i in 0..<d { for j in 0..<d { q[x] += 0.5 * d2W[(x * d + i) * d + j] * s[i * d + j] } }
            }
            let sdW = contract(s, dW, dimension: d)
            var kappa = k
            let wishartCumulant = sameInput ? [8 * sigma[0] * sigma[0] * sigma[0]] : Self.wishartCumulant(sigma)
            for a in 0..<d {
                for b in 0..<d {
                    for c in 0..<d {
                        kappa[(a * d + b) * d + c] += sdW[(a * d + b) * d + c] + sdW[(b * d + c) * d + a]
                            + sdW[(c * d + a) * d + b] + wishartCumulant[(a * d + b) * d + c]
                    }
                }
            }
            covariances.append(expand(q, dimension: d, rank: 2))
            cumulants.append(expand(kappa, dimension: d, rank: 3))
            guard l + 1 < kernels.count else { break }
            // The recursion to layer l + 1.
            let f: ([Double]) -> [Double] = { Self.moments(unit, $0, sameInput: sameInput, upTo: 2).f }
            let c: ([Double]) -> [Double] = { Self.moments(unit, $0, sameInput: sameInput, upTo: 4).c }
            let a = derivatives(f, at: sigma, order: 1, step: 1e-3, scale: scale, dimension: d)
            let h = derivatives(f, at: sigma, order: 2, step: 1e-3, scale: scale, dimension: d)
            let third = derivatives(f, at: sigma, order: 3, step: 4e-3, scale: scale, dimension: d)
            let dC = derivatives(c, at: sigma, order: 1, step: 1e-3, scale: scale, dimension: d)
            let d2C = derivatives(c, at: sigma, order: 2, step: 1e-3, scale: scale, dimension: d)
            let phiCumulant = Self.moments(unit, sigma, sameInput: sameInput, upTo: 6).k3
            var next = [Double](repeating: 0, count: d * d)
            for al in 0..<d {
                for be in 0..<d {
                    var v = 0.0
                    for i in 0..<d {
                        for j in 0..<d {
                            v += a[al * d + i] * t[i * d + j] * a[be * d + j]
                            v += 0.5 * d2C[((al * d + be) * d + i) * d + j] * s[i * d + j]
                            for kk in 0..<d {
                                let inner = 2 * mu[j] * s[i * d + kk] + k[(i * d + j) * d + kk]
                                v += 0.5 * (a[al * d + i] * h[(be * d + j) * d + kk] + a[be * d + i] * h[(al * d + j) * d + kk]) * inner
                                for ll in 0..<d {
                                    v += 0.5 * h[(al * d + i) * d + j] * h[(be * d + kk) * d + ll] * s[i * d + kk] * s[j * d + ll]
                                    let ts = s[i * d + j] * s[kk * d + ll]
                                    v += 0.5 * (a[al * d + i] * third[((be * d + j) * d + kk) * d + ll]
                                                + a[be * d + i] * third[((al * d + j) * d + kk) * d + ll]) * ts
                                }
                            }
                        }
                        v += dC[(al * d + be) * d + i] * mu[i]
                    }
                    next[al * d + be] = w4 * v
                }
            }
            let asdC = contract(matrixProduct(a, s, dimension: d), dC, dimension: d)
            var nextK = [Double](repeating: 0, count: d * d * d)
            for x in 0..<d {
                for y in 0..<d {
                    for z in 0..<d {
                        var v = phiCumulant[(x * d + y) * d + z]
                        v += asdC[(x * d + y) * d + z] + asdC[(y * d + z) * d + x] + asdC[(z * d + x) * d + y]
                        for i in 0..<d {
                            for j in 0..<d {
                                for kk in 0..<d {
                                    v += a[x * d + i] * a[y * d + j] * a[z * d + kk] * k[(i * d + j) * d + kk]
                                    for ll in 0..<d {
                                        let ss = s[i * d + kk] * s[j * d + ll]
                                        v += (a[x * d + i] * a[y * d + j] * h[(z * d + kk) * d + ll]
                                              + a[z * d + i] * a[x * d + j] * h[(y * d + kk) * d + ll]
                                              + a[y * d + i] * a[z * d + j] * h[(x * d + kk) * d + ll]) * ss
                                    }
                                }
                            }
                        }
                        nextK[(x * d + y) * d + z] = w6 * v
                    }
                }
            }
            t = next
            k = nextK
        }
        return (covariances, cumulants)
    }

    /// `X_αβγ = Σ_i m_αi D_βγi` for a d×d matrix m and a derivative array D (components βγ, index i).
    static func contract(_ m: [Double], _ derivative: [Double], dimension d: Int) -> [Double] {
        var out = [Double](repeating: 0, count: d * d * d)
        for a in 0..<d { for b in 0..<d { for c in 0..<d { for i in 0..<d {
            out[(a * d + b) * d + c] += m[a * d + i] * derivative[(b * d + c) * d + i]
        } } } }
        return out
    }

    static func matrixProduct(_ x: [Double], _ y: [Double], dimension d: Int) -> [Double] {
        (0..<(d * d)).map { e in (0..<d).reduce(0.0) { $0 + x[(e / d) * d + $1] * y[$1 * d + e % d] } }
    }

    /// A scalar (d = 1) tensor spread over the pair's 3^rank form, as the leading order stores a
    /// single input; a pair's (d = 3) unchanged.
    static func expand(_ x: [Double], dimension d: Int, rank: Int) -> [Double] {
        d == 3 ? x : [Double](repeating: x[0], count: rank == 2 ? 9 : 27)
    }

    /// Partial derivatives of order 1…3 of a vector function of the state by nested central
    /// differences, coordinate i stepped by `step · scale[i]`: `[component][i][j][k]` row-major.
    static func derivatives(_ f: ([Double]) -> [Double], at x: [Double], order: Int, step: Double, scale: [Double],
                            dimension d: Int) -> [Double] {
        let size = (0..<order).reduce(1) { r, _ in r * d }
        var out: [Double] = []
        var index = [Int](repeating: 0, count: order)
        for flat in 0..<size {
            var r = flat
            for p in (0..<order).reversed() { index[p] = r % d; r /= d }
            guard index == index.sorted() else { continue }
            var total: [Double] = []
            for signs in 0..<(1 << order) {
                var point = x, sign = 1.0
                for p in 0..<order {
                    let s: Double = (signs >> p) & 1 == 0 ? 1 : -1
                    point[index[p]] += s * step * scale[index[p]]
                    sign *= s
                }
                let value = f(point)
                if total.isEmpty { total = [Double](repeating: 0, count: value.count) }
                for m in value.indices { total[m] += sign * value[m] }
            }
            if out.isEmpty { out = [Double](repeating: 0, count: total.count * size) }
            let denominator = index.reduce(1.0) { $0 * 2 * step * scale[$1] }
            // Every permutation of the sorted index holds the same value.
            for permutation in permutations(index) {
                let position = permutation.reduce(0) { $0 * d + $1 }
                for m in total.indices { out[m * size + position] = total[m] / denominator }
            }
        }
        return out
    }

    static func permutations(_ x: [Int]) -> Set<[Int]> {
        guard x.count > 1 else { return [x] }
        var out: Set<[Int]> = []
        for i in x.indices {
            var rest = x
            let first = rest.remove(at: i)
            for p in permutations(rest) { out.insert([first] + p) }
        }
        return out
    }

    /// F = E Y, C = Cov Y and κ₃^φ for Y = (φ_a², φ_aφ_b, φ_b²) at Σ = (Σ_aa, Σ_ab, Σ_bb), or
    /// Y = φ² at Σ = (q) for one input, from `E φ_a^m φ_b^n` (``moment(_:_:_:_:)``) with
    /// m + n ≤ `upTo` (2: F; 4: and C; 6: and κ₃^φ); what is not computed is empty.
    static func moments(_ unit: MeanFieldMaps, _ sigma: [Double], sameInput: Bool, upTo order: Int)
        -> (f: [Double], c: [Double], k3: [Double]) {
        if sameInput {
            let q = [sigma[0], sigma[0], sigma[0]], m2 = moment(unit, q, 2, 0)
            guard order > 2 else { return ([m2], [], []) }
            let m4 = moment(unit, q, 4, 0)
            guard order > 4 else { return ([m2], [m4 - m2 * m2], []) }
            let m6 = moment(unit, q, 6, 0)
            return ([m2], [m4 - m2 * m2], [m6 - 3 * m4 * m2 + 2 * m2 * m2 * m2])
        }
        // a's power in Y_α: aa 2, ab 1, bb 0.
        let power = [2, 1, 0]
        let f = power.map { moment(unit, sigma, $0, 2 - $0) }
        guard order > 2 else { return (f, [], []) }
        var second = [Double](repeating: 0, count: 9), c = second
        var fourth: [Int: Double] = [:], sixth: [Int: Double] = [:]
        for x in 0..<3 {
            for y in 0..<3 {
                let m = power[x] + power[y]
                if fourth[m] == nil { fourth[m] = moment(unit, sigma, m, 4 - m) }
                second[x * 3 + y] = fourth[m]!
                c[x * 3 + y] = fourth[m]! - f[x] * f[y]
            }
        }
        guard order > 4 else { return (f, c, []) }
        var k3 = [Double](repeating: 0, count: 27)
        for x in 0..<3 {
            for y in 0..<3 {
                for z in 0..<3 {
                    let m = power[x] + power[y] + power[z]
                    if sixth[m] == nil { sixth[m] = moment(unit, sigma, m, 6 - m) }
                    k3[(x * 3 + y) * 3 + z] = sixth[m]! - f[x] * second[y * 3 + z] - f[y] * second[x * 3 + z]
                        - f[z] * second[x * 3 + y] + 2 * f[x] * f[y] * f[z]
                }
            }
        }
        return (f, c, k3)
    }

    /// `E φ(u_a)^m φ(u_b)^n`, u ~ N(0, Σ), Σ = (Σ_aa, Σ_ab, Σ_bb): 1-D where one power is 0.
    static func moment(_ unit: MeanFieldMaps, _ sigma: [Double], _ m: Int, _ n: Int) -> Double {
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
        if n == 0 { return quadrature.expectation(scale: sigma[0].squareRoot(), breakpoints: phi.breakpoints, batch: power(m)).value }
        if m == 0 { return quadrature.expectation(scale: sigma[2].squareRoot(), breakpoints: phi.breakpoints, batch: power(n)).value }
        let c = Swift.min(1, Swift.max(-1, sigma[1] / (sigma[0].squareRoot() * sigma[2].squareRoot())))
        return quadrature.expectation(qaa: sigma[0], qbb: sigma[2], correlation: c, batch: power(m), breakpointsF: phi.breakpoints,
                                      batch: power(n), breakpointsG: phi.breakpoints).value
    }

    /// `κ₃^W_αβγ = 8 tr(M_α Σ M_β Σ M_γ Σ)` over the pair's entries, `M_(ab) = ½(e_a e_bᵀ + e_b e_aᵀ)`:
    /// the third cumulant of (h_a², h_a h_b, h_b²) for h ~ N(0, Σ).
    static func wishartCumulant(_ sigma: [Double]) -> [Double] {
        let s = [[sigma[0], sigma[1]], [sigma[1], sigma[2]]]
        let m: [[[Double]]] = [[[1, 0], [0, 0]], [[0, 0.5], [0.5, 0]], [[0, 0], [0, 1]]]
        func product(_ x: [[Double]], _ y: [[Double]]) -> [[Double]] {
            (0..<2).map { i in (0..<2).map { j -> Double in x[i][0] * y[0][j] + x[i][1] * y[1][j] } }
        }
        let ms = m.map { product($0, s) }
        var out = [Double](repeating: 0, count: 27)
        for a in 0..<3 {
            for b in 0..<3 {
                let ab = product(ms[a], ms[b])
                for c in 0..<3 {
                    let abc = product(ab, ms[c])
                    out[(a * 3 + b) * 3 + c] = 8 * (abc[0][0] + abc[1][1])
                }
            }
        }
        return out
    }
}
