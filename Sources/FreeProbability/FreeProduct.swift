#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The spectral law of a free product of positive elements, normalised to mean 1, given by
/// its S-transform
///
///     S(m) = Π_g S_g(m)^{n_g} · (1 + m)^{−n_MP} · Π_r ((1 − κ_r(1 + 2m))/(1 − κ_r))^{n_r} · e^{−2κ_e m}
///
/// — discrete laws g (the layers' D², mean 1) with S_g(m) = u_g (1 + m)/m, ψ_g(u_g) = m;
/// Marchenko–Pastur factors (Gaussian WᵀW, ratio 1); Tarnowski's residual factors; and his
/// L → ∞ exponential. Conventions (Voiculescu; Pennington, Schoenholz & Ganguli 2017):
/// `ψ(u) = Σ_k m_k u^k = E[uλ/(1 − uλ)]`, `χ = ψ⁻¹`, `S(m) = χ(m)(1 + m)/m`, Stieltjes
/// transform `G(z) = (1 + ψ(1/z))/z`, so `m = zG − 1` solves `z m S(m) = 1 + m`, and the
/// density is `ρ(x) = −Im G(x + i0)/π`.
///
/// Solver. For z = x + iε the unknowns are m and every group's u_g; Newton's method is
/// applied to `ln ψ_g(u_g) = ln m` and `ln z + ln χ(m; u) = 0 (mod 2πi)`, with
/// `ln χ = (1 − n_D)(ln m − ln(1 + m)) − n_MP ln(1 + m) + Σ n_g ln u_g + ln S_explicit`
/// (n_D = Σ n_g). The bordered Jacobian is solved by its Schur complement in O(groups).
/// The physical branch has Im m < 0 and Im u_g < 0 when Im z > 0 (the subordination
/// functions map C⁺ to C⁺); Newton steps are damped to stay there. Continuation: from
/// ε₀ = 2(x_max + |x|) + 1, where the point-mass guess m = 1/(z − 1), u_g = 1/z is accurate,
/// down to ε = 10⁻¹⁰ min(|x|, σ) (σ the law's standard deviation), by steps of at most ×100
/// that grow when Newton converges fast and shrink on failure, and of at most ×4 while ε
/// passes |x| (where the branches are closest). Each group is evaluated on its quadrature
/// nodes while they resolve u_g (`FactorLaw.resolves`) and on its histogram law from the
/// first step where they do not. If the continuation stalls (≤ 10⁻³ per step, or 400
/// steps) the density is the Poisson-smoothed one at the smallest ε reached.
struct FreeProduct: Sendable {
    struct Group: Sendable {
        var law: FactorLaw
        var multiplicity: Int
    }

    var groups: [Group] = []
    /// Number of Marchenko–Pastur (Gaussian WᵀW) factors.
    var marchenkoPastur = 0
    /// Residual factors (κ, multiplicity), S = (1 − κ(1 + 2m))/(1 − κ).
    var linear: [(kappa: Double, multiplicity: Int)] = []
    /// Rate of the exponential factor e^{−2κ m}.
    var exponential = 0.0
    /// Atoms of the product (normalised locations), including the one at 0.
    var atoms: [SpectralAtom] = []
    /// Variance of the normalised law, m2/m1² − 1.
    var variance = 0.0

    var zeroAtom: Double { atoms.first(where: { $0.location == 0 })?.weight ?? 0 }
    private var groupCount: Int { groups.reduce(0) { $0 + $1.multiplicity } }

    /// A point mass at 1 (every factor a scalar).
    var isPointMass: Bool {
        groups.isEmpty && marchenkoPastur == 0 && exponential == 0 && linear.allSatisfy { $0.kappa == 0 }
    }

    // MARK: - The equation

