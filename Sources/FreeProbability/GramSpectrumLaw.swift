/// The deterministic equivalent of the spectrum of a random-feature Gram matrix (Louart,
/// Liao & Couillet 2018, Thm 1): `K = FᵀF/B`, F the N×B features `φ(W X + b)` of
/// one random layer on a fixed batch X, with rows f_i iid of second moment
/// `Φ = E f fᵀ` (the one-layer NNGP kernel of the data, `Φ_ab = E φ(u_a) φ(u_b)`). As N, B
/// grow with N/B fixed, the resolvent `(K − z)⁻¹` is close to
///
///     Q̄(z) = ((N/B) Φ/(1 + δ(z)) − z I)⁻¹,   δ(z) = (1/B) Tr Φ Q̄(z),
///
/// so with Φ's eigenvalues φ_k the Stieltjes transform `m(z) = (1/B) Tr Q̄(z)` and δ are
/// scalar sums: `δ = (1/B) Σ_k φ_k/(aφ_k/(1 + δ) − z)`, a = N/B, and the density is
/// `ρ(x) = Im m(x + i0)/π`. For Φ = I it is the Marchenko–Pastur law of ratio B/N scaled by
/// N/B. δ is found by Newton's method, continued from large Im z (where δ ≈ −Tr Φ/(Bz))
/// down to 10⁻⁹ of min(x, the spectrum's scale). The rows of F must be independent:
/// Gaussian weights (orthogonal rows are not).
public struct GramSpectrumLaw: Sendable {
    /// Φ's eigenvalues (negative rounding clipped to 0).
    public let kernelEigenvalues: [Double]
    /// a = N/B.
    public let ratio: Double

    public init(kernelEigenvalues: [Double], width: Int, batch: Int) {
        precondition(width >= 1 && batch >= 1 && kernelEigenvalues.count == batch, "one eigenvalue of Φ per input")
        self.kernelEigenvalues = kernelEigenvalues.map { Swift.max(0, $0) }
        ratio = Double(width) / Double(batch)
    }

    /// The spectrum's scale: the largest eigenvalue of E K = aΦ, times (1 + 1/√a)² (the
    /// Marchenko–Pastur edge factor), bounding the support.
    public var upperEdge: Double {
        let r = 1 + 1 / ratio.squareRoot()
        return ratio * (kernelEigenvalues.max() ?? 0) * r * r
    }

    /// ρ at each x (> 0; the atom at 0 when B > N is not a density).
    public func density(at xs: [Double]) throws -> [Double] {
        let scale = Swift.max(upperEdge, 1e-300)
        return try xs.map { x in
            guard x > 0 else { return 0 }
            // ε ≪ x as well: an atom of mass w at 0 (B > N, or Φ singular) leaks w ε/(π x²).
            let epsMin = 1e-9 * Swift.min(scale, x)
            var eps = scale
            var delta = try solve(z: Complex(x, eps), from: -meanTrace / Complex(x, eps)) ?? {
                throw SpectrumError("the Gram-spectrum fixed point did not converge at z = \(x) + \(scale)i")
            }()
            // Continuation in Im z: steps of up to ×8 down, shrunk where Newton fails.
            var ratio = 8.0
            while eps > epsMin {
                let next = Swift.max(eps / ratio, epsMin)
                if let solved = try solve(z: Complex(x, next), from: delta) {
                    delta = solved; eps = next; ratio = Swift.min(ratio * 2, 8)
                } else {
                    ratio = ratio.squareRoot()
                    if ratio < 1 + 1e-4 {
                        throw SpectrumError("the Gram-spectrum continuation stalled at z = \(x) + \(eps)i")
                    }
                }
            }
            return Swift.max(0, stieltjes(z: Complex(x, eps), delta: delta).im / Double.pi)
        }
    }

    private var meanTrace: Double { kernelEigenvalues.reduce(0, +) / Double(kernelEigenvalues.count) }

    /// m(z) = (1/B) Σ_k 1/(aφ_k/(1 + δ) − z).
    private func stieltjes(z: Complex, delta: Complex) -> Complex {
        var m = Complex.zero
        let shrink = ratio / (1 + delta)
        for phi in kernelEigenvalues { m += 1 / (phi * shrink - z) }
        return m / Double(kernelEigenvalues.count)
    }

    /// Newton on f(δ) = δ − (1/B) Σ φ_k/(aφ_k/(1 + δ) − z), each step halved until Im δ ≥ 0
    /// and |f| decreases; nil when it does not converge.
    private func solve(z: Complex, from start: Complex) throws -> Complex? {
        let b = Double(kernelEigenvalues.count)
        func residual(_ delta: Complex) -> (f: Complex, derivative: Complex) {
            var f = delta, derivative = Complex(1, 0)
            let onePlus = 1 + delta
            for phi in kernelEigenvalues {
                let d = ratio * phi / onePlus - z
                f -= phi / d / b
                // ∂/∂δ of −φ/d = −φ · aφ/(1 + δ)² / d².
                derivative -= phi * (ratio * phi / (onePlus * onePlus)) / (d * d) / b
            }
            return (f, derivative)
        }
        var delta = start
        var (f, derivative) = residual(delta)
        for _ in 0..<100 {
            var step = f / derivative
            var halvings = 0
            while true {
                let next = delta - step
                let (nf, nd) = residual(next)
                if next.im >= 0, nf.magnitude < f.magnitude || step.magnitude <= 1e-14 * Swift.max(next.magnitude, 1e-300) {
                    delta = next; f = nf; derivative = nd
                    break
                }
                halvings += 1
                if halvings > 40 { return nil }
                step = 0.5 * step
            }
            if step.magnitude <= 1e-13 * Swift.max(delta.magnitude, 1e-300) { return delta }
        }
        return nil
    }
}
