import Ensembles
import MeanField

/// Arithmetic precision of the sampled networks. Statistics are always accumulated in float64.
public enum Precision: String, Sendable, Hashable, CaseIterable {
    case float32, float64
}

/// `[network] backend`: "auto" takes the implicit backend wherever it can serve the
/// point's observables and width (``Observables/implicitUnsupported(_:)``), the dense one
/// elsewhere.
public enum BackendChoice: String, Sendable, Hashable, CaseIterable {
    case auto, dense, implicit
}

/// The hyper-parameter grid: every combination of the axes is one grid point.
public struct Grid: Sendable, Hashable {
    public var width: [Int]
    public var depth: [Int]
    public var sigmaW: [Double]
    public var sigmaB: [Double]
    public var activation: [Activation]
    public var weightInit: [WeightLaw]
    /// `[network] architecture`: one or a list (e.g. BN vs no BN in one campaign).
    public var architecture: [Architecture]

    /// The number of grid points (the product of the axis lengths).
    public var count: Int {
        width.count * depth.count * sigmaW.count * sigmaB.count * activation.count * weightInit.count * architecture.count
    }
}

/// A validated campaign: everything `signalprop sweep` needs, every key defaulted or checked.
public struct Campaign: Sendable, Hashable {
    public var name: String
    public var seed: UInt64
    /// Networks per grid point.
    public var samples: Int
    /// Networks per task. Tasks are the unit of scheduling and of the fixed reduction order.
    public var block: Int
    public var precision: Precision
    public var grid: Grid
    public var inputs: InputSpec
    /// `[network] backend`: how each point's layers are sampled.
    public var backendChoice: BackendChoice
    public var weightScaling: WeightScaling
    public var observables: Observables
}

/// One point of the grid, numbered in the fixed expansion order.
public struct GridPoint: Sendable, Hashable {
    public let index: Int
    public let network: NetworkSpec
}

extension Campaign {
    /// The grid points in a fixed order: architecture, activation, init, width, depth, σ_b
    /// outermost to innermost, then σ_w (so consecutive points sweep σ_w, as in a phase plot).
    public var points: [GridPoint] {
        var points: [GridPoint] = []
        points.reserveCapacity(grid.count)
        for architecture in grid.architecture {
            for activation in grid.activation {
                for weightInit in grid.weightInit {
                    for width in grid.width {
                        for depth in grid.depth {
                            for sigmaB in grid.sigmaB {
                                for sigmaW in grid.sigmaW {
                                    let spec = NetworkSpec(width: width, depth: depth, sigmaW: sigmaW, sigmaB: sigmaB,
                                                           activation: activation, weightInit: weightInit,
                                                           architecture: architecture, weightScaling: weightScaling,
                                                           spatialShape: inputs.spatialShape)
                                    points.append(GridPoint(index: points.count, network: spec))
                                }
                            }
                        }
                    }
                }
            }
        }
        return points
    }

    /// Tasks per grid point: `⌈samples / block⌉`.
    public var tasksPerPoint: Int { (samples + block - 1) / block }

    /// The backend that samples `network` (for `implicit`, the parser has checked it can).
    public func backend(for network: NetworkSpec) -> Backend {
        switch backendChoice {
        case .dense: return .dense
        case .implicit: return .implicit
        case .auto:
            // A conv layer's implicit draw factors a (k^d C_in) × (P·B) matrix: the dense GEMMs are cheaper
            // at the channel counts where weights fit.
            if case .convolution = network.architecture { return .dense }
            return observables.implicitUnsupported(shape(network)) == nil ? .implicit : .dense
        }
    }

    /// The dimension N₀ of the inputs at a point of width `width`.
    public func inputDimension(width: Int) -> Int { inputs.dimension(width: width) }

    /// What the observables of a point see: its network, the batch, the input dimension.
    public func shape(_ network: NetworkSpec) -> NetworkShape {
        NetworkShape(spec: network, batch: inputs.count, inputDimension: inputDimension(width: network.width))
    }

    /// The sample indices of task `t` (0-based within its point).
    public func samples(ofTask t: Int) -> Range<Int> {
        (t * block)..<min(samples, (t + 1) * block)
    }
}
