#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeanField

/// The infinite-width spectral law of `JJᵀ`, `J = D^L W^L ⋯ D^1 W^1`, `D^l = diag φ′(h^l)`,
/// `h^l_i ~ N(0, q^l)` (Pennington, Schoenholz & Ganguli 2017, 2018):
/// by asymptotic freeness
///
///     S_{JJᵀ}(z) = Π_l S_{D_l²}(z) · S_{W_lᵀW_l}(z),
///
/// `S_{WᵀW}(z) = 1/(σ_w²(1 + z))` (Gaussian) or `1/σ_w²` (orthogonal), and `D_l²` has the law
/// of `φ′(√q^l z)²`, z ~ N(0, 1) — each layer with its own q^l, not only the fixed point.
///
/// Method. λ is normalised by m1 = Π_l χ^l so that every factor has mean 1 and nothing
/// over- or underflows at depth (`logFirstMoment` carries the scale). Each distinct q^l gives
/// one law of d² (`SquaredSlopeLaw`: exact atoms for the flat pieces of φ′ — relu's
/// {0: ½, 1: ½} —, Gauss–Legendre nodes and a histogram for the rest); layers with equal laws
/// are grouped. The density is `ρ(x) = −Im G(x + i0)/π` from Newton's method on
/// `z m S(m) = 1 + m`, m = zG − 1, continued from large Im z down to 10⁻¹⁰ of the scale
/// (`FreeProduct`). The laws are finer for shallow nets (steps ÷4 up to depth 4, ÷2 up to 16
/// and for orthogonal weights), where the product smooths them least.
///
/// Atoms. `atoms` lists the point masses of JJᵀ, which `density(at:)` leaves out (it is
/// the density of the continuous part, of mass `1 − Σ atoms`): at 0 with weight
/// `max_l P(φ′(h^l) = 0)` (relu: ½; hard_tanh: `max_l P(|h^l| > 1)`), and — orthogonal
/// weights only — at `Π_l σ_w² a_l` with weight `Σ_l P(φ′² = a_l) − (L − 1)` where that is
/// positive (Belinschi 2003), e.g. all of the mass at σ_w^{2L} for a linear orthogonal net.
///
/// Special cases. All factors scalars (linear φ with orthogonal weights, or q = 0 for a
/// smooth φ): a point mass, `density` is 0 and `supportRange()` collapses to it. A single
/// non-scalar factor (orthogonal weights, depth 1): the law of σ_w² φ′(h)² itself, whose
/// density is the exact push-forward of the Gaussian.
public struct FeedforwardSpectrum: Sendable {
    public let activation: Activation
    public let sigmaW: Double
    /// q^1 … q^L, layer 1 first.
    public let layerVariances: [Double]
    public let weights: WeightLaw

    /// χ^l = σ_w² E φ′(√q^l z)², layer 1 first.
    public let layerGains: [Double]
    /// ln m1 = Σ_l ln χ^l (finite where m1 itself over- or underflows).
    public let logFirstMoment: Double
    /// m2/m1² = 1 + Σ_l (E φ′⁴/(E φ′²)² − 1) + [L if Gaussian] (`JacobianMoments`).
    public let normalizedSecondMoment: Double
    /// Point masses of JJᵀ (locations in λ), the one at 0 first.
    public let atoms: [SpectralAtom]

    private let product: FreeProduct
    /// The single non-scalar factor of a depth-1 orthogonal net, and the scale of its values.
    private let pushforward: (law: SquaredSlopeLaw, mean: Double)?

    public var depth: Int { layerVariances.count }
    /// m1 = E λ = Π_l χ^l.
    public var firstMoment: Double { exp(logFirstMoment) }
    /// m2 = E λ² = m1² (1 + Σ_l (E φ′⁴/(E φ′²)² − 1) + [L if Gaussian]).
    public var secondMoment: Double { exp(2 * logFirstMoment) * normalizedSecondMoment }
    /// Weight of the atom at λ = 0 (0 if none).
    public var atZero: Double { atoms.first(where: { $0.location == 0 })?.weight ?? 0 }
    /// Mass of the continuous part, the integral of `density(at:)`.
    public var continuousMass: Double { Swift.max(0, 1 - atoms.reduce(0) { $0 + $1.weight }) }

