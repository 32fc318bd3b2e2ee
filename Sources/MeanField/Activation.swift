#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point-wise non-linearity φ of a random network, `x^l = φ(h^l)` (Poole et al. 2016).
///
/// Every case provides φ, φ′ and φ″ in closed form, and the points where φ or φ′ is not
/// smooth (`kinks`), which the Gaussian quadrature splits at.
///
/// Convention at a kink: `derivative(k)` is the value of the one-sided derivative on the
/// side PyTorch's autograd uses, i.e. the *left* derivative at 0 for `relu`, `leaky_relu`,
/// `elu` and `selu` (0, s, α and λα), and 0 at ±1 for `hard_tanh` (the saturated side).
/// `secondDerivative` is the classical second derivative away from kinks; the Dirac masses
/// that φ″ carries at a kink where φ′ jumps are *not* included here. The one place where
/// they matter, the slope of the length map (ξ_q), adds them analytically
/// (`MeanFieldMaps.lengthMapDerivative`).
public enum Activation: Hashable, Sendable {
    /// φ(x) = x.
    case linear
    /// φ(x) = max(0, x).
    case relu
    /// φ(x) = x for x > 0, slope·x otherwise.
    case leakyReLU(slope: Double)
    /// φ(x) = tanh x.
    case tanh
    /// φ(x) = clamp(x, −1, 1).
    case hardTanh
    /// φ(x) = 1/(1 + e^{−x}).
    case sigmoid
    /// φ(x) = erf x (Williams 1997 has the closed-form kernel).
    case erf
    /// φ(x) = λ x for x > 0, λ α (eˣ − 1) otherwise, with the constants of Klambauer et al.
    /// (2017) that make q* = 1 a fixed point at σ_w = 1, σ_b = 0.
    case selu
    /// φ(x) = x Φ(x), Φ the standard normal CDF (the exact GELU, not the tanh approximation).
    case gelu
    /// φ(x) = x σ(x), σ the logistic sigmoid.
    case silu
    /// φ(x) = log(1 + eˣ), evaluated without overflow.
    case softplus
    /// φ(x) = x for x > 0, α (eˣ − 1) otherwise.
    case elu(alpha: Double)

    /// SELU's scale λ (Klambauer et al. 2017).
    public static let seluLambda = 1.0507009873554804934193349852946
    /// SELU's α (Klambauer et al. 2017).
    public static let seluAlpha = 1.6732632423543772848170429916717
    /// The slope `leaky_relu` gets when none is given.
    public static let defaultLeakySlope = 0.01
    /// The α `elu` gets when none is given.
    public static let defaultELUAlpha = 1.0

    /// The spellings `init(parsing:)` accepts; `leaky_relu` and `elu` also take a parameter in
    /// parentheses, e.g. `leaky_relu(0.2)`, `elu(0.5)`.
    public static let allowedNames: [String] = [
        "linear", "relu", "leaky_relu", "tanh", "hard_tanh", "sigmoid", "erf", "selu", "gelu",
        "silu", "softplus", "elu",
    ]

    /// Parses a name as written in a campaign file: one of `allowedNames` (case and surrounding
    /// blanks ignored), or `leaky_relu(<slope>)` / `elu(<alpha>)` with a finite number
    /// (α > 0). `leaky_relu` alone has slope 0.01, `elu` alone α = 1.
    public init(parsing name: String) throws {
        let spelled = name.trimmingBlanks().lowercased()
        var base = spelled
        var argument: Double?
        if let open = spelled.firstIndex(of: "("), spelled.hasSuffix(")") {
            base = String(spelled[..<open]).trimmingBlanks()
            let inner = spelled[spelled.index(after: open)..<spelled.index(before: spelled.endIndex)]
            guard base == "leaky_relu" || base == "elu" else { throw ActivationError.unknown(name) }
            guard let value = Double(String(inner).trimmingBlanks()), value.isFinite else {
                throw ActivationError.invalidParameter(name: name, reason: "the parameter must be a finite number")
            }
            argument = value
        }
        switch base {
        case "linear": self = .linear
        case "relu": self = .relu
        case "leaky_relu": self = .leakyReLU(slope: argument ?? Activation.defaultLeakySlope)
        case "tanh": self = .tanh
        case "hard_tanh": self = .hardTanh
        case "sigmoid": self = .sigmoid
        case "erf": self = .erf
        case "selu": self = .selu
        case "gelu": self = .gelu
        case "silu": self = .silu
        case "softplus": self = .softplus
        case "elu":
            let alpha = argument ?? Activation.defaultELUAlpha
            guard alpha > 0 else {
                throw ActivationError.invalidParameter(name: name, reason: "elu's alpha must be positive")
            }
            self = .elu(alpha: alpha)
        default: throw ActivationError.unknown(name)
        }
    }