    /// The explicit part of log S and its derivative.
    private func explicitLogS(_ m: Complex) -> (Complex, Complex) {
        var value = Complex(-2 * exponential * m.re, -2 * exponential * m.im)
        var derivative = Complex(-2 * exponential, 0)
        for (kappa, n) in linear where kappa != 0 {
            let a = 1 - kappa * (1 + 2 * m)
            value += Double(n) * (a.log - realLogarithm(1 - kappa))
            derivative += Double(n) * (-2 * kappa) / a
        }
        return (value, derivative)
    }

    private func explicitLogS(real m: Double) -> (Double, Double) {
        var value = -2 * exponential * m, derivative = -2 * exponential
        for (kappa, n) in linear where kappa != 0 {
            let a = 1 - kappa * (1 + 2 * m)
            value += Double(n) * (realLogarithm(a) - realLogarithm(1 - kappa))
            derivative += Double(n) * (-2 * kappa) / a
        }
        return (value, derivative)
    }

    /// Newton's unknowns. m is carried three times, as m, p = 1 + m and q = m + 1 − P0 (P0 the
    /// atom at 0), all updated by the same steps: each keeps its relative accuracy where it is
    /// small — m far from the support, q as x → 0 where m → −(1 − P0) and q ~ x^{1/(L+1)}
    /// would be lost to rounding in m.
    struct State {
        var m: Complex
        var p: Complex
        var q: Complex
        var u: [Complex]
        /// Whether group g is evaluated as its histogram (once its nodes stop resolving u_g).
        var histogram: [Bool]

        /// The point-mass-at-1 guess, exact as |z| → ∞: m = 1/(z − 1), u_g = 1/z.
        init(z: Complex, groups: Int, zeroAtom: Double) {
            m = 1 / (z - 1)
            p = z / (z - 1)
            q = zeroAtom == 0 ? p : m + (1 - zeroAtom)
            u = [Complex](repeating: 1 / z, count: groups)
            histogram = [Bool](repeating: false, count: groups)
        }
    }

    /// Newton's method at z from `state`; true (and `state` the root) on convergence on the
    /// physical branch. Every equation is taken in logarithmic form, `ln ψ_g(u_g) = ln m` (or,
    /// where |m| > |m + 1 − P0_g|, `ln φ_g(u_g) = ln(m + 1 − P0_g)` with φ_g = ψ_g + 1 − P0_g)
    /// and `ln z + ln χ = 0`, imaginary parts reduced to (−π, π]: near a pole of ψ_g (u_g → 1/t
    /// for an atom t, where m → ∞ at a hard edge) and near its zeros the logarithm is close
    /// to linear in u_g, where ψ_g itself is not.
    private func newton(z: Complex, state: inout State, maxIterations: Int = 40) -> (converged: Bool, iterations: Int) {
        let nD = Double(groupCount), nMP = Double(marchenkoPastur)
        let zero = zeroAtom
        let logZ = z.log
        var previousStep = Double.infinity
        var r = [Complex](repeating: .zero, count: groups.count)
        var slope = r, coupling = r, du = r
        for iteration in 1...maxIterations {
            let m = state.m
            let onePlusM = state.p
            let logM = m.log
            var f = logZ + (1 - nD) * (logM - onePlusM.log) - nMP * onePlusM.log
            var fm = (1 - nD) * (1 / m - 1 / onePlusM) - nMP / onePlusM
            let (e, de) = explicitLogS(m)
            f += e; fm += de
            var numerator = Complex.zero, denominator = fm
            for (g, group) in groups.enumerated() {
                let u = state.u[g]
                let (psi, shifted, derivative) = group.law.psi(u, histogram: state.histogram[g])
                // m + 1 − P0_g, accurate through q.
                let target = state.q + (zero - group.law.zeroMass)
                var residual: Complex
                let mSlope: Complex                     // ∂ residual/∂m
                if m.magnitude <= target.magnitude {
                    residual = psi.log - logM
                    slope[g] = derivative / psi
                    mSlope = -1 / m
                } else {
                    residual = shifted.log - target.log
                    slope[g] = derivative / shifted
                    mSlope = -1 / target
                }
                residual.im = remainder(residual.im, 2 * Double.pi)
                r[g] = residual
                let n = Double(group.multiplicity)
                f += n * u.log
                coupling[g] = mSlope
                let weight = n / (u * slope[g])
                numerator += weight * residual
                denominator -= weight * mSlope
            }
            // exp(f) = 1 is the equation: reduce Im f to (−π, π].
            f.im = remainder(f.im, 2 * Double.pi)
            let dm = (numerator - f) / denominator
            var step = dm.magnitude / Swift.max(Swift.min(m.magnitude, state.q.magnitude), 1e-300)
            for g in groups.indices {
                du[g] = (-r[g] - coupling[g] * dm) / slope[g]
                step = Swift.max(step, du[g].magnitude / Swift.max(state.u[g].magnitude, 1e-300))
            }
            guard step.isFinite else { return (false, iteration) }
            // Damp to stay on the physical branch (Im m ≤ 0, Im u ≤ 0).
            var lambda = 1.0
            while lambda > 1e-6 {
                var ok = (state.m + lambda * dm).im <= 0
                for g in groups.indices where ok { ok = (state.u[g] + lambda * du[g]).im <= 0 }
                if ok { break }
                lambda *= 0.5
            }
            if lambda <= 1e-6 { return (false, iteration) }
            state.m += lambda * dm
            state.p += lambda * dm
            state.q += lambda * dm
            for g in groups.indices { state.u[g] += lambda * du[g] }
            if lambda == 1 {
                if step <= 1e-13 { return (true, iteration) }
                // Rounding floor: steps stop shrinking at the level of the sums' accuracy.
                // Near a branch point (a soft edge) that floor is ~ the square root of ε_mach.
                if step <= 1e-7 && step >= 0.5 * previousStep { return (true, iteration) }
            }
            previousStep = lambda == 1 ? step : .infinity
        }
        return (false, maxIterations)
    }

