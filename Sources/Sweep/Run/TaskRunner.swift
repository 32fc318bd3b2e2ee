import Ensembles
import Foundation
import LinearAlgebra
import Randomness
import Synchronization

/// A failure inside a task, naming the task and its grid point.
public struct TaskError: Error, CustomStringConvertible, Sendable {
    public let point: Int
    public let task: Int
    public let network: NetworkSpec
    public let underlying: String
    public var description: String {
        (task >= 0 ? "task \(task) (grid point \(point): " : "grid point \(point) (") + "width \(network.width), depth \(network.depth), σ_w \(network.sigmaW), "
            + "σ_b \(network.sigmaB), \(network.activation.name), \(network.weightInit.rawValue)) failed: \(underlying)"
    }
}

/// One grid point ready to sample: its spec and its input batch.
struct PreparedPoint: Sendable {
    let point: GridPoint
    let inputs: InputBatch

    /// Builds the point's input batch from its own `inputs` stream (deterministic).
    init(point: GridPoint, campaign: Campaign) throws(TaskError) {
        self.point = point
        let stream = RandomStream(StreamID(seed: campaign.seed, point: UInt32(point.index), sample: 0,
                                           layer: 0, purpose: .inputs))
        do {
            inputs = try InputBatch(spec: campaign.inputs, dimension: campaign.inputDimension(width: point.network.width),
                                    stream: stream)
        } catch {
            throw TaskError(point: point.index, task: -1, network: point.network,
                            underlying: "building the inputs: \(error.description)")
        }
    }
}

/// What a task produces: a partial of its point's statistics, or its point's theory.
enum TaskResult: Sendable {
    case partial(EnsembleStatistics)
    case theory(PointTheory)

    /// The form journalled and sent to the coordinator.
    var encoded: [UInt8] {
        switch self {
        case .partial(let statistics): statistics.encoded()
        case .theory(let theory): theory.encoded()
        }
    }
}

/// The campaign's tasks and what every rank needs to run any of them. Every rank builds the
/// same catalogue from the campaign file.
///
/// Sampling tasks are numbered `point · tasksPerPoint + t` (point-major), `0 ..< count`;
/// then each point's theory is one task, `count + point` (``theoryTask(point:)``).
final class TaskCatalog: Sendable {
    let campaign: Campaign
    let points: [GridPoint]
    /// Prepared points, built on first use on each rank.
    private let prepared: Mutex<[Int: PreparedPoint]> = Mutex([:])

    init(campaign: Campaign) {
        self.campaign = campaign
        points = campaign.points
    }

    /// The number of sampling tasks.
    var count: Int { points.count * campaign.tasksPerPoint }

    /// Sampling and theory tasks together.
    var totalCount: Int { count + points.count }

    func theoryTask(point: Int) -> Int { count + point }

    /// The point whose theory task `task` is, nil for a sampling task.
    func theoryPoint(ofTask task: Int) -> Int? { task >= count ? task - count : nil }

    func point(ofTask task: Int) -> Int { task / campaign.tasksPerPoint }

    func samples(ofTask task: Int) -> Range<Int> { campaign.samples(ofTask: task % campaign.tasksPerPoint) }

    /// An empty accumulator shaped for a point's statistics.
    func emptyStatistics(point: Int) -> EnsembleStatistics {
        campaign.observables.emptyStatistics(campaign.shape(points[point].network))
    }

    func prepared(_ point: Int) throws(TaskError) -> PreparedPoint {
        if let p = prepared.withLock({ $0[point] }) { return p }
        let p = try PreparedPoint(point: points[point], campaign: campaign)
        prepared.withLock { $0[point] = p }
        return p
    }

    /// Fault injection for the tests of the failure path: `SIGNALPROP_FAIL_TASK=k` makes
    /// task `k` throw on whichever rank runs it.
    static let injectedFailure: Int? = ProcessInfo.processInfo.environment["SIGNALPROP_FAIL_TASK"].flatMap { Int($0) }

    /// The mean-field theory of `point`, from its input batch.
    func theory(point: Int) throws(TaskError) -> PointTheory {
        PointTheory(network: points[point].network, inputs: try prepared(point).inputs, observables: campaign.observables)
    }

    /// Runs task `task` of either kind.
    func result(of task: Int) throws(TaskError) -> TaskResult {
        if let point = theoryPoint(ofTask: task) { return .theory(try theory(point: point)) }
        return .partial(try run(task))
    }

    /// The result encoded in `payload` (a journal record or a worker's message), nil unless
    /// it is a complete result of `task`: a theory, or a partial over all of the task's samples.
    func decode(task: Int, payload: [UInt8]) -> TaskResult? {
        guard task >= 0, task < totalCount else { return nil }
        if theoryPoint(ofTask: task) != nil { return PointTheory(decoding: payload).map { .theory($0) } }
        guard let partial = try? EnsembleStatistics(decoding: payload, shapedLike: emptyStatistics(point: point(ofTask: task))),
              partial.networks == samples(ofTask: task).count else { return nil }
        return .partial(partial)
    }

    /// Runs sampling task `task`: a fresh sampler, the task's samples in order, one partial.
    func run(_ task: Int) throws(TaskError) -> EnsembleStatistics {
        let p = try prepared(point(ofTask: task))
        if task == Self.injectedFailure {
            throw TaskError(point: p.point.index, task: task, network: p.point.network,
                            underlying: "failure injected by SIGNALPROP_FAIL_TASK")
        }
        do {
            switch campaign.precision {
            case .float64: return try run(Double.self, task, p)
            case .float32: return try run(Float.self, task, p)
            }
        } catch {
            throw TaskError(point: p.point.index, task: task, network: p.point.network, underlying: error.description)
        }
    }

    private func run<T: BLASScalar & GaussianFillable>(_: T.Type, _ task: Int, _ p: PreparedPoint)
        throws(LAPACKError) -> EnsembleStatistics {
        var sampler = NetworkSampler<T>(spec: p.point.network, inputs: p.inputs, observables: campaign.observables,
                                      seed: campaign.seed, point: p.point.index,
                                      backend: campaign.backend(for: p.point.network))
        var statistics = sampler.makeStatistics()
        for s in samples(ofTask: task) { try sampler.run(sample: s, into: &statistics) }
        return statistics
    }
}
