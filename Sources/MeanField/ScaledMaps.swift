#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Activation {
    /// φ far from its unit scale, as a piecewise-linear function `p·x` for x > 0 and `n·x`
    /// otherwise, or nil when no such form holds there.
    ///
    /// - `largeScale`: the slopes of φ's linear growth at |x| → ∞ (gelu, silu, softplus,
    ///   elu → relu; selu → λ relu), with `φ(s x)/s − limit(x) = O(1/s)`; nil for a
    ///   bounded φ (tanh, hard_tanh, sigmoid, erf), whose `φ(s x)` tends to a step instead.
    /// - `smallScale`: φ at x → 0 where φ(0) = 0: its one-sided slopes at 0 (tanh, hard_tanh
    ///   1; erf 2/√π; gelu, silu ½; elu (1, α); selu (λ, λα)), with `φ(s x)/s − limit(x) =
    ///   O(s)`; nil where φ(0) ≠ 0 (sigmoid, softplus), whose `φ(s x)` tends to a constant.
    ///
    /// Positively homogeneous activations are their own limit at every scale.
    public var largeScale: (positive: Double, negative: Double)? {
        switch self {
        case .linear: (1, 1)
        case .relu, .gelu, .silu, .softplus, .elu: (1, 0)
        case .leakyReLU(let s): (1, s)
        case .selu: (Self.seluLambda, 0)
        case .tanh, .hardTanh, .sigmoid, .erf: nil
        }
    }

    /// See ``largeScale``.
    public var smallScale: (positive: Double, negative: Double)? {
        switch self {
        case .linear, .tanh, .hardTanh: (1, 1)
        case .relu: (1, 0)
        case .leakyReLU(let s): (1, s)
        case .erf: (2 / Double.pi.squareRoot(), 2 / Double.pi.squareRoot())
        case .gelu, .silu: (0.5, 0.5)
        case .elu(let alpha): (1, alpha)
        case .selu: (Self.seluLambda, Self.seluLambda * Self.seluAlpha)
        case .sigmoid, .softplus: nil
        }
    }
}

extension MeanFieldMaps {
    /// Standard deviations `√q` beyond `2^±scaleLimit` are treated through φ's limits there.
    /// At 2²⁵⁰ ≈ 10⁷⁵ the limits' relative errors, O(2⁻²⁵⁰) for the linear forms and the
    /// Gaussian mass within 2⁻²⁵⁰ of a bounded φ's step, are far below the quadrature's 10⁻¹².
    public static let scaleLimit = 250

    /// How input a enters `E φ(u_a) φ(u_b)`: as `2^exponent · f(û)`, f φ itself or a
    /// piecewise-linear limit of it, û of variance `2^(2·shift) K_aa`.
    private struct Side {
        /// nil: φ itself; else the slopes (p, n) of `f(x) = p x (x > 0), n x (x ≤ 0)`.
        var slopes: (positive: Double, negative: Double)?
        var shift: Int
        var exponent: Int
    }

    /// `Σ'_ab = E φ(u_a) φ(u_b)` and, where `sigma` tracks means, `E φ(u_a)`, for u centred
    /// Gaussian with covariance Σ given scaled (``ScaledMoments``): the layer's activation
    /// moments (Poole et al. 2016, eq. 3 without σ_w and σ_b), at any size of q.
    ///
    /// Each input is evaluated at its own scale `s_a = √Σ_aa`:
    /// - positively homogeneous φ: `E φ(u_a) φ(u_b) = 2^(e_a+e_b) E φ(v_a) φ(v_b)`, v of
    ///   covariance K, exact at every scale;
    /// - `2^−250 ≤ s_a < 2^250`: φ at Σ_aa itself;
    /// - beyond: φ's limit there (``Activation/largeScale``, ``Activation/smallScale``) as a
    ///   piecewise-linear function at variance K_aa, carrying `2^(e_a)`, or, where φ tends to
    ///   a step or a constant, φ at the scale `2^±250` itself.
    ///
    /// Pairs of two φ-sides use ``secondMoment(qaa:qbb:qab:)`` (cached), with the same
    /// arguments as on the plain covariance wherever that is representable, so the values are
    /// the same to the bit there; pairs of two linear sides the arc-cosine kernel (Cho & Saul
    /// 2009); mixed pairs the 2-D quadrature. Only the pairs `tracked` (default: all) are
    /// mapped; the others are 0.
    public func activationMoments(_ sigma: ScaledMoments, tracked: ((Int, Int) -> Bool)? = nil) -> ScaledMoments {
        let b = sigma.count, phi = activation, limit = Self.scaleLimit
        let sides: [Side] = (0..<b).map { a in
            let e = sigma.exponents[a]
            if phi.isPositivelyHomogeneous { return Side(slopes: nil, shift: 0, exponent: e) }
            if (-limit..<limit).contains(e) { return Side(slopes: nil, shift: e, exponent: 0) }
            if let slopes = e > 0 ? phi.largeScale : phi.smallScale { return Side(slopes: slopes, shift: 0, exponent: e) }
            return Side(slopes: nil, shift: e > 0 ? limit : -limit, exponent: 0)
        }
        func variance(_ a: Int) -> Double { ScaledMoments.scale(sigma.normalized(a, a), by: 2 * sides[a].shift) }
        var k = [Double](repeating: 0, count: b * b)
        for i in 0..<b {
            for j in i..<b where tracked?(i, j) ?? true {
                let qab = ScaledMoments.scale(sigma.normalized(i, j), by: sides[i].shift + sides[j].shift)
                let value = moment(sides[i], sides[j], qaa: variance(i), qbb: variance(j), qab: qab,
                                   correlation: sigma.correlation(i, j) ?? 0)
                k[i * b + j] = value
                k[j * b + i] = value
            }
        }
        let means: [Double]? = sigma.normalizedMeans == nil ? nil : (0..<b).map { a in
            guard let (p, n) = sides[a].slopes else { return activationMean(q: variance(a)) }
            // E f(û) = (p − n) E relu(û) = (p − n) √K/√(2π).
            return (p - n) * variance(a).squareRoot() / (2 * Double.pi).squareRoot()
        }
        return ScaledMoments(exponents: sides.map(\.exponent), normalized: k, means: means, count: b)
    }

