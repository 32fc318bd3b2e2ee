import MeanField

/// How the layers are connected.
public enum Architecture: Sendable, Hashable {
    /// `x^l = φ(h^l)`.
    case feedforward
    /// `x^l = φ(h^l) + a·x^{l−1}` (Tarnowski et al. 2019); needs `N₀ = N`.
    case residual(scale: Double)
    /// `h^l = BN(W^l x^{l−1})`, `x^l = φ(h^l)`: every neuron normalised across the batch
    /// to mean 0 and variance 1, no learned scale or shift, no bias (BN removes it)
    /// (Ioffe & Szegedy 2015 at initialisation; Labatie 2019; Daneshmand et al. 2021).
    case batchNorm
    /// Daneshmand, Joudaki & Bach's chain (NeurIPS 2021) `H_{l+1} = BN(W_l H_l)/√N`
    /// with `BN(M) = diag(MMᵀ)^{−1/2} M`: each neuron divided by its norm across the batch,
    /// no centring (centred rows would sum to 0 over the batch, so HᵀH could not approach
    /// a multiple of I). Stored without the global 1/√N, which only q sees (q = 1/B·B = 1).
    case batchNormChain
    /// `x^l = φ(BN(W^l x^{l−1})) + a·x^{l−1}` (Labatie's BN-ResNet for a = 1); needs `N₀ = N`.
    /// `normalized`: the sum divided by √(1 + a²) (the 1/√2 of a = 1), so that a branch and a
    /// skip of equal variance keep the stream's variance instead of adding to it.
    case batchNormResidual(scale: Double, normalized: Bool = false)
    /// `x^l = φ(LN(W^l x^{l−1} + b^l))`: each input's pre-activation vector centred and scaled
    /// to unit variance across its N units, no learned gain or bias (Ba, Kiros & Hinton 2016).
    case layerNorm
    /// `x^l = φ(ω^l ⋆ x^{l−1} + b^l)`: a circular convolution with an odd k^d footprint
    /// (``Convolution``) over the inputs' spatial shape, the grid's width as its channels, a
    /// bias per channel (Xiao et al. 2018); and Labatie's (2019) conv families around it
    /// (``ConvolutionFamily``).
    case convolution(kernelSize: Int, family: ConvolutionFamily = .plain)

    /// What surrounds a convolution: Labatie's (2019) three families of CNNs.
    public enum ConvolutionFamily: Sendable, Hashable {
        /// `x^l = φ(ω ⋆ x^{l−1} + b)` (the vanilla CNN of Xiao et al. 2018).
        case plain
        /// `x^l = φ(ω ⋆ x^{l−1} + b) + a·x^{l−1}`; needs C = C₀.
        case residual(scale: Double)
        /// `x^l = φ(BN(ω ⋆ x^{l−1}))`, each channel normalised over the batch and the
        /// positions (Ioffe & Szegedy 2015's convolutional BN), no bias.
        case batchNorm
        /// `x^l = φ(BN(ω ⋆ x^{l−1})) + a·x^{l−1}` (Labatie's BN-ResNet for a = 1); needs C = C₀.
        case batchNormResidual(scale: Double)
    }

    /// The campaign's names for the architectures (`[network] architecture`).
    public static let names = ["feedforward", "residual", "batchnorm", "batchnorm-residual", "batchnorm-linear-chain",
                               "layernorm", "conv", "conv-residual", "conv-batchnorm", "conv-batchnorm-residual"]

    /// The architecture named `name`; a skip gets `residualScale` (normalised by √(1 + a²)
    /// when `normalized`, for batchnorm-residual).
    public init?(name: String, residualScale a: Double, normalized: Bool, kernelSize: Int = 3) {
        switch name {
        case "feedforward": self = .feedforward
        case "residual": self = .residual(scale: a)
        case "batchnorm": self = .batchNorm
        case "batchnorm-linear-chain": self = .batchNormChain
        case "batchnorm-residual": self = .batchNormResidual(scale: a, normalized: normalized)
        case "layernorm": self = .layerNorm
        case "conv": self = .convolution(kernelSize: kernelSize)
        case "conv-residual": self = .convolution(kernelSize: kernelSize, family: .residual(scale: a))
        case "conv-batchnorm": self = .convolution(kernelSize: kernelSize, family: .batchNorm)
        case "conv-batchnorm-residual": self = .convolution(kernelSize: kernelSize, family: .batchNormResidual(scale: a))
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .feedforward: return "feedforward"
        case .residual: return "residual"
        case .batchNorm: return "batchnorm"
        case .batchNormChain: return "batchnorm-linear-chain"
        case .batchNormResidual: return "batchnorm-residual"
        case .layerNorm: return "layernorm"
        case .convolution(_, .plain): return "conv"
        case .convolution(_, .residual): return "conv-residual"
        case .convolution(_, .batchNorm): return "conv-batchnorm"
        case .convolution(_, .batchNormResidual): return "conv-batchnorm-residual"
        }
    }

