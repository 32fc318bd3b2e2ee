#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The infinite-width spectral law of `JJᵀ` for a residual net `x^l = φ(h^l) + a x^{l−1}`,
/// `J = Π_l (a 1 + D^l W^l)`, `W ~ N(0, σ_w²/(N L))` (Tarnowski, Warchoł, Jastrzębski, Tabor &
/// Nowak 2019):
///
///     S_{JJᵀ}(z) = a^{−2L} Π_l (1 − c_l (1 + 2z)/(a² L)),   c_l = σ_w² E φ′(√q^l z)²,
///
/// and its L → ∞ limit `S(z) = a^{−2L} e^{−(c/a²)(1 + 2z)}`, c = (1/L) Σ_l c_l, whose
/// Stieltjes transform solves `a^{2L} G = (zG − 1) e^{(c/a²)(1 − 2zG)}` — the universal law,
/// the same for every activation.
///
/// The product form is the expansion to first order in 1/L of each block's S-transform, so
/// its m1 = a^{2L}/Π_l(1 − c_l/(a²L)) agrees with the exact Π_l (a² + c_l/L) to O(1/L).
/// Gains are per layer as in Tarnowski's scaling (X = DW has variance c_l/L); for weights of
/// variance σ_w²/N (`weight_scaling = "width"`) pass L·σ_w² E φ′². Each factor needs
/// c_l < a² L.
///
/// Representation: both forms are closed-form S-transforms handed to the same Newton
/// solver as the feedforward law (`FreeProduct`), on λ/m1; `universal` keeps the exponential
/// exactly (it is not a large-L product), so its density is the exact Lambert-W law.
/// Moments from the S-transform's expansion: `m1 = 1/S(0)`, `m2 = m1² (1 − (ln S)′(0))`.
public struct ResidualSpectrum: Sendable {
    /// a.
    public let scale: Double
    /// L.
    public let depth: Int
    /// c_l (product form); for the universal law L copies of c.
    public let layerGains: [Double]
    /// Whether this is the L → ∞ universal law.
    public let isUniversal: Bool
    /// ln m1.
    public let logFirstMoment: Double
    /// m2/m1².
    public let normalizedSecondMoment: Double
    /// Point masses (only when every c_l = 0: all mass at a^{2L}).
    public let atoms: [SpectralAtom]

    private let product: FreeProduct

    public var firstMoment: Double { exp(logFirstMoment) }
    public var secondMoment: Double { exp(2 * logFirstMoment) * normalizedSecondMoment }

    /// The finite-L product form, L = c.count.
    public init(scale a: Double, layerGains c: [Double]) {
        precondition(a > 0 && a.isFinite, "the residual scale a must be positive and finite")
        precondition(!c.isEmpty, "a residual net needs at least one layer")
        let depth = Double(c.count)
        precondition(c.allSatisfy { $0 >= 0 && $0 < a * a * depth }, "each gain c_l must lie in [0, a² L)")
        var counts: [Double: Int] = [:]
        for cl in c { counts[cl / (a * a * depth), default: 0] += 1 }
        var product = FreeProduct()
        product.linear = counts.sorted { $0.key < $1.key }.map { (kappa: $0.key, multiplicity: $0.value) }
        // ln S(0) = −2L ln a + Σ ln(1 − κ_l);  (ln S)′(0) = Σ −2κ_l/(1 − κ_l).
        var logS0 = -2 * depth * log(a), slope = 0.0
        for (kappa, n) in product.linear {
            logS0 += Double(n) * log1p(-kappa)
            slope += Double(n) * (-2 * kappa / (1 - kappa))
        }
        self.init(scale: a, depth: c.count, gains: c, universal: false, logS0: logS0, slope: slope, product: product)
    }

    /// The L → ∞ universal law with S(z) = a^{−2L} e^{−(c/a²)(1 + 2z)}: represented by this
    /// closed form itself (κ = c/a² is its only shape parameter; L enters through the scale
    /// a^{2L}); m1 = a^{2L} e^{c/a²}, m2/m1² = 1 + 2c/a². c = 0 is a point mass at a^{2L}.
    public static func universal(scale a: Double, depth L: Int, c: Double) -> ResidualSpectrum {
        precondition(a > 0 && a.isFinite, "the residual scale a must be positive and finite")
        precondition(L >= 1, "depth must be at least 1")
        precondition(c >= 0 && c.isFinite, "c must be finite and non-negative")
        let kappa = c / (a * a)
        var product = FreeProduct()
        product.exponential = kappa
        return ResidualSpectrum(scale: a, depth: L, gains: [Double](repeating: c, count: L), universal: true,
                                logS0: -2 * Double(L) * log(a) - kappa, slope: -2 * kappa, product: product)
    }

