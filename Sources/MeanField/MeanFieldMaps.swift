#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The mean-field (infinite-width) maps of one network family — activation φ, weight scale
/// σ_w > 0 and bias scale σ_b ≥ 0, `W_ij ~ N(0, σ_w²/N)`, `b_i ~ N(0, σ_b²)` —
/// after Poole et al. 2016 ("Exponential expressivity in deep neural networks through
/// transient chaos") and Schoenholz et al. 2017 ("Deep information propagation").
///
/// All expectations are over `Dz = e^{−z²/2} dz/√(2π)`. For linear, relu, leaky_relu and erf
/// they are closed forms (Cho & Saul 2009; Williams 1997); for the other activations they
/// are adaptive Gauss–Kronrod quadrature split at kinks (`GaussianExpectation`), φ and φ′
/// evaluated a panel's nodes at a time (vectorised for tanh: `Activation.apply`), to a
/// relative tolerance of 10⁻¹² on ∫|integrand|, each distinct one computed once per process
/// (`ExpectationCache`).
public struct MeanFieldMaps: Sendable {
    /// How the Gaussian expectations are evaluated.
    public enum Method: Sendable, Hashable {
        /// Closed forms where they exist (linear, relu, leaky_relu, erf), quadrature otherwise.
        case automatic
        /// Quadrature for every activation (to check the closed forms, or the quadrature).
        case quadrature
    }

    public let activation: Activation
    public let sigmaW: Double
    public let sigmaB: Double
    public let method: Method
    /// The quadrature used where there is no closed form.
    public let quadrature: GaussianExpectation

    /// σ_w² and σ_b².
    var weightVariance: Double { sigmaW * sigmaW }
    var biasVariance: Double { sigmaB * sigmaB }

    public init(activation: Activation, sigmaW: Double, sigmaB: Double, method: Method = .automatic,
                quadrature: GaussianExpectation = GaussianExpectation()) {
        precondition(sigmaW.isFinite && sigmaW > 0, "sigmaW must be positive and finite")
        precondition(sigmaB.isFinite && sigmaB >= 0, "sigmaB must be non-negative and finite")
        self.activation = activation
        self.sigmaW = sigmaW
        self.sigmaB = sigmaB
        self.method = method
        self.quadrature = quadrature
    }

    // MARK: - Maps

    /// Length map `V(q) = σ_w² ∫Dz φ(√q z)² + σ_b²` (Poole et al. 2016, eq. 3).
    /// Closed forms: linear `σ_w² q + σ_b²`; relu `σ_w² q/2 + σ_b²`;
    /// leaky_relu `σ_w² q (1+s²)/2 + σ_b²`; erf `σ_w² (2/π) arcsin(2q/(1+2q)) + σ_b²`.
    public func lengthMap(_ q: Double) -> Double {
        weightVariance * secondMoment(qaa: q, qbb: q, qab: q) + biasVariance
    }

    /// Covariance map `q_ab' = σ_w² ∫Dz1 Dz2 φ(u1) φ(u2) + σ_b²`, `u1 = √q_aa z1`,
    /// `u2 = √q_bb (c z1 + √(1−c²) z2)`, `c = q_ab/√(q_aa q_bb)` (Poole et al. 2016).
    /// c is clamped to [−1, 1]; when q_aa q_bb = 0 it is taken as 0.
    public func covarianceMap(qaa: Double, qbb: Double, qab: Double) -> Double {
        weightVariance * secondMoment(qaa: qaa, qbb: qbb, qab: qab) + biasVariance
    }

    /// The C-map at equal input lengths q: `c ↦ V_ab(q, q, c q) / V(q)`, the correlation after
    /// one layer. At q = q* it is Poole et al.'s (2016) eq. 6, `(σ_w² ∫φ(u1)φ(u2) + σ_b²)/q*`.
    public func correlationMap(_ c: Double, q: Double) -> Double {
        covarianceMap(qaa: q, qbb: q, qab: c * q) / lengthMap(q)
    }