    /// Whether it is a convolutional net (any of ``ConvolutionFamily``).
    public var isConvolutional: Bool {
        if case .convolution = self { return true }
        return false
    }

    /// `a` of the skip connection, 0 without one.
    public var residualScale: Double {
        switch self {
        case .residual(let a), .batchNormResidual(let a, _), .convolution(_, .residual(let a)),
             .convolution(_, .batchNormResidual(let a)): return a
        case .feedforward, .batchNorm, .batchNormChain, .layerNorm, .convolution: return 0
        }
    }

    /// Whether a normalised skip divides the stream by √(1 + a²).
    public var normalizesResidual: Bool {
        if case .batchNormResidual(_, true) = self { return true }
        return false
    }

    /// Why the Jacobian observables (`jacobian`, `lyapunov`, `ntk`) do not apply, or nil.
    public var jacobianUnavailable: String? {
        if case .layerNorm = self { return tangentsUnavailable }
        if case .convolution(_, let family) = self, family != .plain {
            return "the Jacobian observables of Labatie's conv families are not implemented (plain conv only)"
        }
        return usesBatchNorm ? "batch norm couples the inputs of the batch, so ∂x^L/∂x^0 of one input is not the product "
            + "the Jacobian observables sample" : nil
    }

    /// Why `points.csv` has no fixed-point report (Poole et al. 2016's q*, c*, χ1 are those
    /// of feedforward nets).
    public var fixedPointNote: String {
        switch self {
        case .feedforward: return ""
        case .residual: return "residual net: no fixed point (q^l has no limit in general)"
        case .batchNorm, .batchNormChain, .batchNormResidual: return "batch norm: no mean-field theory here (BN couples the batch)"
        case .layerNorm: return "layer norm: q = 1 by construction and c follows the C-map at q = 1; no fixed-point report"
        case .convolution: return ""
        }
    }

    /// Why no tangent column (the sensitivity's noise) can cross its layers, or nil.
    public var tangentsUnavailable: String? {
        if case .layerNorm = self { return "the JVP through layer norm's own statistics is not implemented" }
        return nil
    }

    /// Whether `x^{l−1}` is added back (even with a = 0): every width must equal N₀.
    public var isResidual: Bool {
        switch self {
        case .residual, .batchNormResidual, .convolution(_, .residual), .convolution(_, .batchNormResidual): return true
        case .feedforward, .batchNorm, .batchNormChain, .layerNorm, .convolution: return false
        }
    }

    /// Whether the pre-activations are batch-normalised.
    public var usesBatchNorm: Bool {
        switch self {
        case .batchNorm, .batchNormChain, .batchNormResidual, .convolution(_, .batchNorm), .convolution(_, .batchNormResidual):
            return true
        case .feedforward, .residual, .layerNorm, .convolution: return false
        }
    }