    /// - Parameters:
    ///   - layerVariances: q^1 … q^L (e.g. `MeanFieldMaps.propagate(…).map(\.meanQ)`), ≥ 0.
    ///   - weights: Gaussian or orthogonal weight matrices.
    public init(activation: Activation, sigmaW: Double, layerVariances: [Double], weights: WeightLaw) {
        // Few layers smooth the d² laws least, orthogonal ones (no Marchenko–Pastur factor) less
        // than Gaussian ones: finer laws there (cheap at that depth).
        let depth = layerVariances.count
        let refinement = depth <= 4 ? 4 : (depth <= 16 || weights == .orthogonal ? 2 : 1)
        self.init(activation: activation, sigmaW: sigmaW, layerVariances: layerVariances, weights: weights,
                  refinement: refinement)
    }

    /// `refinement` divides the quadrature steps of the d² laws (accuracy checks).
    init(activation: Activation, sigmaW: Double, layerVariances: [Double], weights: WeightLaw, refinement: Int) {
        precondition(sigmaW > 0 && sigmaW.isFinite, "sigmaW must be positive and finite")
        precondition(layerVariances.allSatisfy { $0 >= 0 && $0.isFinite }, "layer variances must be finite and non-negative")
        self.activation = activation
        self.sigmaW = sigmaW
        self.layerVariances = layerVariances
        self.weights = weights
        let sigma2 = sigmaW * sigmaW

        // One law per distinct q; piecewise-linear φ (no continuous part) share one law.
        var laws: [SquaredSlopeLaw] = []
        var lawOfLayer: [Int] = []
        var byQ: [Double: Int] = [:]
        for q in layerVariances {
            if let i = byQ[q] { lawOfLayer.append(i); continue }
            let law = SquaredSlopeLaw(activation: activation, q: q, refinement: refinement)
            let i = laws.firstIndex { $0.values.isEmpty && law.values.isEmpty && $0.atoms == law.atoms } ?? {
                laws.append(law); return laws.count - 1
            }()
            byQ[q] = i
            lawOfLayer.append(i)
        }
        var multiplicity = [Int](repeating: 0, count: laws.count)
        for i in lawOfLayer { multiplicity[i] += 1 }

        layerGains = lawOfLayer.map { sigma2 * laws[$0].mean }
        let moments = JacobianMoments(layers: lawOfLayer.map { (sigma2 * laws[$0].mean, sigma2 * sigma2 * laws[$0].secondMoment) },
                                      weights: weights, residualScale: 0)
        logFirstMoment = moments.logFirstMoment
        normalizedSecondMoment = moments.normalizedSecondMoment

        var product = FreeProduct()
        product.marchenkoPastur = weights == .gaussian ? layerVariances.count : 0
        product.variance = normalizedSecondMoment - 1
        var factorAtoms: [[SpectralAtom]] = []
        var nonScalar: [(SquaredSlopeLaw, Int)] = []
        for (law, n) in zip(laws, multiplicity) {
            guard law.mean > 0 else { continue }
            let normalizedAtoms = law.atoms.map { SpectralAtom(location: $0.location / law.mean, weight: $0.weight) }
            if law.isPointMass { continue }
            nonScalar.append((law, n))
            factorAtoms += [[SpectralAtom]](repeating: normalizedAtoms, count: n)
            // Quadrature nodes as atoms (exact moments; accurate wherever the other factors keep
            // the subordination point a few node spacings off the axis), and the continuous part
            // as a histogram (exact transform up to the axis) for where they do not.
            var boxMean = law.atoms.reduce(0) { $0 + $1.weight * $1.location }
            for cell in law.cells { boxMean += cell.weight * 0.5 * (cell.lower + cell.upper) }
            var boxes = law.atoms.map { FactorLaw.Box(centre: $0.location / boxMean, halfWidth: 0, weight: $0.weight) }
            boxes += law.cells.map {
                FactorLaw.Box(centre: 0.5 * ($0.lower + $0.upper) / boxMean, halfWidth: 0.5 * ($0.upper - $0.lower) / boxMean,
                              weight: $0.weight)
            }
            boxes.sort { $0.centre < $1.centre }
            product.groups.append(FreeProduct.Group(
                law: FactorLaw(values: normalizedAtoms.map(\.location) + law.values.map { $0 / law.mean },
                               weights: normalizedAtoms.map(\.weight) + law.weights,
                               nodeValues: law.values.map { $0 / law.mean }, nodeWeights: law.weights,
                               boxes: law.cells.isEmpty ? [] : boxes),
                multiplicity: n))
        }
        let zeroLaw = laws.contains { $0.mean == 0 }    // some D² ≡ 0: J = 0
        if zeroLaw {
            product = FreeProduct()
            product.atoms = [SpectralAtom(location: 0, weight: 1)]
        } else if weights == .gaussian && !layerVariances.isEmpty {
            // Marchenko–Pastur factors have no atoms: only the one at 0 survives.
            let zero = factorAtoms.map { $0.first(where: { $0.location == 0 })?.weight ?? 0 }.max() ?? 0
            product.atoms = zero > 0 ? [SpectralAtom(location: 0, weight: zero)] : []
        } else {
            product.atoms = FreeProduct.productAtoms(factorAtoms)
        }
        self.product = product
        let scale = zeroLaw ? 0 : exp(logFirstMoment)
        atoms = product.atoms.map { SpectralAtom(location: $0.location * scale, weight: $0.weight) }
        if !zeroLaw, weights == .orthogonal, nonScalar.count == 1, nonScalar[0].1 == 1 {
            pushforward = (nonScalar[0].0, nonScalar[0].0.mean)
        } else {
            pushforward = nil
        }
    }