    /// Solves at z = x + iε, continuing from large ε down to `floor` (default ε_min); returns
    /// the state at the smallest ε reached and that z.
    private func solve(x: Double, top: Double, floor: Double? = nil) throws -> (State, Complex) {
        let spread = variance.squareRoot()
        let epsMin = floor ?? 1e-10 * Swift.max(Swift.min(Swift.abs(x), spread), 1e-300)
        var eps = 2 * (top + Swift.abs(x)) + 1
        var z = Complex(x, eps)
        var state = State(z: z, groups: groups.count, zeroAtom: zeroAtom)
        var converged = newton(z: z, state: &state).converged
        var tries = 0
        while !converged && tries < 20 {          // far out the guess is exact; go further out
            eps *= 4; tries += 1
            z = Complex(x, eps)
            state = State(z: z, groups: groups.count, zeroAtom: zeroAtom)
            converged = newton(z: z, state: &state).converged
        }
        guard converged else { throw SpectrumError("Newton's method did not converge at z = \(x) + \(eps)i (start of the continuation)") }
        var ratio = 10.0
        var steps = 0
        while eps > epsMin {
            // Stalled (at a hard edge, or where a law's sparse tail cannot be resolved): keep the
            // Poisson-smoothed value at the smallest ε reached.
            if ratio < 1 + 1e-3 || steps >= 400 { break }
            steps += 1
            // Steps of at most 4 while ε passes the scale of x itself, where m moves by as much
            // as the distance between branches (near x → 0 the roots of (1 + m)^{L+1} ≈ −z m
            // are x^{1/(L+1)} apart).
            let passing = eps > 0.03 * Swift.abs(x) && eps / ratio < 30 * Swift.abs(x)
            let next = Swift.max(eps / (passing ? Swift.min(ratio, 4) : ratio), epsMin)
            var trial = state
            let result = newton(z: Complex(x, next), state: &trial)
            if result.converged {
                // Where a group's quadrature nodes no longer resolve its subordination point
                // (products dominated by one orthogonal layer, low-density stretches), switch that
                // group to its histogram law and redo the step.
                var switched = false
                for g in groups.indices where !trial.histogram[g] && groups[g].law.hasHistogram {
                    let (psi, shifted, _) = groups[g].law.psi(trial.u[g], histogram: false)
                    if !groups[g].law.resolves(trial.u[g], scale: Swift.min(psi.magnitude, shifted.magnitude)) {
                        trial.histogram[g] = true
                        switched = true
                    }
                }
                if switched {
                    var retry = state
                    retry.histogram = trial.histogram
                    let again = newton(z: Complex(x, next), state: &retry)
                    guard again.converged else { ratio = ratio.squareRoot(); state.histogram = trial.histogram; continue }
                    trial = retry
                }
                state = trial; eps = next
                if result.iterations <= 4 {
                    ratio = Swift.min(ratio * ratio, 100)
                } else if result.iterations <= 10 {
                    ratio = Swift.min(ratio * ratio.squareRoot(), 100)
                }
            } else {
                ratio = ratio.squareRoot()
            }
        }
        return (state, Complex(x, eps))
    }

