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

/// One random feedforward network family (DESIGN §2):
/// `h^l = W^l x^{l-1} + b^l`, `x^l = φ(h^l)`, `l = 1…L`, `x^0` the input,
/// `b_i ~ N(0, σ_b²)`, every layer's weights and biases fresh and independent.
public struct NetworkSpec: Sendable, Hashable {
    /// Width `N` of every hidden layer.
    public var width: Int
    /// Number of layers `L`.
    public var depth: Int
    public var sigmaW: Double
    public var sigmaB: Double
    public var activation: Activation
    public var weightInit: WeightInit

    public init(width: Int, depth: Int, sigmaW: Double, sigmaB: Double,
                activation: Activation, weightInit: WeightInit = .gaussian) {
        self.width = width
        self.depth = depth
        self.sigmaW = sigmaW
        self.sigmaB = sigmaB
        self.activation = activation
        self.weightInit = weightInit
    }
}
