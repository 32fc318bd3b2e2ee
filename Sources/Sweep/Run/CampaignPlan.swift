import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness

/// What a campaign will cost, from a short calibration on this machine: grid size, tasks,
/// memory per rank, and time for a given number of ranks.
///
/// Model: a dense layer costs `N_l · N_{l-1}` weight draws plus a GEMM against B columns;
/// an implicit one is linear in N_l at fixed columns, timed on a 2¹⁶-wide network of the
/// campaign's own batch and observables;
/// timed per element on a real 512-wide network; an orthogonal layer adds a QR,
/// `(4/3)·N³` scaled from a timed 256³ one; the theory of a point is timed on three of its
/// layers and scaled by depth. Rank 0 computes theory and tasks on one thread beside the
/// coordinator, so P ranks divide the total by P; a single rank runs one thread per core.
public struct CampaignPlan: Sendable {
    public let points: Int
    public let tasks: Int
    public let networks: Int
    public let memoryPerRank: Int
    public let samplingSeconds: Double
    public let theorySeconds: Double
    public let ranks: Int
    /// Points sampled by each backend.
    public let implicitPoints: Int
    public let densePoints: Int

    /// Compute threads in the job: one per rank, or every core of a single rank.
    public var workers: Int { ranks == 1 ? SweepRun.usableCores : ranks }

    public var wallSeconds: Double { (samplingSeconds + theorySeconds) / Double(workers) }

    public init(campaign: Campaign, ranks: Int) throws {
        let points = campaign.points
        self.points = points.count
        tasks = points.count * campaign.tasksPerPoint
        networks = points.count * campaign.samples
        self.ranks = ranks
        memoryPerRank = MemoryEstimate(campaign: campaign, threads: ranks == 1 ? SweepRun.usableCores : 1)
            .bytesPerRank
        let (perElement, perQRCube, perFlop) = try Self.calibrate(precision: campaign.precision,
                                                                   batch: campaign.inputs.count)
        var sampling = 0.0
        var implicitCount = 0
        var implicitPerNeuronLayer: [WeightLaw: Double] = [:]
        let o = campaign.observables
        for p in points {
            let n = p.network, fanIn = campaign.inputDimension(width: n.width)
            let width = Double(n.width)
            if campaign.backend(for: n) == .implicit {
                // Linear in N·depth at fixed columns: a timed implicit network of this
                // campaign's batch and observables, per neuron and layer.
                implicitCount += 1
                if implicitPerNeuronLayer[n.weightInit] == nil {
                    implicitPerNeuronLayer[n.weightInit] = try Self.calibrateImplicit(campaign: campaign, weightInit: n.weightInit)
                }
                sampling += Double(n.depth) * width * implicitPerNeuronLayer[n.weightInit]! * Double(campaign.samples)
                continue
            }
            var perNetwork = width * Double(fanIn + (n.depth - 1) * n.width) * perElement
            if n.weightInit == .orthogonal {
                perNetwork += Double(n.depth) * pow(width, 3) * perQRCube
            }
            // Tangent columns in the layer GEMM (Jacobian, Lyapunov frame, one sensitivity noise
            // per input), and what each observable adds (SVDs, the NTK's backward pass).
            let shape = campaign.shape(n)
            perNetwork += Double(n.depth) * 2 * width * width * Double(o.tangentColumns(shape)) * perFlop
            perNetwork += o.members.reduce(0) { $0 + $1.extraFlops(shape) } * perFlop
            sampling += perNetwork * Double(campaign.samples)
        }
        samplingSeconds = sampling
        implicitPoints = implicitCount
        densePoints = points.count - implicitCount
        var theory = 0.0
        var timed: [String: Double] = [:]
        for p in points {
            let key = p.network.activation.name
            if timed[key] == nil {
                var probe = p.network
                probe.depth = min(3, p.network.depth)
                let inputs = try PreparedPoint(point: GridPoint(index: p.index, network: probe), campaign: campaign).inputs
                let start = ContinuousClock.now
                _ = PointTheory(network: probe, inputs: inputs, observables: campaign.observables)
                timed[key] = ProgressReporter.seconds(ContinuousClock.now - start) / Double(probe.depth)
            }
            theory += timed[key]! * Double(p.network.depth)
        }
        theorySeconds = theory
    }