    /// `E f_a(û_a) f_b(û_b)` (without the sides' powers of two).
    private func moment(_ x: Side, _ y: Side, qaa: Double, qbb: Double, qab: Double, correlation c: Double) -> Double {
        switch (x.slopes, y.slopes) {
        case (nil, nil):
            return secondMoment(qaa: qaa, qbb: qbb, qab: qab)
        case let (.some(f), .some(g)):
            return Self.piecewiseLinearMoment(f, g, qaa: qaa, qbb: qbb, c: c)
        default:
            let phi = activation
            func function(_ side: Side) -> (GaussianExpectation.BatchFunction, Breakpoints) {
                guard let (p, n) = side.slopes else { return ({ phi.apply($0, into: $1) }, phi.breakpoints) }
                return ({ x, fx in for i in x.indices { fx[i] = x[i] > 0 ? p * x[i] : n * x[i] } }, Breakpoints(kinks: [0]))
            }
            let (f, breaksF) = function(x), (g, breaksG) = function(y)
            return quadrature.expectation(qaa: qaa, qbb: qbb, correlation: c,
                                          batch: f, breakpointsF: breaksF, batch: g, breakpointsG: breaksG).value
        }
    }

    /// `E f(u1) g(u2)` for `f(x) = p_f x⁺ − n_f x⁻`-type piecewise-linear functions (slope p
    /// above 0, n below), u centred Gaussian with variances q_aa, q_bb and correlation c:
    /// writing `f = n_f x + (p_f − n_f) relu(x)`,
    ///
    ///     n_f n_g q_ab + (n_f (p_g − n_g) + (p_f − n_f) n_g) q_ab/2 + (p_f − n_f)(p_g − n_g) k₁
    ///
    /// with `E[u1 relu(u2)] = q_ab/2` and Cho & Saul's (2009) `k₁ = √(q_aa q_bb) (sin θ +
    /// (π − θ) cos θ)/(2π)`, θ = arccos c.
    static func piecewiseLinearMoment(_ f: (positive: Double, negative: Double), _ g: (positive: Double, negative: Double),
                                      qaa: Double, qbb: Double, c: Double) -> Double {
        let scale = qaa.squareRoot() * qbb.squareRoot(), qab = c * scale
        let sinTheta = ((1 - c) * (1 + c)).squareRoot()
        let k1 = scale * (sinTheta + (Double.pi - acos(c)) * c) / (2 * Double.pi)
        let (df, dg) = (f.positive - f.negative, g.positive - g.negative)
        return f.negative * g.negative * qab + (f.negative * dg + df * g.negative) * qab / 2 + df * dg * k1
    }
}

extension MeanFieldMaps {
    /// A variance at which the law of `φ′(h)`, h ~ N(0, q), is the law at the length
    /// `q = 2^log2Q` given (`value` its rounded double), within the limits of ``scaleLimit``;
    /// nil where it has none.
    ///
    /// - positively homogeneous φ: φ′'s law does not depend on q; 1 stands for every q > 0;
    /// - `2^−500 ≤ q < 2^500`: q itself;
    /// - below: `2^−500`, where φ′ is within O(2^−250) of its value at 0 (or of the slopes of
    ///   ``Activation/smallScale``);
    /// - above, for φ growing linearly (``Activation/largeScale``): `2^500`, where φ′ takes the
    ///   limit's slopes but on a Gaussian mass O(2^−250);
    /// - above, for a bounded φ: nil. φ′ then vanishes except on a window of mass O(q^−½)
    ///   that keeps shrinking: no finite q stands for it.
    ///
    /// q = 0 (`log2Q = −∞`) is the limit q → 0⁺, which the slope laws take at 0 itself.
    public func slopeVariance(log2Q: Double, value: Double) -> Double? {
        let bound = Double(2 * Self.scaleLimit)
        if log2Q == -.infinity { return 0 }
        if activation.isPositivelyHomogeneous { return 1 }
        if log2Q < -bound { return exp2(-bound) }
        if log2Q < bound { return value }
        return activation.largeScale == nil ? nil : exp2(bound)
    }
}