    /// ρ(λ), the density of the continuous part of the law of λ (eigenvalues of JJᵀ) at each
    /// point; 0 outside `supportRange()`, at λ ≤ 0 and for a point mass.
    public func density(at x: [Double]) throws -> [Double] {
        if continuousMass == 0 { return x.map { _ in 0 } }
        let scale = exp(logFirstMoment)
        guard scale > 0, scale.isFinite else {
            throw SpectrumError("m1 = exp(\(logFirstMoment)) is not a finite positive number; use normalizedDensity(at:)")
        }
        return try normalizedDensity(at: x.map { $0 / scale }).map { $0 / scale }
    }

    /// The density of λ/m1 (a law of mean 1), for depths where m1 itself overflows.
    public func normalizedDensity(at x: [Double]) throws -> [Double] {
        if let (law, mean) = pushforward {
            let range = try normalizedSupportRange()
            return x.map { xi in range.contains(xi) && xi > 0 ? mean * law.density(at: xi * mean) : 0 }
        }
        return try product.density(at: x, support: normalizedSupportRange())
    }

    /// [lower, upper] edge of the support of λ (atoms included): the hull of the law as
    /// represented (the d² laws cut at |z| = 10, i.e. all but ~10⁻²³ of their mass), so it
    /// holds all but a negligible part of the mass; a point mass gives a one-point range.
    public func supportRange() throws -> ClosedRange<Double> {
        let scale = exp(logFirstMoment)
        guard scale.isFinite else { throw SpectrumError("m1 = exp(\(logFirstMoment)) overflows; use normalizedSupportRange()") }
        let r = try normalizedSupportRange()
        return (r.lowerBound * scale)...(r.upperBound * scale)
    }

    /// The point masses of λ/m1.
    public var normalizedAtoms: [SpectralAtom] { product.atoms }

    /// The support of λ/m1.
    public func normalizedSupportRange() throws -> ClosedRange<Double> {
        if product.atoms.count == 1 && product.atoms[0].weight == 1 {
            let location = product.atoms[0].location
            return location...location
        }
        if let (law, mean) = pushforward {
            var lo = law.minimum / mean, hi = law.maximum / mean
            if lo > hi { (lo, hi) = (hi, lo) }
            return lo...hi
        }
        let range = product.support()
        guard range.lowerBound.isFinite, range.upperBound.isFinite else {
            throw SpectrumError("support edges are not finite: \(range)")
        }
        return range
    }
}