    /// G(z) = E 1/(z − λ) of the normalised law (atoms included) at z off the real axis,
    /// by the same continuation down to Im z; G(z̄) is the conjugate of G(z).
    func stieltjes(at z: Complex, support: ClosedRange<Double>) throws -> Complex {
        precondition(z.im != 0, "the Stieltjes transform is evaluated off the real axis")
        if isPointMass { return 1 / (z - 1) }
        let upper = Complex(z.re, Swift.abs(z.im))
        let (state, reached) = try solve(x: upper.re, top: support.upperBound, floor: upper.im)
        guard reached.im == upper.im else {
            throw SpectrumError("the continuation stalled at z = \(reached.re) + \(reached.im)i before \(upper.im)i")
        }
        let g = state.p / upper                 // G = (1 + m)/z
        return z.im > 0 ? g : g.conjugate
    }

    /// The density of the continuous part (atoms removed) at normalised points x.
    func density(at xs: [Double], support: ClosedRange<Double>) throws -> [Double] {
        if isPointMass { return xs.map { _ in 0 } }
        var result = [Double](repeating: 0, count: xs.count)
        for (i, x) in xs.enumerated() where x > 0 && support.contains(x) {
            let (state, z) = try solve(x: x, top: support.upperBound)
            // G − P0/z = q/z, minus the other atoms' poles.
            var g = state.q / z
            for atom in atoms where atom.weight > 0 && atom.location != 0 { g -= atom.weight / (z - atom.location) }
            result[i] = Swift.max(0, -g.im / Double.pi)
        }
        return result
    }

    // MARK: - Support

    /// `K(m) = log χ(m)` on the real axis (so z = e^{−K}) and K′(m), with each group's
    /// u_g = 1/v_g real: above the support for m > 0, below it for m < −1.
    private func realLogChi(_ m: Double, offsets: inout [Double?]) -> (Double, Double) {
        let above = m > 0
        let nD = Double(groupCount), nMP = Double(marchenkoPastur)
        var k = (1 - nD) * (realLogarithm(Swift.abs(m)) - realLogarithm(Swift.abs(1 + m))) - nMP * realLogarithm(Swift.abs(1 + m))
        var dk = (1 - nD) * (1 / m - 1 / (1 + m)) - nMP / (1 + m)
        let (e, de) = explicitLogS(real: m)
        k += e; dk += de
        for (g, group) in groups.enumerated() {
            let offset = group.law.realInverse(m, above: above, guess: offsets[g])
            offsets[g] = offset
            let v = above ? group.law.maximum + offset : offset
            let derivative = group.law.realPsi(offset: offset, above: above).derivative
            let n = Double(group.multiplicity)
            k -= n * realLogarithm(v)
            dk -= n / (v * derivative)
        }
        return (k, dk)
    }

