import MeanField

/// The law of `d² = φ′(h)²`, h ~ N(0, q): the spectral law of one layer's `D²` at infinite
/// width, the factor every free-probability Jacobian spectrum multiplies in (Pennington,
/// Schoenholz & Ganguli 2017; shown as "the law of D" in Hayase & Karakida 2021). Point masses
/// where φ′ is constant on an interval (relu: {0: ½, 1: ½}), and the push-forward density of
/// the Gaussian elsewhere,
///
///     ρ(t) = Σ_i ϕ(z_i)/|t′(z_i)|,   t(z) = φ′(√q z)²,   t(z_i) = t,
///
/// with integrable square-root singularities where t′ vanishes (tanh at t = 1).
/// `mean` is E φ′² = χ1(q)/σ_w² (Poole et al. 2016).
public struct SlopeLaw: Sendable {
    private let law: SquaredSlopeLaw

    /// - Parameter q: the pre-activation variance, finite and ≥ 0 (0: the limit q → 0⁺).
    public init(activation: Activation, q: Double) {
        law = SquaredSlopeLaw(activation: activation, q: q)
    }

    /// The point masses, by location.
    public var atoms: [SpectralAtom] { law.atoms }
    /// The mass of the continuous part, 1 − Σ atoms.
    public var continuousMass: Double { max(0, 1 - law.atoms.reduce(0) { $0 + $1.weight }) }
    /// E d² and E d⁴.
    public var mean: Double { law.mean }
    public var secondMoment: Double { law.secondMoment }
    /// The smallest and largest values with mass (continuous part and atoms).
    public var support: ClosedRange<Double> { law.minimum...law.maximum }

    /// ρ(t) of the continuous part (0 off its support).
    public func density(at t: [Double]) -> [Double] {
        t.map { law.density(at: $0) }
    }
}