    /// The layer maps of a network of this architecture: `h^l` from the affine map and its
    /// bias (batch norm replaces the bias, which it would subtract), `x^l` from φ and the
    /// stream update.
    public func composition(_ spec: NetworkSpec) -> Composition {
        let affine = Affine(spec: spec), phi = spec.activation
        switch self {
        case .feedforward:
            return Composition(pre: [affine, Bias(sigmaB: spec.sigmaB)], post: [Nonlinearity(phi, rescales: true), Skip.none],
                               tracksMeans: false)
        case .residual(let a):
            return Composition(pre: [affine, Bias(sigmaB: spec.sigmaB)],
                               post: [Nonlinearity(phi, rescales: true), Skip(scale: a, normalized: false)], tracksMeans: true)
        case .batchNorm, .batchNormChain:
            return Composition(pre: [affine, BatchNorm(centred: self == .batchNorm)],
                               post: [Nonlinearity(phi, rescales: false), Skip.none], tracksMeans: false)
        case .layerNorm:
            return Composition(pre: [affine, Bias(sigmaB: spec.sigmaB), LayerNorm()],
                               post: [Nonlinearity(phi, rescales: false), Skip.none], tracksMeans: false)
        case .batchNormResidual(let a, let normalized):
            return Composition(pre: [affine, BatchNorm(centred: true)],
                               post: [Nonlinearity(phi, rescales: false), Skip(scale: a, normalized: normalized)],
                               tracksMeans: true)
        case .convolution(let k, let family):
            // The spatial shape and the kernel size were validated with the campaign.
            let conv = try! Convolution(shape: spec.spatialShape, size: k, sigmaW: spec.sigmaW,
                                        kernel: spec.weightInit == .gaussian ? .gaussian : .deltaOrthogonal)
            let p = conv.positions
            switch family {
            case .plain:
                return Composition(pre: [conv, Bias(sigmaB: spec.sigmaB)], post: [Nonlinearity(phi, rescales: true), Skip.none],
                                   tracksMeans: false, positions: p)
            case .residual(let a):
                return Composition(pre: [conv, Bias(sigmaB: spec.sigmaB)],
                                   post: [Nonlinearity(phi, rescales: true), Skip(scale: a, normalized: false)],
                                   tracksMeans: true, positions: p)
            case .batchNorm:
                return Composition(pre: [conv, BatchNorm(centred: true)], post: [Nonlinearity(phi, rescales: false), Skip.none],
                                   tracksMeans: false, positions: p)
            case .batchNormResidual(let a):
                return Composition(pre: [conv, BatchNorm(centred: true)],
                                   post: [Nonlinearity(phi, rescales: false), Skip(scale: a, normalized: false)],
                                   tracksMeans: true, positions: p)
            }
        }
    }
}

/// The variance of the weights: `σ_w²/N_{l−1}` or `σ_w²/(N_{l−1}·L)`.
public enum WeightScaling: String, Sendable, Hashable, CaseIterable {
    case width
    case widthTimesDepth = "width*depth"
}

/// One random network family (Poole et al. 2016; Schoenholz et al. 2017):
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
    public var weightInit: WeightLaw
    public var architecture: Architecture
    public var weightScaling: WeightScaling
    /// The spatial shape of a convolutional net's signals (`[L]` or `[H, W]`, from the
    /// inputs' shape); empty for a fully connected one.
    public var spatialShape: [Int]

    public init(width: Int, depth: Int, sigmaW: Double, sigmaB: Double,
                activation: Activation, weightInit: WeightLaw = .gaussian,
                architecture: Architecture = .feedforward, weightScaling: WeightScaling = .width,
                spatialShape: [Int] = []) {
        self.width = width
        self.depth = depth
        self.sigmaW = sigmaW
        self.sigmaB = sigmaB
        self.activation = activation
        self.weightInit = weightInit
        self.architecture = architecture
        self.weightScaling = weightScaling
        self.spatialShape = spatialShape
    }

    /// P, the positions of a convolutional net's signals (1 for a fully connected net).
    public var positions: Int { spatialShape.reduce(1, *) }

    /// The rows of a layer's signal: N·P, channels × positions (N for a fully connected net).
    public var units: Int { width * positions }

    /// The divisor `s` of the weight variance `σ_w²/(N_{l−1}·s)`: 1 or L.
    public var varianceDivisor: Double { weightScaling == .width ? 1 : Double(depth) }
}

extension NetworkSpec {
    /// The mean-field pre-activation covariances `q^l_ab` (the NNGP kernels `K^l`) of this
    /// family on B inputs of Gram `G0_ab = x_a·x_b/N₀` and means `μ_a`, layer 1 first: its
    /// architecture's layer maps in order (Poole et al. 2016; Lee et al. 2018). Empty where
    /// the architecture has no Gaussian theory.
    public func meanField(inputGram: [Double], inputMeans: [Double]? = nil, count: Int) -> [LayerTheory] {
        architecture.composition(self).propagate(inputGram: inputGram,
                                                 inputMeans: inputMeans ?? Array(repeating: 0, count: count),
                                                 count: count, depth: depth)
    }

    /// The same from the inputs' scaled moments (``InputBatch/moments``), exact for inputs of any size.
    public func meanField(input: ScaledMoments) -> [LayerTheory] {
        architecture.composition(self).propagate(input: input, depth: depth)
    }
}
