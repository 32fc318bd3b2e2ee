import LinearAlgebra
import MeanField
import Randomness

/// One step of a layer, carrying both of its halves, in the spirit of neural-tangents'
/// `stax` (Novak et al. 2020: a layer is its sampler and its kernel map together):
///
/// - `sample` is its Monte Carlo step on a sampled network (the batch columns, and every
///   tangent column through the step's linearisation);
/// - `propagate` is its mean-field step on the B×B second moments of the batch at infinite
///   width (Poole et al. 2016; Schoenholz et al. 2017), or nil where there is no such
///   Gaussian theory (batch norm couples the batch).
///
/// An architecture is a composition of layer maps (``Composition``), so its sampler and its
/// theory cannot drift apart.
public protocol LayerMap: Sendable {
    func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) throws(LAPACKError)
    func propagate(_ state: MeanFieldState) -> MeanFieldState?
}

/// The mean-field state of the batch at one point of a layer: the B×B second moments of
/// the vectors there (`x_a·x_b/N` entering a layer, `q_ab = h_a·h_b/N` after its affine
/// map) and, where a skip connection needs them, their means `E x_{a,i}`, with the layer's
/// input. Held per vector with a power-of-two scale (``ScaledMoments``), so lengths far
/// beyond Double's range (a chaotic relu net's 16·8^(l−1), a vanishing net's 10^(−2l))
/// propagate exactly.
public struct MeanFieldState: Sendable {
    /// B.
    public var count: Int { moments.count }
    /// The moments here; means where tracked.
    public var moments: ScaledMoments
    /// The layer's input `x^{l−1}`, kept by ``Affine`` for a skip connection.
    public var input: ScaledMoments
    /// 1: every pair of the vectors is tracked. P > 1: a convolutional net's B·P vectors
    /// (input a at position p is vector `a·P + p`) of which the ``pairs`` are tracked.
    public var positions = 1
    /// Which pairs of a convolutional state are tracked. Each set is closed under both
    /// ``Convolution``'s footprint average and φ's map, which keep each entry's offset and
    /// its pair of inputs (Xiao et al. 2018, §2); the other entries are not covariances (0, or
    /// after a skip the products of the means) and nothing reads them.
    public var pairs = Pairs.samePosition

    /// The pairs of a convolutional state's vectors that are tracked.
    public enum Pairs: Sendable, Hashable {
        /// Pairs at one position: all that q, c and the Gram observables (position averages) need.
        case samePosition
        /// Also every pair of one input's positions: its spatial covariance.
        case sameInputOrPosition
        /// Every pair.
        case all
    }

    /// Whether pair (i, j) is tracked (``positions``, ``pairs``).
    public func tracks(_ i: Int, _ j: Int) -> Bool {
        if positions == 1 || i % positions == j % positions { return true }
        switch pairs {
        case .samePosition: return false
        case .sameInputOrPosition: return i / positions == j / positions
        case .all: return true
        }
    }

    /// The inputs' state: `G0_ab = x_a·x_b/N₀` and, when tracked, their means.
    public init(inputGram: [Double], count: Int, means: [Double]?) {
        self.init(input: ScaledMoments(covariance: inputGram, means: means, count: count))
    }

    /// The inputs' state from their scaled moments (means kept as given).
    public init(input: ScaledMoments) {
        moments = input
        self.input = input
    }
}

/// An architecture as layer maps: `x^l = post(pre(x^{l−1}))`, the observables seeing the
/// pre-activations `h^l` between the two halves (after the affine map, its bias and any
/// normalisation; before φ).
public struct Composition: Sendable {
    /// From `x^{l−1}` to `h^l`: the affine map, then bias or normalisation.
    public let pre: [any LayerMap]
    /// From `h^l` to `x^l`: φ, then the stream update (with or without a skip).
    public let post: [any LayerMap]
    /// Whether a map needs the means `E x_{a,i}` (a skip connection's cross term).
    public let tracksMeans: Bool

    /// P: a convolutional net's state holds B·P vectors (input a at position p is vector
    /// `a·P + p`), and each layer's theory is their position average
    /// (``Convolution/positionAverage(_:positions:)``); 1 for a fully connected net.
    public let positions: Int

    public init(pre: [any LayerMap], post: [any LayerMap], tracksMeans: Bool, positions: Int = 1) {
        self.pre = pre
        self.post = post
        self.tracksMeans = tracksMeans
        self.positions = positions
    }

    /// The mean-field pre-activation covariances `q^l_ab`, layer 1 first, from the inputs'
    /// Gram `G0` and means: each layer's maps in order. Empty when a map has no theory.
    public func propagate(inputGram: [Double], inputMeans: [Double], count: Int, depth: Int) -> [LayerTheory] {
        propagate(input: ScaledMoments(covariance: inputGram, means: inputMeans, count: count), depth: depth)
    }

    /// The same from the inputs' scaled moments (``InputBatch/moments``), exact for inputs of any size.
    public func propagate(input: ScaledMoments, depth: Int) -> [LayerTheory] {
        propagate(input: input, depth: depth) { layer, moments in
            LayerTheory(layer: layer, moments: positions == 1 ? moments : Convolution.positionAverage(moments, positions: positions))
        }
    }

    /// Every layer's pre-activation moments, as `summary(l, moments)` of layer l, layer 1
    /// first, tracking `pairs` of a convolutional state (only the summaries are kept: a deep
    /// net's states need not fit in memory together). Empty when a map has no theory; up to
    /// the last layer a map could propagate.
    public func propagate<Summary>(input: ScaledMoments, depth: Int, pairs: MeanFieldState.Pairs = .samePosition,
                                   summary: (_ layer: Int, _ moments: ScaledMoments) -> Summary) -> [Summary] {
        var state = MeanFieldState(input: tracksMeans ? input : input.droppingMeans())
        state.positions = positions
        state.pairs = pairs
        var layers: [Summary] = []
        layers.reserveCapacity(depth)
        for layer in 1...max(depth, 1) where depth > 0 {
            for map in pre {
                guard let next = map.propagate(state) else { return [] }
                state = next
            }
            layers.append(summary(layer, state.moments))
            guard layer < depth else { break }
            for map in post {
                guard let next = map.propagate(state) else { return layers }
                state = next
            }
        }
        return layers
    }
}
