#if canImport(Glibc)
import Glibc
#endif
import Ensembles
import MeanField

/// The predictions written beside one grid point's measurements (DESIGN §2), from the
/// point's actual input batch: the layer-by-layer mean-field covariances (feedforward:
/// Poole et al. 2016; residual: the (r, μ) recursion of Tarnowski et al. 2019), the
/// fixed points, and the Lyapunov exponents where theory gives them.
public struct PointTheory: Sendable {
    public let layers: [LayerTheory]
    /// The feedforward fixed points (nil for residual nets, whose q has none in general).
    public let fixedPoints: FixedPointReport?
    /// `χ^l = (σ_w²/s) E φ′(√q^l z)²` at the batch's first input, layer 1 first: the
    /// per-layer mean squared singular value of the Jacobian (the input the sampler
    /// differentiates at).
    public let layerGains: [Double]
    /// Predicted `lyap_k` by k (1-based), and `lyap_gap`.
    public let lyapunov: [Int: Double]
    public let lyapunovGap: Double?

    public init(network: NetworkSpec, inputs: InputBatch, observables: Observables) {
        // Weight variance σ_w²/(N·s): the maps of an effective σ_w/√s.
        let s = network.varianceDivisor
        let maps = MeanFieldMaps(activation: network.activation, sigmaW: network.sigmaW / s.squareRoot(),
                                 sigmaB: network.sigmaB)
        switch network.architecture {
        case .feedforward:
            layers = maps.propagate(inputGram: inputs.gram.elements, count: inputs.count, depth: network.depth)
            fixedPoints = maps.fixedPoints()
        case .residual(let a):
            layers = maps.propagateResidual(inputGram: inputs.gram.elements, inputMeans: inputs.means,
                                            count: inputs.count, depth: network.depth, scale: a, varianceDivisor: 1)
            fixedPoints = nil
        }
        layerGains = layers.map { maps.chi1(q: $0.q[0]) }

        var lyapunov: [Int: Double] = [:]
        var gap: Double?
        if let observable = observables.lyapunov, case .feedforward = network.architecture {
            let k = observable.count(inputDimension: inputs.dimension, width: network.width)
            if network.activation == .linear, inputs.dimension == network.width {
                for i in 1...k {
                    lyapunov[i] = network.weightInit == .gaussian
                        ? LyapunovTheory.gaussianProduct(dimension: network.width, k: i, sigma: network.sigmaW,
                                                         varianceDenominator: Double(network.width) * s)
                        : log(network.sigmaW) - 0.5 * log(s)
                }
                if k >= 2 { gap = lyapunov[1]! - lyapunov[2]! }
            } else {
                lyapunov[1] = layerGains.reduce(0) { $0 + 0.5 * log($1) } / Double(network.depth)
            }
        }
        self.lyapunov = lyapunov
        lyapunovGap = gap
    }

    /// The prediction for a measured quantity at `layer` (1-based), nil where theory is silent.
    public func value(of quantity: String, layer: Int, batch: Int) -> Double? {
        let t = layers[layer - 1]
        switch quantity {
        case "q": return t.meanQ
        case "c": return t.meanC
        case "lyap_gap": return lyapunovGap
        default:
            let parts = quantity.split(separator: "_")
            if parts.count == 2, parts[0] == "lyap", let k = Int(parts[1]) { return lyapunov[k] }
            guard parts.count == 3, parts[0] == "gram", let a = Int(parts[1]), let b = Int(parts[2]) else { return nil }
            return t.covariance[a * batch + b]
        }
    }
}