    /// Canonical spelling; `Activation(parsing: a.name) == a` for every value.
    public var name: String {
        switch self {
        case .linear: "linear"
        case .relu: "relu"
        case .leakyReLU(let slope): slope == Activation.defaultLeakySlope ? "leaky_relu" : "leaky_relu(\(slope))"
        case .tanh: "tanh"
        case .hardTanh: "hard_tanh"
        case .sigmoid: "sigmoid"
        case .erf: "erf"
        case .selu: "selu"
        case .gelu: "gelu"
        case .silu: "silu"
        case .softplus: "softplus"
        case .elu(let alpha): alpha == Activation.defaultELUAlpha ? "elu" : "elu(\(alpha))"
        }
    }

    /// φ(x).
    @inlinable
    public func value(_ x: Double) -> Double {
        switch self {
        case .linear: return x
        case .relu: return x > 0 ? x : 0
        case .leakyReLU(let s): return x > 0 ? x : s * x
        case .tanh: return hyperbolicTangent(x)
        case .hardTanh: return Swift.min(1, Swift.max(-1, x))
        case .sigmoid: return logistic(x)
        case .erf: return errorFunction(x)
        case .selu: return Activation.seluLambda * (x > 0 ? x : Activation.seluAlpha * expm1(x))
        case .gelu: return x * standardNormalCDF(x)
        case .silu: return x * logistic(x)
        case .softplus: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))
        case .elu(let a): return x > 0 ? x : a * expm1(x)
        }
    }

    /// φ′(x); at a kink, the one-sided value described in the type's documentation.
    @inlinable
    public func derivative(_ x: Double) -> Double {
        switch self {
        case .linear: return 1
        case .relu: return x > 0 ? 1 : 0
        case .leakyReLU(let s): return x > 0 ? 1 : s
        case .tanh:
            // sech²x, accurate where 1 − tanh²x would cancel.
            let c = cosh(x)
            return 1 / (c * c)
        case .hardTanh: return (x > -1 && x < 1) ? 1 : 0
        case .sigmoid: return logistic(x) * logistic(-x)
        case .erf: return 2 / Double.pi.squareRoot() * exp(-x * x)
        case .selu: return Activation.seluLambda * (x > 0 ? 1 : Activation.seluAlpha * exp(x))
        case .gelu: return standardNormalCDF(x) + x * standardNormalPDF(x)
        case .silu:
            let s = logistic(x)
            return s + x * s * logistic(-x)
        case .softplus: return logistic(x)
        case .elu(let a): return x > 0 ? 1 : a * exp(x)
        }
    }

    /// φ″(x) away from kinks (0 on the linear pieces of piecewise-linear φ; no Dirac masses).
    @inlinable
    public func secondDerivative(_ x: Double) -> Double {
        switch self {
        case .linear, .relu, .leakyReLU, .hardTanh: return 0
        case .tanh:
            let c = cosh(x)
            return -2 * hyperbolicTangent(x) / (c * c)
        case .sigmoid:
            let p = logistic(x), m = logistic(-x)
            return p * m * (m - p)
        case .erf: return -4 * x / Double.pi.squareRoot() * exp(-x * x)
        case .selu: return x > 0 ? 0 : Activation.seluLambda * Activation.seluAlpha * exp(x)
        case .gelu: return standardNormalPDF(x) * (2 - x * x)
        case .silu:
            let p = logistic(x), m = logistic(-x)
            return p * m * (2 + x * (m - p))
        case .softplus: return logistic(x) * logistic(-x)
        case .elu(let a): return x > 0 ? 0 : a * exp(x)
        }
    }

    /// Points where φ or φ′ is not smooth: relu, leaky_relu, selu, elu: [0]; hard_tanh: [−1, 1].
    /// (elu with α = 1 has a continuous φ′ but a jump in φ″ at 0, so 0 is listed too.)
    /// Whether `φ(s x) = s φ(x)` for every s > 0 (linear, relu, leaky_relu): such a network's
    /// activations can be rescaled freely, which lets deep chaotic nets carry their scale
    /// as a logarithm instead of overflowing.
    public var isPositivelyHomogeneous: Bool {
        switch self {
        case .linear, .relu, .leakyReLU: return true
        default: return false
        }
    }

    public var kinks: [Double] {
        switch self {
        case .relu, .leakyReLU, .selu, .elu: [0]
        case .hardTanh: [-1, 1]
        case .linear, .tanh, .sigmoid, .erf, .gelu, .silu, .softplus: []
        }
    }

    /// Where the Gaussian quadrature starts panels: the kinks, and for activations that bend on
    /// the unit scale a geometric ladder 0, ±1, ±4, ±16 of bends, so that a wide Gaussian
    /// (large q, where φ's structure is a thin layer of width ~1/√q in z) is resolved from the
    /// first subdivision on.
    public var breakpoints: Breakpoints {
        switch self {
        case .linear, .relu, .leakyReLU, .hardTanh: Breakpoints(kinks: kinks)
        case .tanh, .sigmoid, .erf, .selu, .gelu, .silu, .softplus, .elu:
            Breakpoints(kinks: kinks, bends: [-16, -4, -1, 0, 1, 4, 16])
        }
    }

    /// φ′(k⁺) − φ′(k⁻) at each kink k: the weight of the Dirac mass in φ″ there.
    var derivativeJumps: [(at: Double, jump: Double)] {
        kinks.map { k in (k, derivative(k.nextUp) - derivative(k.nextDown)) }
    }
}

