/// `c^l`: the mean over input pairs a < b of `q^l_ab/√(q^l_aa q^l_bb)` (Poole et al. 2016,
/// eq. 5); B ≥ 2. Theory: the mean of the mean-field correlations over the pairs whose
/// lengths are positive.
public struct MeanCorrelation: GramFunction {
    public static let entry = ObservableEntry(
        key: "c", placement: .forward, summary: "mean over pairs of q_ab/√(q_aa q_bb)",
        parse: { $0.listed("c") ? MeanCorrelation() : nil })

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { shape.batch > 1 ? ["c"] : [] }

    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        var s = 0.0
        for j in 1..<b {
            for a in 0..<j {
                // √(G_aa G_bb), as √G_aa √G_bb where the product leaves Double's normal range
                // (lengths near 10^±154 are ordinary doubles; their product is not).
                let product = g[a * b + a] * g[j * b + j]
                let norm = product.isNormal ? product.squareRoot() : g[a * b + a].squareRoot() * g[j * b + j].squareRoot()
                s += g[a * b + j] / norm
            }
        }
        return [s / Double(b * (b - 1) / 2)]
    }

    /// Two inputs: the delta method on `c = K_01/√(K_00 K_11)` (``scaledVariance(_:_:_:layer:)``),
    /// to second order where the kernel's next order is known (Gaussian weights):
    /// `N Var ĉ = V₁ + V₂/N`, `V₂ = ∇cᵀQ∇c + 2 c_i c_jk μ_j P_ik + c_i c_jk κ_ijk + ½ c_ij c_kl P_ik P_jl
    /// + c_i c_jkl P_ij P_kl` (P, Q the kernel's N Cov and its next order, κ its N²κ₃, μ its
    /// N-scaled shift; derivatives ``derivatives(_:)``). At layer 1 this is the classical
    /// `(1 − ρ²)²(1 + 11ρ²/(2N))/N` of a sample correlation (Hotelling 1953).
    /// More inputs: the leading order of the pooled estimate, `N Var ĉ = ∇cᵀ P ∇c` with ∇c the
    /// mean of the pairs' gradients and P the covariance of all the kernel's entries, disjoint
    /// and overlapping pairs included (``TheoryContext/batchKernelFluctuations``); silent where
    /// any pair's is.
    public func standardDeviations(_ theory: TheoryContext) -> [[Double?]] {
        let b = theory.batch
        guard b >= 2, b <= TheoryContext.fluctuationBatchLimit else { return [] }
        guard b > 2 else {
            return standardDeviations(theory, quantities: 1) { _, l in
                guard let v = Self.scaledVariance(theory, 0, 1, layer: l) else { return nil }
                return (v.value, Self.secondOrderVariance(theory, 0, 1, layer: l, covariance: v.covariance))
            }
        }
        return standardDeviations(theory, quantities: 1) { _, l in
            var gradient: [(i: Int, j: Int, value: Double)] = []
            let pairs = Double(b * (b - 1) / 2)
            for j in 1..<b {
                for a in 0..<j {
                    guard let v = Self.scaledVariance(theory, a, j, layer: l) else { return nil }
                    for (x, e) in [(a, a), (a, j), (j, j)].enumerated() { gradient.append((e.0, e.1, v.gradient[x] / pairs)) }
                }
            }
            var total = 0.0
            for x in gradient {
                for y in gradient {
                    guard let p = theory.scaledKernelCovariance(x.i, x.j, y.i, y.j, layer: l) else { return nil }
                    total += x.value * p * y.value
                }
            }
            return (total, nil)
        }
    }

    /// V₂ of ``standardDeviations(_:)``; nil where the kernel has no next order.
    static func secondOrderVariance(_ theory: TheoryContext, _ a: Int, _ b: Int, layer l: Int, covariance p: [Double]) -> Double? {
        let n = theory.batch, cov = theory.layers[l - 1].covariance
        let k = [cov[a * n + a], cov[a * n + b], cov[b * n + b]], entries = [(a, a), (a, b), (b, b)]
        guard let kappa = theory.scaledThirdCumulants(a, b, layer: l), let mu = pairShifts(theory, a, b, layer: l) else { return nil }
        var q = [Double](repeating: 0, count: 9)
        for (x, e) in entries.enumerated() {
            for (y, f) in entries.enumerated() {
                guard let v = theory.secondOrderKernelCovariance(e.0, e.1, f.0, f.1, layer: l) else { return nil }
                q[x * 3 + y] = v
            }
        }
        let (g, g2, g3) = derivatives(k)
        var total = 0.0
        for i in 0..<3 {
            for j in 0..<3 {
                total += g[i] * q[i * 3 + j] * g[j]
                for m in 0..<3 {
                    total += g[i] * g2[j * 3 + m] * (2 * mu[j] * p[i * 3 + m] + kappa[(i * 3 + j) * 3 + m])
                    for o in 0..<3 {
                        total += 0.5 * g2[i * 3 + j] * g2[m * 3 + o] * p[i * 3 + m] * p[j * 3 + o]
                        total += g[i] * g3[(j * 3 + m) * 3 + o] * p[i * 3 + j] * p[m * 3 + o]
                    }
                }
            }
        }
        return total
    }

    /// The first three derivatives of `c = K_ab/√(K_aa K_bb)` in (K_aa, K_ab, K_bb) (r = √(K_aa K_bb)):
    /// ∂c = (−c/(2K_aa), 1/r, −c/(2K_bb)); ∂²c/∂K_aa² = 3c/(4K_aa²), ∂²c/∂K_aa∂K_bb = c/(4K_aa K_bb),
    /// ∂²c/∂K_aa∂K_ab = −1/(2K_aa r), ∂²c/∂K_ab² = 0; ∂³c/∂K_aa³ = −15c/(8K_aa³),
    /// ∂³c/∂K_aa²∂K_bb = −3c/(8K_aa² K_bb), ∂³c/∂K_aa²∂K_ab = 3/(4K_aa² r),
    /// ∂³c/∂K_aa∂K_bb∂K_ab = 1/(4K_aa K_bb r), any with two ∂K_ab 0 (and a ↔ b).
    static func derivatives(_ k: [Double]) -> (first: [Double], second: [Double], third: [Double]) {
        let (x, z) = (k[0], k[2]), r = (x * z).squareRoot(), c = k[1] / r
        let first = [-c / (2 * x), 1 / r, -c / (2 * z)]
        let (xx, zz, xz): (Double, Double, Double) = (3 * c / (4 * x * x), 3 * c / (4 * z * z), c / (4 * x * z))
        let (xy, yz): (Double, Double) = (-1 / (2 * x * r), -1 / (2 * z * r))
        let second: [Double] = [xx, xy, xz, xy, 0, yz, xz, yz, zz]
        var third = [Double](repeating: 0, count: 27)
        for i in 0..<3 {
            for j in 0..<3 {
                for m in 0..<3 {
                    let counts = [i, j, m].reduce(into: [0, 0, 0]) { $0[$1] += 1 }
                    let value: Double
                    switch (counts[0], counts[1], counts[2]) {
                    case (3, 0, 0): value = -15 * c / (8 * x * x * x)
                    case (0, 0, 3): value = -15 * c / (8 * z * z * z)
                    case (2, 0, 1): value = -3 * c / (8 * x * x * z)
                    case (1, 0, 2): value = -3 * c / (8 * z * z * x)
                    case (2, 1, 0): value = 3 / (4 * x * x * r)
                    case (0, 1, 2): value = 3 / (4 * z * z * r)
                    case (1, 1, 1): value = 1 / (4 * x * z * r)
                    default: value = 0
                    }
                    third[(i * 3 + j) * 3 + m] = value
                }
            }
        }
        return (first, second, third)
    }

    /// `N Var ĉ_ab` to leading order, `∇cᵀ S ∇c` with S the pair's `N Cov` (``KernelFluctuations``),
    /// and the two factors. Silent where |c| is within 10⁻³ of 1, where the gradient's terms
    /// cancel to O((1 − |c|)²), below what the quadrature and the derivatives (~10⁻⁸ relative)
    /// resolve; and where the predicted spread `√(N Var/N)` reaches 1 − |c|: ĉ's law is then
    /// pressed against ±1 and is no longer an expansion in 1/N about c.
    static func scaledVariance(_ theory: TheoryContext, _ a: Int, _ b: Int, layer l: Int)
        -> (gradient: [Double], covariance: [Double], value: Double)? {
        let n = theory.batch, cov = theory.layers[l - 1].covariance
        let k = [cov[a * n + a], cov[a * n + b], cov[b * n + b]]
        guard let g = gradient(k), let s = pairCovariance(theory, a, b, layer: l) else { return nil }
        var total = 0.0
        for x in 0..<3 { for y in 0..<3 { total += g[x] * s[x * 3 + y] * g[y] } }
        let c = k[1] / (k[0] * k[2]).squareRoot()
        guard total >= 0, (total / Double(theory.network.width)).squareRoot() < 1 - abs(c) else { return nil }
        return (g, s, total)
    }

    /// `∇c` in (K_aa, K_ab, K_bb): `(−c/(2K_aa), 1/√(K_aa K_bb), −c/(2K_bb))`; nil within 10⁻³
    /// of |c| = 1 (see ``scaledVariance(_:_:_:layer:)``).
    static func gradient(_ k: [Double]) -> [Double]? {
        guard 1 - abs(k[1] / (k[0] * k[2]).squareRoot()) >= 1e-3 else { return nil }
        return derivatives(k).first
    }

    /// `N μ` of (K̂_aa, K̂_ab, K̂_bb) for inputs a < b at layer l (each length's from its own input).
    static func pairShifts(_ theory: TheoryContext, _ a: Int, _ b: Int, layer l: Int) -> [Double]? {
        guard let aa = theory.scaledKernelShift(a, a, layer: l), let ab = theory.scaledKernelShift(a, b, layer: l),
              let bb = theory.scaledKernelShift(b, b, layer: l) else { return nil }
        return [aa, ab, bb]
    }

    /// `N Cov` of (K̂_aa, K̂_ab, K̂_bb) for inputs a < b at layer l, 3×3 row-major.
    static func pairCovariance(_ theory: TheoryContext, _ a: Int, _ b: Int, layer l: Int) -> [Double]? {
        let entries = [(a, a), (a, b), (b, b)]
        var s: [Double] = []
        for e in entries {
            for f in entries {
                guard let v = theory.scaledKernelCovariance(e.0, e.1, f.0, f.1, layer: l) else { return nil }
                s.append(v)
            }
        }
        return s
    }

    /// `E ĉ_ab` to order 1/N, the second-order delta method on the corrected kernel:
    /// `c + ∇c · μ/N + ½ Σ_jk ∂_j∂_k c · N Cov(K̂_j, K̂_k)/N`, μ = N(E K̂ − K)
    /// (``pairShifts(_:_:_:layer:)``), with ∂²c/∂K_aa² = 3c/(4K_aa²),
    /// ∂²c/∂K_aa∂K_bb = c/(4 K_aa K_bb), ∂²c/∂K_aa∂K_ab = −1/(2K_aa√(K_aa K_bb)), ∂²c/∂K_ab² = 0
    /// (and a ↔ b): the mean field and the two 1/N terms. Silent where
    /// ``scaledVariance(_:_:_:layer:)`` is.
    public static func correctionTerms(_ theory: TheoryContext, _ a: Int, _ b: Int, layer l: Int)
        -> (meanField: Double, shift: Double, curvature: Double)? {
        let n = theory.batch, cov = theory.layers[l - 1].covariance
        let k = [cov[a * n + a], cov[a * n + b], cov[b * n + b]]
        guard let (g, s, _) = scaledVariance(theory, a, b, layer: l), let mu = pairShifts(theory, a, b, layer: l) else { return nil }
        let width = Double(theory.network.width), c = k[1] / (k[0] * k[2]).squareRoot()
        let shifts = mu.map { $0 / width }, hessian = derivatives(k).second
        var first = 0.0, second = 0.0
        for x in 0..<3 { first += g[x] * shifts[x] }
        for x in 0..<9 { second += hessian[x] * s[x] }
        return (c, first, 0.5 * second / width)
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        let b = theory.batch
        guard b > 1 else { return Prediction(values: []) }
        var prediction = Prediction(quantities: 1, theory: theory) { _, l in theory.layers[l - 1].meanC }
        prediction.standardDeviations = standardDeviations(theory)
        guard theory.kernelFluctuations != nil else { return prediction }
        prediction.corrected = [(1...theory.network.depth).map { l -> Double? in
            var total = 0.0
            for j in 1..<b {
                for a in 0..<j {
                    guard let t = Self.correctionTerms(theory, a, j, layer: l) else { return nil }
                    total += t.meanField + t.shift + t.curvature
                }
            }
            return total / Double(b * (b - 1) / 2)
        }]
        return prediction
    }
}
