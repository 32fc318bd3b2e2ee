import MeanField

/// How the weight matrices of a network are drawn.
public enum WeightInit: String, Sendable, Hashable, Codable, CaseIterable {
    /// `W_ij ~ N(0, σ_w²/N_{l-1})`, iid.
    case gaussian
    /// `W = σ_w·√max(1, N_l/N_{l-1})·O`, O a Haar-random matrix with orthonormal columns
    /// (or rows when `N_l < N_{l-1}`); the factor keeps `E|W x|²/N_l = σ_w²|x|²/N_{l-1}` as
    /// for Gaussian weights, so both share the mean-field length map. Square layers get
    /// exactly `σ_w O`, O Haar on O(N).
    case orthogonal
}

/// How the layers are connected.
public enum Architecture: Sendable, Hashable {
    /// `x^l = φ(h^l)`.
    case feedforward
    /// `x^l = φ(h^l) + a·x^{l−1}` (Tarnowski et al. 2019, seed 002); needs `N₀ = N`.
    case residual(scale: Double)
    /// `h^l = BN(W^l x^{l−1})`, `x^l = φ(h^l)`: every neuron normalised across the batch
    /// to mean 0 and variance 1, no learned scale or shift, no bias (BN removes it)
    /// (Ioffe & Szegedy 2015 at initialisation; Labatie 2019; seeds 000, 004).
    case batchNorm
    /// Daneshmand, Joudaki & Bach's chain (NeurIPS 2021; seed 000) `H_{l+1} = BN(W_l H_l)/√N`
    /// with `BN(M) = diag(MMᵀ)^{−1/2} M`: each neuron divided by its norm across the batch,
    /// no centring (centred rows would sum to 0 over the batch, so HᵀH could not approach
    /// a multiple of I). Stored without the global 1/√N, which only q sees (q = 1/B·B = 1).
    case batchNormChain
    /// `x^l = φ(BN(W^l x^{l−1})) + a·x^{l−1}` (Labatie's BN-ResNet for a = 1); needs `N₀ = N`.
    /// `normalized`: the sum divided by √(1 + a²) (the 1/√2 of a = 1), so that a branch and a
    /// skip of equal variance keep the stream's variance instead of adding to it.
    case batchNormResidual(scale: Double, normalized: Bool = false)

    public var name: String {
        switch self {
        case .feedforward: return "feedforward"
        case .residual: return "residual"
        case .batchNorm: return "batchnorm"
        case .batchNormChain: return "batchnorm-linear-chain"
        case .batchNormResidual: return "batchnorm-residual"
        }
    }

    /// `a` of the skip connection, 0 without one.
    public var residualScale: Double {
        switch self {
        case .residual(let a), .batchNormResidual(let a, _): return a
        case .feedforward, .batchNorm, .batchNormChain: return 0
        }
    }

    /// The factor the residual sum is multiplied by: 1/√(1 + a²) when normalised, else 1.
    public var residualNormalization: Double {
        if case .batchNormResidual(let a, true) = self { return 1 / (1 + a * a).squareRoot() }
        return 1
    }

    /// Whether `x^{l−1}` is added back (even with a = 0): every width must equal N₀.
    public var isResidual: Bool {
        switch self {
        case .residual, .batchNormResidual: return true
        case .feedforward, .batchNorm, .batchNormChain: return false
        }
    }

    /// Whether the pre-activations are batch-normalised.
    public var usesBatchNorm: Bool {
        switch self {
        case .batchNorm, .batchNormChain, .batchNormResidual: return true
        case .feedforward, .residual: return false
        }
    }
}

/// The variance of the weights: `σ_w²/N_{l−1}` or `σ_w²/(N_{l−1}·L)`.
public enum WeightScaling: String, Sendable, Hashable, CaseIterable {
    case width
    case widthTimesDepth = "width*depth"
}

/// One random network family (DESIGN §2):
/// `h^l = W^l x^{l-1} + b^l`, `x^l = φ(h^l)` (`+ a·x^{l−1}` for residual nets), `l = 1…L`,
/// `x^0` the input, `b_i ~ N(0, σ_b²)`, every layer's weights and biases fresh and independent.
public struct NetworkSpec: Sendable, Hashable {
    /// Width `N` of every hidden layer.
    public var width: Int
    /// Number of layers `L`.
    public var depth: Int
    public var sigmaW: Double
    public var sigmaB: Double
    public var activation: Activation
    public var weightInit: WeightInit
    public var architecture: Architecture
    public var weightScaling: WeightScaling

    public init(width: Int, depth: Int, sigmaW: Double, sigmaB: Double,
                activation: Activation, weightInit: WeightInit = .gaussian,
                architecture: Architecture = .feedforward, weightScaling: WeightScaling = .width) {
        self.width = width
        self.depth = depth
        self.sigmaW = sigmaW
        self.sigmaB = sigmaB
        self.activation = activation
        self.weightInit = weightInit
        self.architecture = architecture
        self.weightScaling = weightScaling
    }

    /// The divisor `s` of the weight variance `σ_w²/(N_{l−1}·s)`: 1 or L.
    public var varianceDivisor: Double { weightScaling == .width ? 1 : Double(depth) }
}