/// Why an activation name was refused.
public enum ActivationError: Error, Equatable, CustomStringConvertible {
    /// The name is none of `Activation.allowedNames`.
    case unknown(String)
    /// The name is known but its parameter is not usable.
    case invalidParameter(name: String, reason: String)

    public var description: String {
        let allowed = Activation.allowedNames.joined(separator: ", ")
            + " (leaky_relu(<slope>) and elu(<alpha>) take a parameter)"
        switch self {
        case .unknown(let name): return "unknown activation '\(name)'; allowed: \(allowed)"
        case .invalidParameter(let name, let reason): return "invalid activation '\(name)': \(reason); allowed: \(allowed)"
        }
    }
}

/// tanh x (a free function so that the name does not resolve to `Activation.tanh`).
@inlinable
func hyperbolicTangent(_ x: Double) -> Double { tanh(x) }

/// erf x (a free function so that the name does not resolve to `Activation.erf`).
@inlinable
func errorFunction(_ x: Double) -> Double { erf(x) }

/// σ(x) = 1/(1 + e^{−x}) without overflow and with full relative accuracy in both tails.
@inlinable
func logistic(_ x: Double) -> Double {
    if x >= 0 { return 1 / (1 + exp(-x)) }
    let e = exp(x)
    return e / (1 + e)
}

/// Φ(x) = ½ erfc(−x/√2), accurate in the lower tail.
@inlinable
func standardNormalCDF(_ x: Double) -> Double { 0.5 * erfc(-x * 0.70710678118654752440084436210485) }

/// ϕ(x) = e^{−x²/2}/√(2π), the standard normal density.
@inlinable
public func standardNormalPDF(_ x: Double) -> Double { 0.39894228040143267793994605993438 * exp(-0.5 * x * x) }

extension StringProtocol {
    /// The string without leading and trailing white space.
    func trimmingBlanks() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}
