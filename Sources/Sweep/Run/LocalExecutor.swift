import Dispatch
import Ensembles
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
        "task \(task) of grid point \(point) (width \(network.width), depth \(network.depth), σ_w \(network.sigmaW), "
            + "σ_b \(network.sigmaB), \(network.activation.name), \(network.weightInit.rawValue)) failed: \(underlying)"
    }
}

/// One grid point ready to sample: its spec and its input batch.
struct PreparedPoint: Sendable {
    let point: GridPoint
    let inputs: InputBatch
}

/// The unit of work: samples `samples` of grid point `point` (task `index` within the point).
public struct SweepTask: Sendable, Hashable {
    public let point: Int
    public let index: Int
    public let samples: Range<Int>
}

/// Runs every task of a campaign on this machine with `threads` worker threads (one BLAS
/// thread each) and merges the partial statistics of each grid point in task order, so
/// the result does not depend on the number of threads or on which thread ran what.
struct LocalExecutor {
    let campaign: Campaign
    let points: [PreparedPoint]
    let threads: Int
    let showProgress: Bool

    var tasks: [SweepTask] {
        points.flatMap { p in
            (0..<campaign.tasksPerPoint).map { t in
                SweepTask(point: p.point.index, index: t, samples: campaign.samples(ofTask: t))
            }
        }
    }

    /// Runs one task: a fresh sampler, the task's samples in order, one partial.
    static func run(_ task: SweepTask, point: PreparedPoint, campaign: Campaign) throws(TaskError) -> EnsembleStatistics {
        do {
            switch campaign.precision {
            case .float64: return try runTyped(Double.self, task, point, campaign)
            case .float32: return try runTyped(Float.self, task, point, campaign)
            }
        } catch {
            throw TaskError(point: task.point, task: task.index, network: point.point.network, underlying: error.description)
        }
    }

    private static func runTyped<T: BLASScalar & GaussianFillable>(
        _: T.Type, _ task: SweepTask, _ point: PreparedPoint, _ campaign: Campaign
    ) throws(LAPACKError) -> EnsembleStatistics {
        var sampler = DenseForwardSampler<T>(spec: point.point.network, inputs: point.inputs,
                                             observables: campaign.forward, seed: campaign.seed,
                                             point: point.point.index)
        var statistics = sampler.makeStatistics()
        for s in task.samples { try sampler.run(sample: s, into: &statistics) }
        return statistics
    }

    /// Per grid point, the merged statistics and the seconds its tasks took.
    func run() throws(TaskError) -> [(statistics: EnsembleStatistics, seconds: Double)] {
        let tasks = self.tasks
        let state = Mutex(SharedState(
            results: Array(repeating: nil, count: tasks.count),
            progress: ProgressReporter(totalTasks: tasks.count, totalNetworks: campaign.samples * points.count,
                                       enabled: showProgress)))
        let previousThreads = OpenBLAS.threads
        OpenBLAS.threads = 1
        defer { OpenBLAS.threads = previousThreads }
        let (campaign, points) = (self.campaign, self.points)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, tasks.count))) { _ in
            while true {
                let next: Int? = state.withLock { s in
                    guard s.failure == nil, s.next < tasks.count else { return nil }
                    defer { s.next += 1 }
                    return s.next
                }
                guard let i = next else { return }
                let task = tasks[i]
                let clock = ContinuousClock.now
                do throws(TaskError) {
                    let partial = try Self.run(task, point: points[task.point], campaign: campaign)
                    let seconds = ProgressReporter.seconds(ContinuousClock.now - clock)
                    state.withLock { s in
                        s.results[i] = (partial, seconds)
                        s.progress.taskFinished(networks: task.samples.count)
                    }
                } catch {
                    state.withLock { s in if s.failure == nil { s.failure = error } }
                    return
                }
            }
        }
        let (results, failure) = state.withLock { ($0.results, $0.failure) }
        if let failure { throw failure }
        var merged: [(statistics: EnsembleStatistics, seconds: Double)] = []
        var i = 0
        for _ in points {
            var (statistics, seconds) = results[i]!
            for t in 1..<campaign.tasksPerPoint {
                statistics.merge(results[i + t]!.0)
                seconds += results[i + t]!.1
            }
            merged.append((statistics, seconds))
            i += campaign.tasksPerPoint
        }
        return merged
    }
}

private struct SharedState: Sendable {
    var next = 0
    var results: [(EnsembleStatistics, Double)?]
    var progress: ProgressReporter
    var failure: TaskError?
}
