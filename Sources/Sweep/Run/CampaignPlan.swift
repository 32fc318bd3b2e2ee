import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Synchronization

/// What a campaign will cost, from a short calibration on this machine: grid size, tasks,
/// memory per rank, and the wall time and parallel efficiency on P ranks.
///
/// Per-task costs, each timed on this machine:
/// - a network: its sampler's set-up, the network and the encoding of its partial, timed on
///   real networks of the point's own width, depth, σ_w, σ_b, activation, weight law,
///   backend, batch and observables, up to 16 points per kind of network (the rest at the
///   kind's mean; deep expensive ones at depth 1 and 2, extrapolated; dense widths above
///   4096 scaled as N², implicit widths above 2²⁰ as N); a sampling task is its set-up and
///   its networks;
/// - a point's theory with its encoding: up to 64 points per activation timed cold, the
///   rest at their activation's mean per layer;
/// - the coordinator's handling of one result: decoding, merging and journalling a partial
///   of the campaign's largest shape.
///
/// The wall and efficiency come from ``CoordinatorModel``, a discrete-event simulation of
/// the coordinator's dynamic schedule with these costs (one core per rank, as under
/// `mpirun --bind-to core`), each lengthened by this machine's ``contention`` when the
/// schedule keeps several of its cores computing at once.
public struct CampaignPlan: Sendable {
    public let points: Int
    public let tasks: Int
    public let networks: Int
    public let memoryPerRank: Int
    public let samplingSeconds: Double
    public let theorySeconds: Double
    public let ranks: Int
    /// Compute threads on rank 0.
    public let rank0Threads: Int
    /// Points sampled by each backend.
    public let implicitPoints: Int
    public let densePoints: Int
    /// Coordinator seconds per result.
    public let resultSeconds: Double
    /// The factor every task's cost was lengthened by (``contention(campaign:busy:)``).
    public let contention: Double
    /// The simulated schedule.
    public let schedule: CoordinatorModel.Schedule

    public var wallSeconds: Double { schedule.wallSeconds }

    /// The plan for `ranks` ranks with `rank0Threads` compute threads on rank 0 (nil: as
    /// `sweep` chooses), the grid repeated `repeats` times (to plan a larger campaign of
    /// the same kind).
    public init(campaign: Campaign, ranks: Int, rank0Threads: Int? = nil, repeats: Int = 1) throws {
        precondition(repeats >= 1, "repeats must be ≥ 1")
        let points = campaign.points
        self.points = points.count * repeats
        tasks = points.count * campaign.tasksPerPoint * repeats
        networks = points.count * campaign.samples * repeats
        self.ranks = ranks
        let threads = rank0Threads ?? (ranks == 1 ? SweepRun.usableCores : 1)
        self.rank0Threads = threads
        memoryPerRank = MemoryEstimate(campaign: campaign, threads: max(threads, 1)).bytesPerRank

        let network = try NetworkCosts(campaign: campaign)
        let theory = try TheoryCosts(campaign: campaign)
        var theoryTasks: [Double] = [], samplingTasks: [Double] = []
        for p in points {
            let cost = network.seconds(p)
            for t in 0..<campaign.tasksPerPoint {
                samplingTasks.append(cost.setup + Double(campaign.samples(ofTask: t).count) * cost.network)
            }
            theoryTasks.append(theory.seconds(p))
        }
        implicitPoints = points.filter { campaign.backend(for: $0.network) == .implicit }.count * repeats
        densePoints = self.points - implicitPoints
        samplingSeconds = samplingTasks.reduce(0, +) * Double(repeats)
        theorySeconds = theoryTasks.reduce(0, +) * Double(repeats)
        let resultSeconds = try Self.calibrateResult(campaign: campaign)
        self.resultSeconds = resultSeconds
        let contention = try Self.contention(campaign: campaign, busy: min(SweepRun.usableCores, threads + ranks - 1))
        self.contention = contention
        let queue = (Array(repeating: theoryTasks, count: repeats).flatMap { $0 }
            + Array(repeating: samplingTasks, count: repeats).flatMap { $0 }).map { $0 * contention }
        schedule = CoordinatorModel(taskSeconds: queue, resultSeconds: resultSeconds)
            .schedule(ranks: ranks, rank0Threads: threads)
    }

