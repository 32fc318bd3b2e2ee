#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeanField

/// The first two moments of λ, the eigenvalues of JJᵀ, at infinite width, for
/// `J = Π_{l=1}^{L} (a·1 + D^l W^l)` — a residual net `x^l = φ(h^l) + a x^{l−1}`, and for
/// a = 0 the feedforward `J = D^L W^L ⋯ D^1 W^1` — with `W^l` of entry variance σ_w²/N
/// (Gaussian, or σ_w times a Haar-orthogonal matrix) and `D^l = diag φ′(h^l)`, h^l ~ N(0, q^l),
/// all asymptotically free (the mean-field assumption of Pennington et al. 2017).
///
/// Derivation (τ the normalised trace, A = J_{l−1}J_{l−1}ᵀ, X = D^l W^l, g = σ_w² E φ′²,
/// h = σ_w⁴ E φ′⁴): `A_l = (a + X) A (a + X)ᵀ`; terms odd in X vanish, and so do the
/// non-planar τ(XAXA) and τ(AXᵀAXᵀ); freeness gives τ(XᵀX M) = g τ(M), τ(M XAXᵀ) = g τ(M) τ(A)
/// and τ(XAXᵀXAXᵀ) = h τ(A)² + g² τ(A²) − [orthogonal] g² τ(A)² (WᵀW free Poisson with
/// τ((WᵀW)²) = 2σ_w⁴, or σ_w² 1 for orthogonal W). Summing,
///
///     τ(A_l)  = (a² + g) τ(A),
///     τ(A_l²) = (a² + g)² τ(A²) + (2a²g + h − [orthogonal] g²) τ(A)²,
///
/// so `ln m1 = Σ_l ln(a² + g_l)` and `m2/m1² = 1 + Σ_l (2a²g_l + h_l − [orthogonal] g_l²)/(a² + g_l)²`.
/// At a = 0 this is Pennington et al.'s `1 + Σ_l (E φ′⁴/(E φ′²)² − 1) + [L if Gaussian]`; at
/// a = 1, g_l = c/L, linear φ, L → ∞ it tends to Tarnowski et al.'s m1 = e^c, m2/m1² = 1 + 2c.
/// Unlike the residual S-transform product (`ResidualSpectrum`, first order in g_l), these
/// are exact at every depth.
public struct JacobianMoments: Sendable, Equatable {
    /// ln m1 (finite where m1 itself over- or underflows; −∞ when J = 0).
    public let logFirstMoment: Double
    /// m2/m1².
    public let normalizedSecondMoment: Double

    /// m1 = E λ.
    public var firstMoment: Double { exp(logFirstMoment) }
    /// m2 = E λ².
    public var secondMoment: Double { exp(2 * logFirstMoment) * normalizedSecondMoment }

    /// The moments of an equal mixture of laws (a spectrum pooled over blocks of equal size):
    /// the averages of their m1 and m2, kept as ln m1 and m2/m1².
    public init(mixing parts: [JacobianMoments]) {
        precondition(!parts.isEmpty, "a mixture of no laws")
        let top = parts.map(\.logFirstMoment).max()!
        let m1 = parts.reduce(0.0) { $0 + exp($1.logFirstMoment - top) } / Double(parts.count)
        let m2 = parts.reduce(0.0) { $0 + exp(2 * ($1.logFirstMoment - top)) * $1.normalizedSecondMoment } / Double(parts.count)
        logFirstMoment = top + log(m1)
        normalizedSecondMoment = m2 / (m1 * m1)
    }

    /// - Parameters:
    ///   - sigmaW: weights of entry variance σ_w²/N (for σ_w²/(N·L) pass σ_w/√L).
    ///   - layerVariances: q^1 … q^L, layer 1 first.
    ///   - residualScale: a (0 for a feedforward net).
    public init(activation: Activation, sigmaW: Double, layerVariances: [Double], weights: WeightLaw,
                residualScale a: Double = 0) {
        var slopes: [Double: (Double, Double)] = [:]
        let sigma2 = sigmaW * sigmaW
        let layers = layerVariances.map { q in
            if let known = slopes[q] { return known }
            let law = SquaredSlopeLaw(activation: activation, q: q)
            slopes[q] = (sigma2 * law.mean, sigma2 * sigma2 * law.secondMoment)
            return slopes[q]!
        }
        self.init(layers: layers, weights: weights, residualScale: a)
    }

    /// From each layer's (g_l, h_l) = (σ_w² E φ′², σ_w⁴ E φ′⁴), layer 1 first.
    init(layers: [(gain: Double, fourth: Double)], weights: WeightLaw, residualScale a: Double) {
        let a2 = a * a
        var logM1 = 0.0, ratio = 1.0
        for (g, h) in layers {
            let growth = a2 + g
            logM1 += log(growth)
            guard growth > 0 else { continue }
            ratio += (2 * a2 * g + h - (weights == .orthogonal ? g * g : 0)) / (growth * growth)
        }
        logFirstMoment = logM1
        normalizedSecondMoment = ratio
    }
}