    /// `χ1(q) = σ_w² ∫Dz φ′(√q z)²` (Poole et al. 2016): the slope of the C-map at
    /// c = 1 when q = q*, and the mean squared singular value per layer of the Jacobian.
    /// Closed forms: linear σ_w²; relu σ_w²/2; leaky_relu σ_w²(1+s²)/2;
    /// erf σ_w² (4/π)/√(1+4q). At q = 0 it is the limit q → 0⁺.
    public func chi1(q: Double) -> Double {
        chiC(qaa: q, qbb: q, c: 1)
    }

    /// Slope of the C-map at correlation c, `χ_c = σ_w² ∫Dz1 Dz2 φ′(u1) φ′(u2)` with
    /// q_aa = q_bb = q (Schoenholz et al. 2017; by Price's theorem
    /// ∂E[φ(u1)φ(u2)]/∂q_ab = E[φ′(u1)φ′(u2)]). `chiC(q:c: 1) == chi1(q:)`.
    public func chiC(q: Double, c: Double) -> Double {
        chiC(qaa: q, qbb: q, c: c)
    }

    /// `σ_w² E φ′(u1) φ′(u2)` for general variances (the NTK's derivative kernel).
    /// Closed forms: relu σ_w² (π − θ)/(2π), θ = arccos c (Cho & Saul 2009, arc-cosine k₀);
    /// leaky_relu σ_w² (s + (1−s)² (π − θ)/(2π)); erf σ_w² (4/π)/√((1+2q_aa)(1+2q_bb) − 4q_ab²).
    public func chiC(qaa: Double, qbb: Double, c: Double) -> Double {
        precondition(qaa >= 0 && qbb >= 0, "variances must be non-negative")
        let c = Swift.min(1, Swift.max(-1, c))
        let moment: Double
        switch closedForm {
        case .piecewiseLinear(let s):
            moment = s + (1 - s) * (1 - s) * (Double.pi - acos(c)) / (2 * Double.pi)
        case .erf:
            moment = 4 / Double.pi / Self.erfDeterminant(qaa: qaa, qbb: qbb, c: c).squareRoot()
        case nil:
            let phi = activation, quadrature = quadrature
            moment = ExpectationCache.shared.value(.init(phi, .derivativeMoment, qaa, qbb, c, quadrature: quadrature)) {
                quadrature.expectation(
                    qaa: qaa, qbb: qbb, correlation: c,
                    batch: { phi.applyDerivative($0, into: $1) }, breakpointsF: phi.breakpoints,
                    batch: { phi.applyDerivative($0, into: $1) }, breakpointsG: phi.breakpoints).value
            }
        }
        return weightVariance * moment
    }

    /// Slope of the length map, `V′(q) = σ_w² ∫Dz [φ′(√q z)² + φ(√q z) φ″(√q z)]`, the quantity
    /// whose logarithm is −1/ξ_q at q* (Schoenholz et al. 2017).
    ///
    /// φ″ is taken as a distribution: at a kink k where φ′ jumps by Δ_k it carries Δ_k δ(x−k),
    /// and `E[φ(√q z) Δ_k δ(√q z − k)] = Δ_k φ(k) ϕ(k/√q)/√q`, ϕ the standard normal density.
    /// This equals `dV/dq = σ_w² E[z φ(√q z) φ′(√q z)]/√q` (Gaussian integration by parts)
    /// without its cancellation at small q. At q = 0 it is the limit q → 0⁺ (kinks at 0 carry
    /// no mass there since φ(0) = 0 for every kinked activation).
    /// Closed forms: linear σ_w²; relu σ_w²/2; leaky_relu σ_w²(1+s²)/2;
    /// erf σ_w² (4/π)/((1+2q)√(1+4q)).
    public func lengthMapDerivative(_ q: Double) -> Double {
        precondition(q >= 0, "q must be non-negative")
        switch closedForm {
        case .piecewiseLinear(let s):
            return weightVariance * (1 + s * s) / 2
        case .erf:
            return weightVariance * 4 / Double.pi / ((1 + 2 * q) * (1 + 4 * q).squareRoot())
        case nil:
            let phi = activation, quadrature = quadrature
            let smooth = ExpectationCache.shared.value(.init(phi, .lengthSlope, q, quadrature: quadrature)) {
                quadrature.expectation(scale: q.squareRoot(), breakpoints: phi.breakpoints) { x in
                    let d = phi.derivative(x)
                    return d * d + phi.value(x) * phi.secondDerivative(x)
                }.value
            }
            var dirac = 0.0
            if q > 0 {
                let s = q.squareRoot()
                for (k, jump) in phi.derivativeJumps { dirac += jump * phi.value(k) * standardNormalPDF(k / s) / s }
            }
            return weightVariance * (smooth + dirac)
        }
    }