    /// The largest m for which the explicit factors stay positive on the real axis.
    private var explicitCap: Double {
        var cap = Double.infinity
        for (kappa, _) in linear where kappa > 0 { cap = Swift.min(cap, (1 / kappa - 1) / 2) }
        return cap
    }

    /// The edge of the support on one side: the first critical point of z(m) = e^{−K(m)}
    /// going away from the outside (m ↓ 0⁺ is z → +∞, m ↑ −1⁻ is z → 0⁺), bracketed on a
    /// geometric grid (ratio 1.25) and bisected; if none is found the edge is hard and its
    /// limit is taken at the end of the grid.
    private func edge(above: Bool) -> Double {
        var offsets = [Double?](repeating: nil, count: groups.count)
        // Parameter s > 0: m = s above, m = −1 − s below.
        let cap = above ? Swift.min(1e12, explicitCap * (1 - 1e-12)) : 1e12
        func m(_ s: Double) -> Double { above ? s : -1 - s }
        var s = above ? 1e-8 / (1 + variance) : 1e-12
        var previous = s
        var (k, dk) = realLogChi(m(s), offsets: &offsets)
        while dk > 0 && s < cap {
            previous = s
            s = Swift.min(s * 1.25, cap)
            (k, dk) = realLogChi(m(s), offsets: &offsets)
        }
        if dk > 0 { return exp(-k) }              // no critical point: hard edge
        var lo = previous, hi = s                  // dK/dm > 0 at lo, ≤ 0 at hi
        var loOffsets = offsets
        for _ in 0..<200 where hi - lo > 1e-14 * hi {
            let mid = (lo * hi).squareRoot()
            var trial = loOffsets
            let (_, d) = realLogChi(m(mid), offsets: &trial)
            if d > 0 { lo = mid; loOffsets = trial } else { hi = mid }
        }
        var final = loOffsets
        let (kEdge, _) = realLogChi(m(lo), offsets: &final)
        return exp(-kEdge)
    }

    /// [lower edge, upper edge] of the normalised law: 0 when there is an atom at 0 or a
    /// Marchenko–Pastur factor (hard edge at 0).
    func support() -> ClosedRange<Double> {
        if isPointMass { return 1...1 }
        let top = edge(above: true)
        let bottom = (marchenkoPastur > 0 || zeroAtom > 0) ? 0 : Swift.min(edge(above: false), top)
        return bottom...top
    }

    // MARK: - Atoms

    /// Atoms of a free product from its factors' atoms (Belinschi 2003; Bercovici &
    /// Voiculescu): μ ⊠ ν has an atom at ab iff μ({a}) + ν({b}) > 1, of weight
    /// μ({a}) + ν({b}) − 1, for a, b > 0; the atom at 0 has weight max(μ({0}), ν({0})).
    /// `factors` lists each factor's atoms; a factor with a continuous part has no atom of
    /// full weight, and one with no atoms (Marchenko–Pastur) kills all atoms but 0's.
    static func productAtoms(_ factors: [[SpectralAtom]]) -> [SpectralAtom] {
        var zero = 0.0
        var combined = [SpectralAtom(location: 1, weight: 1)]
        for factor in factors {
            zero = Swift.max(zero, factor.first(where: { $0.location == 0 })?.weight ?? 0)
            var next: [SpectralAtom] = []
            for a in combined {
                for b in factor where b.location > 0 {
                    let w = a.weight + b.weight - 1
                    if w > 1e-15 { next.append(SpectralAtom(location: a.location * b.location, weight: w)) }
                }
            }
            combined = next
        }
        var result = combined
        if zero > 0 { result.insert(SpectralAtom(location: 0, weight: zero), at: 0) }
        return result.sorted { $0.location < $1.location }
    }
}