    /// The first four moments of λ/a^{2L} under the universal law, κ = c/a², in closed form:
    /// the series inversion of `χ(z) = z S(z)/(1 + z)`, `S(z) = e^{−κ(1+2z)}`, gives
    ///
    ///     m1 = e^κ,  m2 = (1 + 2κ) e^{2κ},  m3 = (1 + 6κ + 6κ²) e^{3κ},
    ///     m4 = (1 + 12κ + 32κ² + 64κ³/3) e^{4κ}
    ///
    /// (m1, m2 as in Tarnowski et al. 2019).
    public static func universalMoments(kappa k: Double) -> [Double] {
        [exp(k), (1 + 2 * k) * exp(2 * k), (1 + 6 * k + 6 * k * k) * exp(3 * k),
         (1 + 12 * k + 32 * k * k + 64 * k * k * k / 3) * exp(4 * k)]
    }

    /// The support of λ/a^{2L} under the universal law, κ = c/a² > 0: its edges are the
    /// critical values of `λ(z) = 1/χ(z) = (1 + z) e^{κ(1+2z)}/z`, where
    /// `λ′ = 0 ⇔ z(1 + z) = 1/(2κ)`, `z± = (−1 ± √(1 + 2/κ))/2`.
    public static func universalSupport(kappa k: Double) -> ClosedRange<Double> {
        precondition(k > 0 && k.isFinite, "κ must be positive and finite")
        let root = (1 + 2 / k).squareRoot()
        func edge(_ z: Double) -> Double { (1 + z) * exp(k * (1 + 2 * z)) / z }
        let (inner, outer) = (edge((-1 - root) / 2), edge((-1 + root) / 2))
        return min(inner, outer)...max(inner, outer)
    }

    private init(scale: Double, depth: Int, gains: [Double], universal: Bool, logS0: Double, slope: Double,
                 product: FreeProduct) {
        self.scale = scale
        self.depth = depth
        self.layerGains = gains
        self.isUniversal = universal
        logFirstMoment = -logS0
        normalizedSecondMoment = 1 - slope
        var product = product
        product.variance = -slope
        product.atoms = product.isPointMass ? [SpectralAtom(location: 1, weight: 1)] : []
        self.product = product
        let m1 = exp(-logS0)
        atoms = product.atoms.map { SpectralAtom(location: $0.location * m1, weight: $0.weight) }
    }

    /// ρ(λ) of the eigenvalues of JJᵀ (0 outside the support, and everywhere for a point mass).
    public func density(at x: [Double]) throws -> [Double] {
        if !atoms.isEmpty { return x.map { _ in 0 } }
        let m1 = firstMoment
        guard m1 > 0, m1.isFinite else { throw SpectrumError("m1 = exp(\(logFirstMoment)) is not finite; use normalizedDensity(at:)") }
        return try normalizedDensity(at: x.map { $0 / m1 }).map { $0 / m1 }
    }

    /// The density of λ/m1.
    public func normalizedDensity(at x: [Double]) throws -> [Double] {
        try product.density(at: x, support: product.support())
    }

    /// G(z) of λ/m1 off the real axis (for moments by contour integrals).
    func normalizedStieltjes(at z: Complex) throws -> Complex {
        try product.stieltjes(at: z, support: product.support())
    }

    /// [lower, upper] edge of the support of λ (both soft, square-root edges).
    public func supportRange() throws -> ClosedRange<Double> {
        let m1 = firstMoment
        guard m1 > 0, m1.isFinite else { throw SpectrumError("m1 = exp(\(logFirstMoment)) is not finite; use normalizedSupportRange()") }
        let r = normalizedSupportRange()
        return (r.lowerBound * m1)...(r.upperBound * m1)
    }

    /// The support of λ/m1.
    public func normalizedSupportRange() -> ClosedRange<Double> { product.support() }

    /// The point masses of λ/m1.
    public var normalizedAtoms: [SpectralAtom] { product.atoms }
}