    /// How much longer a task takes while `busy` cores of this machine compute at once than
    /// alone — shared caches and memory bandwidth, or a hypervisor's virtual cores on one
    /// physical core: one network of the campaign's first point, repeated to at least
    /// 50 ms, timed seven times alone and seven times on `busy` threads at once (each its
    /// own sampler), alternating; the ratio of the medians, never below 1; 1 for `busy` ≤ 1.
    /// A plan for more ranks than this machine has cores takes each node as busy as this one.
    /// (With three ranks on two cores the workers' summed busy seconds were 8 % above one
    /// worker's, which a core-per-rank model without this misses.)
    static func contention(campaign: Campaign, busy: Int) throws -> Double {
        guard busy > 1, let point = campaign.points.first else { return 1 }
        var network = point.network
        network.width = min(network.width, 4096)
        let spec = network, backend = campaign.backend(for: spec)
        let inputs = try InputBatch(spec: campaign.inputs, dimension: campaign.inputDimension(width: spec.width),
                                    stream: RandomStream(StreamID(seed: 1, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        let observables = campaign.observables
        /// Seconds for `count` networks on one thread.
        @Sendable func networks(_ count: Int) -> Double {
            var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observables, seed: 1, point: 0,
                                                 backend: backend)
            var statistics = sampler.makeStatistics()
            let start = ContinuousClock.now
            for s in 0..<count { try? sampler.run(sample: s, into: &statistics) }
            return ProgressReporter.seconds(ContinuousClock.now - start)
        }
        var repeats = 1
        while networks(repeats) < 0.05 && repeats < 1 << 16 { repeats *= 2 }
        let count = repeats
        var alone: [Double] = [], together: [Double] = []
        for _ in 0..<7 {
            alone.append(networks(count))
            let times = Mutex([Double]())
            DispatchQueue.concurrentPerform(iterations: busy) { _ in
                let t = networks(count)
                times.withLock { $0.append(t) }
            }
            together.append(contentsOf: times.withLock { $0 })
        }
        return max(1, together.sorted()[together.count / 2] / alone.sorted()[alone.count / 2])
    }

    /// Seconds the coordinator spends on one result — decoding a partial of the campaign's
    /// largest shape, merging it and appending it to a journal file (median of 64).
    static func calibrateResult(campaign: Campaign) throws -> Double {
        guard let largest = campaign.points.max(by: { $0.network.depth < $1.network.depth }) else { return 0 }
        let empty = campaign.observables.emptyStatistics(campaign.shape(largest.network))
        let payload = empty.encoded()
        var merged = empty
        let path = NSTemporaryDirectory() + "/signalprop-plan-\(getpid()).journal"
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            return 0
        }
        defer { try? handle.close() }
        var times: [Double] = []
        for task in 0..<64 {
            let start = ContinuousClock.now
            let partial = try EnsembleStatistics(decoding: payload, shapedLike: empty)
            merged.merge(partial)
            try handle.write(contentsOf: Data(Journal.record(task: task, payload: payload)))
            times.append(ProgressReporter.seconds(ContinuousClock.now - start))
        }
        return times.sorted()[times.count / 2]
    }
}

/// Points spread evenly over `points`: all of them when there are at most `most`.
private func spread<T>(_ points: [T], most: Int) -> [T] {
    guard points.count > most else { return points }
    return (0..<most).map { points[$0 * points.count / most] }
}

/// Seconds per network of each grid point: up to 16 points of each kind of network
/// (activation, weight law, backend, width, depth) timed with their own σ_w and σ_b, the
/// others at their kind's mean.
private struct NetworkCosts {
    private var measured: [Int: (setup: Double, network: Double)] = [:]
    private var mean: [Key: (setup: Double, network: Double)] = [:]
    private let campaign: Campaign

    private struct Key: Hashable {
        let activation: Activation
        let weightInit: WeightLaw
        let backend: Backend
        let width: Int
        let depth: Int
    }

    /// Widths timed directly; wider ones are scaled from these.
    private static let largestTimed: [Backend: Int] = [.dense: 4096, .implicit: 1 << 20]

    init(campaign: Campaign) throws {
        self.campaign = campaign
        var groups: [Key: [GridPoint]] = [:]
        for p in campaign.points { groups[key(p.network), default: []].append(p) }
        for (key, points) in groups {
            var sum = (setup: 0.0, network: 0.0), count = 0.0
            for p in spread(points, most: 16) {
                let cost = try time(p.network, backend: key.backend)
                measured[p.index] = cost
                sum = (sum.setup + cost.setup, sum.network + cost.network)
                count += 1
            }
            mean[key] = (sum.setup / count, sum.network / count)
        }
    }