    /// Seconds per neuron and layer of the implicit backend with the campaign's batch,
    /// observables (tangent columns included) and precision: the best of three tanh
    /// networks of width 2¹⁶ and depth 3.
    static func calibrateImplicit(campaign: Campaign, weightInit: WeightLaw) throws -> Double {
        let width = 1 << 16, depth = 3
        // What the implicit backend serves: observables that need W itself are dense-only.
        let observables = Observables(campaign.observables.members.filter { $0.needsDenseWeights == nil },
                                      forward: campaign.observables.forward)
        let spec = NetworkSpec(width: width, depth: depth, sigmaW: 1.2, sigmaB: 0.1, activation: .tanh, weightInit: weightInit)
        let stream = RandomStream(StreamID(seed: 1, point: 0, sample: 0, layer: 0, purpose: .inputs))
        let inputs = try InputBatch(spec: .gaussian(count: campaign.inputs.count, q0: 1), dimension: width, stream: stream)
        func best<T: BLASScalar & GaussianFillable>(_: T.Type) throws -> Double {
            var sampler = NetworkSampler<T>(spec: spec, inputs: inputs, observables: observables, seed: 1, point: 0,
                                            backend: .implicit)
            var statistics = sampler.makeStatistics()
            var fastest = Double.infinity
            for s in 0..<3 {
                let start = ContinuousClock.now
                try sampler.run(sample: s, into: &statistics)
                fastest = min(fastest, ProgressReporter.seconds(ContinuousClock.now - start))
            }
            return fastest
        }
        let seconds = campaign.precision == .float64 ? try best(Double.self) : try best(Float.self)
        return seconds / Double(width * depth)
    }

    /// Seconds per weight element of a dense Gaussian layer (draw + GEMM + activation
    /// share), per `N³` of an orthogonal layer's Haar QR, and per flop of a 256³ GEMM.
    static func calibrate(precision: Precision, batch: Int) throws -> (Double, Double, Double) {
        let width = 512, depth = 4
        let spec = NetworkSpec(width: width, depth: depth, sigmaW: 1.2, sigmaB: 0.1, activation: .tanh)
        let stream = RandomStream(StreamID(seed: 1, point: 0, sample: 0, layer: 0, purpose: .inputs))
        let inputs = try InputBatch(spec: .gaussian(count: batch, q0: 1), dimension: width, stream: stream)
        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let start = ContinuousClock.now
            try body()
            return ProgressReporter.seconds(ContinuousClock.now - start)
        }
        var best = Double.infinity
        switch precision {
        case .float64:
            var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: Observables([MeanSquaredLength(), MeanCorrelation()]), seed: 1, point: 0)
            var statistics = sampler.makeStatistics()
            for s in 0..<3 { best = min(best, try seconds { try sampler.run(sample: s, into: &statistics) }) }
        case .float32:
            var sampler = NetworkSampler<Float>(spec: spec, inputs: inputs, observables: Observables([MeanSquaredLength(), MeanCorrelation()]), seed: 1, point: 0)
            var statistics = sampler.makeStatistics()
            for s in 0..<3 { best = min(best, try seconds { try sampler.run(sample: s, into: &statistics) }) }
        }
        let qr = try (0..<2).map { _ in
            try seconds { _ = try Matrix<Double>.haarOrthogonal(rows: 256, columns: 256, stream: stream) }
        }.min()!
        let a = Matrix<Double>.gaussian(rows: 256, columns: 256, stream: stream)
        var c = Matrix<Double>(rows: 256, columns: 256)
        let gemm = (0..<3).map { _ in seconds { c.multiply(a, a) } }.min()!
        return (best / Double(depth * width * width), qr / pow(256, 3), gemm / (2 * pow(256, 3)))
    }
}