    // MARK: - Expectations

    /// The activations whose kernels have closed forms.
    private enum ClosedForm {
        /// φ(x) = x for x > 0, s x otherwise (relu s = 0, linear s = 1).
        case piecewiseLinear(slope: Double)
        case erf
    }

    private var closedForm: ClosedForm? {
        guard method == .automatic else { return nil }
        switch activation {
        case .linear: return .piecewiseLinear(slope: 1)
        case .relu: return .piecewiseLinear(slope: 0)
        case .leakyReLU(let s): return .piecewiseLinear(slope: s)
        case .erf: return .erf
        default: return nil
        }
    }

    /// `det(I + 2Σ) = (1 + 2q_aa)(1 + 2q_bb) − 4q_ab²`, Σ the covariance of (u1, u2), expanded as
    /// `1 + 2q_aa + 2q_bb + 4 q_aa q_bb (1 − c)(1 + c)` so that it keeps full relative accuracy
    /// at large q and |c| → 1.
    private static func erfDeterminant(qaa: Double, qbb: Double, c: Double) -> Double {
        1 + 2 * qaa + 2 * qbb + 4 * qaa * qbb * (1 - c) * (1 + c)
    }

    /// `E φ(u1) φ(u2)` for (u1, u2) centred Gaussian with variances q_aa, q_bb, covariance q_ab.
    ///
    /// Piecewise linear `φ = s x + (1−s) relu(x)`: `s q_ab + (1−s)² k₁`, with Cho & Saul's
    /// (2009) arc-cosine kernel `k₁ = √(q_aa q_bb) (sin θ + (π − θ) cos θ)/(2π)`, θ = arccos c
    /// (the cross terms are `E[u1 relu(u2)] = q_ab/2` by symmetry).
    /// erf: `(2/π) arcsin(2 q_ab / √((1 + 2q_aa)(1 + 2q_bb)))` (Williams 1997).
    public func secondMoment(qaa: Double, qbb: Double, qab: Double) -> Double {
        precondition(qaa >= 0 && qbb >= 0, "variances must be non-negative")
        let scale = (qaa * qbb).squareRoot()
        let c = scale > 0 ? Swift.min(1, Swift.max(-1, qab / scale)) : 0
        switch closedForm {
        case .piecewiseLinear(let s):
            let sinTheta = ((1 - c) * (1 + c)).squareRoot()
            let k1 = scale * (sinTheta + (Double.pi - acos(c)) * c) / (2 * Double.pi)
            return s * c * scale + (1 - s) * (1 - s) * k1
        case .erf:
            // arcsin(2q_ab/√((1+2q_aa)(1+2q_bb))) written as atan2(2q_ab, √det), exact near |c| = 1.
            return 2 / Double.pi * atan2(2 * c * scale, Self.erfDeterminant(qaa: qaa, qbb: qbb, c: c).squareRoot())
        case nil:
            let phi = activation, quadrature = quadrature
            return ExpectationCache.shared.value(.init(phi, .secondMoment, qaa, qbb, c, quadrature: quadrature)) {
                quadrature.expectation(
                    qaa: qaa, qbb: qbb, correlation: c,
                    batch: { phi.apply($0, into: $1) }, breakpointsF: phi.breakpoints,
                    batch: { phi.apply($0, into: $1) }, breakpointsG: phi.breakpoints).value
            }
        }
    }
}

extension MeanFieldMaps {
    /// `E φ(√q z)`, the mean of a unit's activation at pre-activation variance q.
    public func activationMean(q: Double) -> Double {
        precondition(q >= 0, "q must be non-negative")
        let phi = activation, quadrature = quadrature
        return ExpectationCache.shared.value(.init(phi, .mean, q, quadrature: quadrature)) {
            quadrature.expectation(scale: q.squareRoot(), breakpoints: phi.breakpoints, batch: { phi.apply($0, into: $1) }).value
        }
    }
}
