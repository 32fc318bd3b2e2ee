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
/// `log χ = (1 − n_D)(log m − log(1 + m)) − n_MP log(1 + m) + Σ n_g log u_g + log S_explicit`
/// (n_D = Σ n_g). The bordered Jacobian is solved by its Schur complement in O(groups).
/// The physical branch has Im m < 0 and Im u_g < 0 when Im z > 0 (the subordination
/// functions map C⁺ to C⁺); Newton steps are damped to stay there. Continuation: from
/// ε₀ = 2(x_max + |x|) + 1, where the point-mass guess m = 1/(z − 1), u_g = 1/z is accurate,
/// down to ε = 10⁻¹⁰ min(|x|, σ) (σ the law's standard deviation), with a ratio per step that
/// grows when Newton converges fast and shrinks on failure.
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

    struct State {
        var m: Complex
        var u: [Complex]
    }

    /// Newton's method at z from `state`; true (and `state` the root) on convergence on the
    /// physical branch. Every equation is taken in logarithmic form, `ln ψ_g(u_g) = ln m` and
    /// `ln z + ln χ = 0`, imaginary parts reduced to (−π, π]: near a pole of ψ_g (u_g → 1/t
    /// for an atom t, where m → ∞ at a hard edge) and near its zero the logarithm is close to
    /// linear in u_g, where ψ_g itself is not.
    private func newton(z: Complex, state: inout State, maxIterations: Int = 40) -> (converged: Bool, iterations: Int) {
        let nD = Double(groupCount), nMP = Double(marchenkoPastur)
        let logZ = z.log
        var previousStep = Double.infinity
        var r = [Complex](repeating: .zero, count: groups.count)
        var slope = r
        var du = r
        for iteration in 1...maxIterations {
            let m = state.m
            let onePlusM = 1 + m
            let logM = m.log
            var f = logZ + (1 - nD) * (logM - onePlusM.log) - nMP * onePlusM.log
            var fm = (1 - nD) * (1 / m - 1 / onePlusM) - nMP / onePlusM
            let (e, de) = explicitLogS(m)
            f += e; fm += de
            var numerator = Complex.zero, denominator = fm
            for (g, group) in groups.enumerated() {
                let u = state.u[g]
                let (psi, derivative) = group.law.psi(u)
                var residual = psi.log - logM
                residual.im = remainder(residual.im, 2 * Double.pi)
                r[g] = residual
                slope[g] = derivative / psi             // ∂ ln ψ/∂u
                let n = Double(group.multiplicity)
                f += n * u.log
                let coupling = n / (u * slope[g])
                numerator += coupling * r[g]
                denominator += coupling / m
            }
            // exp(f) = 1 is the equation: reduce Im f to (−π, π].
            f.im = remainder(f.im, 2 * Double.pi)
            let dm = (numerator - f) / denominator
            var step = dm.magnitude / Swift.max(m.magnitude, 1e-300)
            for g in groups.indices {
                du[g] = (dm / m - r[g]) / slope[g]
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
            for g in groups.indices { state.u[g] += lambda * du[g] }
            if lambda == 1 {
                if step <= 1e-13 { return (true, iteration) }
                // Rounding floor: steps stop shrinking at the level of the sums' accuracy.
                if step <= 1e-9 && step >= 0.5 * previousStep { return (true, iteration) }
            }
            previousStep = lambda == 1 ? step : .infinity
        }
        return (false, maxIterations)
    }

    /// Solves at z = x + iε, continuing from large ε; returns G(x + iε_min)'s state.
    private func solve(x: Double, top: Double) throws -> (State, Complex) {
        let spread = variance.squareRoot()
        let epsMin = 1e-10 * Swift.max(Swift.min(Swift.abs(x), spread), 1e-300)
        var eps = 2 * (top + Swift.abs(x)) + 1
        var z = Complex(x, eps)
        var state = State(m: 1 / (z - 1), u: [Complex](repeating: 1 / z, count: groups.count))
        var converged = newton(z: z, state: &state).converged
        var tries = 0
        while !converged && tries < 20 {          // far out the guess is exact; go further out
            eps *= 4; tries += 1
            z = Complex(x, eps)
            state = State(m: 1 / (z - 1), u: [Complex](repeating: 1 / z, count: groups.count))
            converged = newton(z: z, state: &state).converged
        }
        guard converged else { throw SpectrumError("Newton's method did not converge at z = \(x) + \(eps)i (start of the continuation)") }
        var ratio = 10.0
        while eps > epsMin {
            let next = Swift.max(eps / ratio, epsMin)
            var trial = state
            let result = newton(z: Complex(x, next), state: &trial)
            if result.converged {
                state = trial; eps = next
                if result.iterations <= 4 { ratio = Swift.min(ratio * ratio, 1e4) }
            } else {
                ratio = ratio.squareRoot()
                if ratio < 1 + 1e-4 {
                    throw SpectrumError("continuation in Im z stalled at x = \(x), ε = \(eps) (normalised units)")
                }
            }
        }
        return (state, Complex(x, eps))
    }

    /// The density of the continuous part (atoms removed) at normalised points x.
    func density(at xs: [Double], support: ClosedRange<Double>) throws -> [Double] {
        if isPointMass { return xs.map { _ in 0 } }
        var result = [Double](repeating: 0, count: xs.count)
        for (i, x) in xs.enumerated() where x > 0 && support.contains(x) {
            let (state, z) = try solve(x: x, top: support.upperBound)
            var g = (1 + state.m) / z
            for atom in atoms where atom.weight > 0 { g -= atom.weight / (z - atom.location) }
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