    private func key(_ network: NetworkSpec) -> Key {
        let backend = campaign.backend(for: network)
        return Key(activation: network.activation, weightInit: network.weightInit, backend: backend,
                   width: min(network.width, Self.largestTimed[backend]!), depth: network.depth)
    }

    /// `(setup, per network)` seconds of point `point`.
    func seconds(_ point: GridPoint) -> (setup: Double, network: Double) {
        measured[point.index] ?? mean[key(point.network)]!
    }

    /// Set-up seconds and seconds per network of a network like `spec` (its width capped at
    /// the largest timed one and the time scaled back: N² dense, N implicit), medians of
    /// three: at its own depth when that takes under 50 ms, else at depth 1 and 2 and
    /// extrapolated linearly in depth (the difference is one layer; at least a quarter of
    /// the depth-2 network, against timing noise). The network's partial is encoded as a
    /// task's is.
    private func time(_ network: NetworkSpec, backend: Backend) throws -> (setup: Double, network: Double) {
        var spec = network
        spec.width = min(network.width, Self.largestTimed[backend]!)
        let stream = RandomStream(StreamID(seed: 1, point: 0, sample: 0, layer: 0, purpose: .inputs))
        let inputs = try InputBatch(spec: campaign.inputs, dimension: campaign.inputDimension(width: spec.width), stream: stream)
        func median<T: BLASScalar & GaussianFillable>(_: T.Type, depth: Int) throws -> (setup: Double, network: Double) {
            var probe = spec
            probe.depth = depth
            var setup: [Double] = [], run: [Double] = []
            for s in 0..<3 {
                let start = ContinuousClock.now
                var sampler = NetworkSampler<T>(spec: probe, inputs: inputs, observables: campaign.observables, seed: 1,
                                                point: 0, backend: backend)
                var statistics = sampler.makeStatistics()
                let built = ContinuousClock.now
                try sampler.run(sample: s, into: &statistics)
                let ran = ContinuousClock.now
                _ = statistics.encoded()
                setup.append(ProgressReporter.seconds(built - start) + ProgressReporter.seconds(ContinuousClock.now - ran))
                run.append(ProgressReporter.seconds(ran - built))
            }
            return (setup.sorted()[1], run.sorted()[1])
        }
        func time(depth: Int) throws -> (setup: Double, network: Double) {
            campaign.precision == .float64 ? try median(Double.self, depth: depth) : try median(Float.self, depth: depth)
        }
        var cost = try time(depth: min(2, spec.depth))
        if spec.depth > 2 {
            if Double(spec.depth) * cost.network / 2 < 0.05 {
                cost = try time(depth: spec.depth)
            } else {
                let one = try time(depth: 1)
                let layer = max(cost.network - one.network, cost.network / 4)
                cost = (one.setup, max(0, one.network - layer) + Double(spec.depth) * layer)
            }
        }
        let ratio = Double(network.width) / Double(spec.width)
        return (cost.setup * ratio, cost.network * (backend == .dense ? ratio * ratio : ratio))
    }
}

/// Seconds of a point's theory: up to 64 points of each activation, spread over the grid,
/// timed cold with their encoding for the journal; the others at their activation's mean
/// per layer.
private struct TheoryCosts {
    let campaign: Campaign
    /// Timed points: seconds per layer.
    private var measured: [Int: Double] = [:]
    private var perLayer: [Activation: Double] = [:]

    init(campaign: Campaign) throws {
        self.campaign = campaign
        for activation in Set(campaign.points.map(\.network.activation)) {
            var rates: [Double] = []
            for p in spread(campaign.points.filter { $0.network.activation == activation }, most: 64) {
                let inputs = try PreparedPoint(point: p, campaign: campaign).inputs
                let start = ContinuousClock.now
                _ = PointTheory(network: p.network, inputs: inputs, observables: campaign.observables).encoded()
                let rate = ProgressReporter.seconds(ContinuousClock.now - start) / Double(max(p.network.depth, 1))
                measured[p.index] = rate
                rates.append(rate)
            }
            perLayer[activation] = rates.reduce(0, +) / Double(rates.count)
        }
    }

    func seconds(_ point: GridPoint) -> Double {
        (measured[point.index] ?? perLayer[point.network.activation]!) * Double(max(point.network.depth, 1))
    }
}
