import Dispatch
import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Synchronization

/// Options of one `signalprop sweep` invocation beyond the campaign file itself.
public struct SweepOptions: Sendable {
    public var outputDirectory: String
    public var force: Bool
    public var threads: Int
    public var showProgress: Bool
    public var configPath: String

    public init(outputDirectory: String, force: Bool, threads: Int, showProgress: Bool, configPath: String) {
        self.outputDirectory = outputDirectory
        self.force = force
        self.threads = threads
        self.showProgress = showProgress
        self.configPath = configPath
    }
}

/// Mean-field predictions for one grid point (DESIGN §2), from the point's actual input Gram.
public struct PointTheory: Sendable {
    public let layers: [LayerTheory]
    public let fixedPoints: FixedPointReport

    public init(network: NetworkSpec, inputs: InputBatch) {
        let maps = MeanFieldMaps(activation: network.activation, sigmaW: network.sigmaW, sigmaB: network.sigmaB)
        layers = maps.propagate(inputGram: inputs.gram.elements, count: inputs.count, depth: network.depth)
        fixedPoints = maps.fixedPoints()
    }

    /// The prediction for a measured quantity (`q`, `c`, `gram_a_b`) at `layer` (1-based).
    public func value(of quantity: String, layer: Int, batch: Int) -> Double? {
        let t = layers[layer - 1]
        switch quantity {
        case "q": return t.meanQ
        case "c": return t.meanC
        default:
            let parts = quantity.split(separator: "_")
            guard parts.count == 3, parts[0] == "gram", let a = Int(parts[1]), let b = Int(parts[2]) else { return nil }
            return t.covariance[a * batch + b]
        }
    }
}

/// A whole sweep on this machine: validate, prepare points, sample, merge, write.
public struct SweepRun {
    public let campaign: Campaign
    public let options: SweepOptions

    public init(campaign: Campaign, options: SweepOptions) {
        self.campaign = campaign
        self.options = options
    }

    /// Builds each grid point's input batch (deterministic: the `inputs` stream of the point).
    func preparePoints() throws(TaskError) -> [PreparedPoint] {
        var prepared: [PreparedPoint] = []
        for point in campaign.points {
            let stream = RandomStream(StreamID(seed: campaign.seed, point: UInt32(point.index), sample: 0,
                                               layer: 0, purpose: .inputs))
            do {
                let batch = try InputBatch(spec: campaign.inputs.spec, dimension: point.network.width, stream: stream)
                prepared.append(PreparedPoint(point: point, inputs: batch))
            } catch {
                throw TaskError(point: point.index, task: -1, network: point.network,
                                underlying: "building the inputs: \(error.description)")
            }
        }
        return prepared
    }

    /// Each point's mean-field theory, computed `threads` at a time (a tanh point with
    /// B inputs costs ~1 ms per input pair and layer of quadrature).
    static func theories(for points: [PreparedPoint], threads: Int) -> [PointTheory] {
        let results = Mutex([PointTheory?](repeating: nil, count: points.count))
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, points.count))) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < points.count else { return }
                let theory = PointTheory(network: points[i].point.network, inputs: points[i].inputs)
                results.withLock { $0[i] = theory }
            }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// Runs the campaign and writes `manifest.json`, `points.csv` and `layers.csv`.
    public func run() throws -> SweepSummary {
        let started = Date()
        let fm = FileManager.default
        let out = options.outputDirectory
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: out, isDirectory: &isDirectory) {
            guard options.force else {
                throw OutputError(path: out, reason: "already exists; choose another --out or pass --force to overwrite it")
            }
            guard isDirectory.boolValue else { throw OutputError(path: out, reason: "exists and is not a folder") }
        }
        let prepared = try preparePoints()
        let theories = Self.theories(for: prepared, threads: options.threads)
        do {
            try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw OutputError(path: out, reason: "cannot create the output folder: \(error.localizedDescription)")
        }
        let executor = LocalExecutor(campaign: campaign, points: prepared, threads: options.threads,
                                     showProgress: options.showProgress)
        let clock = ContinuousClock.now
        let results = try executor.run()
        let seconds = ProgressReporter.seconds(ContinuousClock.now - clock)
        let tables = Tables(campaign: campaign, points: prepared, theories: theories,
                            statistics: results.map(\.statistics))
        try AtomicFile.write(tables.pointsCSV(), to: out + "/points.csv")
        try AtomicFile.write(tables.layersCSV(), to: out + "/layers.csv")
        let manifest = Manifest(campaign: campaign, configPath: options.configPath, started: started,
                                finished: Date(), wallSeconds: seconds, threads: options.threads,
                                points: prepared, statistics: results.map(\.statistics),
                                pointSeconds: results.map(\.seconds), tasks: executor.tasks.count)
        try AtomicFile.write(try manifest.json(), to: out + "/manifest.json")
        return SweepSummary(points: prepared.count, networks: campaign.samples * prepared.count, seconds: seconds,
                            diverged: manifest.divergedPoints)
    }
}

/// What a finished sweep reports to the command line.
public struct SweepSummary: Sendable {
    public let points: Int
    public let networks: Int
    public let seconds: Double
    /// Human-readable notes on points where some values were non-finite.
    public let diverged: [String]
}
