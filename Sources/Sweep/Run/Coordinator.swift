import Dispatch
import Ensembles
import Foundation
import MPI
import Synchronization

/// Message tags between the coordinator (rank 0) and the workers.
enum MessageTag: Int {
    /// Coordinator → worker: a task index (Int64), or −1 to stop.
    case task = 1
    /// Worker → coordinator: task (Int64), busy seconds (Double), the encoded partial or theory.
    case result = 2
    /// Worker → coordinator: task (Int64), the error message (UTF-8).
    case failure = 3
}

/// Merges each grid point's partials in task order, whatever order they arrive in, so
/// the result is bit-identical for any number of ranks or threads.
struct OrderedMerger {
    private var next: [Int]
    private var waiting: [[Int: EnsembleStatistics]]
    private(set) var merged: [EnsembleStatistics]
    let tasksPerPoint: Int

    init(catalog: TaskCatalog) {
        tasksPerPoint = catalog.campaign.tasksPerPoint
        next = Array(repeating: 0, count: catalog.points.count)
        waiting = Array(repeating: [:], count: catalog.points.count)
        merged = catalog.points.indices.map { catalog.emptyStatistics(point: $0) }
    }

    mutating func add(task: Int, _ partial: EnsembleStatistics) {
        let point = task / tasksPerPoint
        waiting[point][task % tasksPerPoint] = partial
        while let ready = waiting[point].removeValue(forKey: next[point]) {
            merged[point].merge(ready)
            next[point] += 1
        }
    }

    var complete: Bool { next.allSatisfy { $0 == tasksPerPoint } }
}

/// Where the time went, for the manifest and the closing utilisation lines.
struct RunTimings: Sendable {
    var wallSeconds: Double = 0
    /// Seconds of each sampling task run.
    var taskSeconds: [Double] = []
    /// Seconds of each point's theory, by point (0 where it came from the journal).
    var theorySeconds: [Double] = []
    var theoriesRun = 0
    /// Per rank (rank 0: summed over its compute threads): seconds sampling, seconds on theory.
    var sampling: [Double] = []
    var theory: [Double] = []
    var threadsPerRank: [Int] = []
    var tasksRun = 0
    var tasksFromJournal = 0
    var theoriesFromJournal = 0
    /// Worker ranks taken as stalled (``StallRule``), in the order they were.
    var stalled: [StalledRank] = []

    /// Busy seconds per rank.
    var busy: [Double] { zip(sampling, theory).map(+) }

    var summary: [String: Any] {
        let s = taskSeconds.sorted()
        func q(_ f: Double) -> Double { s.isEmpty ? 0 : s[min(s.count - 1, Int(f * Double(s.count - 1)))] }
        let busy = self.busy
        return ["tasks_run": tasksRun, "tasks_from_journal": tasksFromJournal, "task_seconds_min": q(0),
                "task_seconds_median": q(0.5), "task_seconds_max": q(1), "task_seconds_total": s.reduce(0, +),
                "theories_run": theoriesRun, "theories_from_journal": theoriesFromJournal,
                "theory_seconds_total": theorySeconds.reduce(0, +), "theory_seconds": theorySeconds,
                "rank_busy_seconds": busy, "rank_sampling_seconds": sampling, "rank_theory_seconds": theory,
                "rank_utilisation": busy.indices.map { r in
                    wallSeconds > 0 ? busy[r] / (wallSeconds * Double(max(threadsPerRank[r], 1))) : 0 },
                "stalled_ranks": stalled.map(\.rank)]
    }
}

/// A worker rank that stopped answering: silent for `silentSeconds`, past its task's limit.
struct StalledRank: Sendable, CustomStringConvertible {
    let rank: Int
    let silentSeconds: Double
    let limitSeconds: Double
    /// Its tasks in flight, handed to other ranks.
    let tasks: [Int]

    var description: String { description(host: nil) }

    /// The description, naming the rank's host where known.
    func description(host: String?) -> String {
        "rank \(rank)\(host.map { " (host \($0))" } ?? "") stopped answering: no result for \(String(format: "%.1f", silentSeconds)) s, past the "
            + "\(String(format: "%.1f", limitSeconds)) s its task allows (\(Int(StallRule.factor))× its expected time from "
            + "the measured task times, at least the stall timeout); its \(tasks.count) task\(tasks.count == 1 ? "" : "s") in "
            + "flight went to other ranks"
    }
}

/// Rank 0's scheduler: hands tasks — every point's theory first, then the sampling tasks —
/// to workers dynamically, keeps two tasks in flight per remote worker (sixteen for tasks
/// under a millisecond: ``inFlightDepth(taskSeconds:)``; so none idles while a result
/// travels), runs tasks on local threads too, journals each result as it arrives
/// and merges the partials in task order. With no local threads (`--threads 0`) rank 0 only
/// coordinates.
///
/// A worker silent past its task's limit (``StallRule``) is taken as stalled: it gets no more
/// tasks, its tasks in flight go to the other ranks, and the run finishes without it (the
/// caller then ends the job naming it). Idle workers are told to stop only at the end, so
/// that they can take tasks handed back. A result that arrives twice (from a stalled rank
/// that woke up) is used once; results do not depend on the rank, so either copy is the same.
///
/// Only the calling (main) thread calls MPI (`MPI_THREAD_FUNNELED`); local compute
/// threads take tasks from the shared dispenser and post results to an inbox the main
/// thread drains between non-blocking probes, sleeping with a capped exponential backoff
/// (10 µs → 1 ms) when nothing happens.
struct Coordinator {
    let catalog: TaskCatalog
    let world: Communicator
    let localThreads: Int
    let journal: Journal
    let showProgress: Bool
    /// The shortest time a worker may stay silent before it is taken as stalled (``StallRule/floor``).
    let stallTimeout: Double

    private final class Shared: Sendable {
        let queue: [Int]
        let cursor = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let inbox = Mutex<[LocalEvent]>([])
        /// Tasks handed back by stalled ranks, taken before the queue's rest.
        let requeued = Mutex<[Int]>([])
        init(queue: [Int]) { self.queue = queue }

        func take() -> Int? {
            guard !stop.load(ordering: .relaxed) else { return nil }
            if let task = requeued.withLock({ $0.popLast() }) { return task }
            let i = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
            return i < queue.count ? queue[i] : nil
        }
    }

    /// Tasks kept in flight per remote worker: two (one running, one queued behind it), and
    /// sixteen for tasks under a millisecond, whose results arrive faster than a sleeping
    /// coordinator polls (Linux rounds short sleeps up by its 50 µs timer slack).
    static func inFlightDepth(taskSeconds: Double) -> Int { taskSeconds < 1e-3 ? 16 : 2 }

    private enum LocalEvent: Sendable {
        case result(task: Int, TaskResult, seconds: Double)
        case failure(TaskError)
    }

    /// Runs every task not recovered from the journal and returns the merged statistics per
    /// point and each point's mean-field theory.
    func run(recovered: [Int: EnsembleStatistics], recoveredTheories: [Int: PointTheory], timings: inout RunTimings)
        throws -> (statistics: [EnsembleStatistics], theories: [PointTheory]) {
        let start = ContinuousClock.now
        var merger = OrderedMerger(catalog: catalog)
        for task in recovered.keys.sorted() { merger.add(task: task, recovered[task]!) }
        var theories = (0..<catalog.points.count).map { recoveredTheories[$0] }
        let todo = theories.indices.filter { theories[$0] == nil }.map(catalog.theoryTask(point:))
            + (0..<catalog.count).filter { recovered[$0] == nil }
        timings.tasksFromJournal = recovered.count
        timings.theoriesFromJournal = recoveredTheories.count
        timings.theorySeconds = Array(repeating: 0, count: catalog.points.count)
        timings.sampling = Array(repeating: 0, count: world.size)
        timings.theory = Array(repeating: 0, count: world.size)
        timings.threadsPerRank = [localThreads] + Array(repeating: 1, count: max(0, world.size - 1))
        let shared = Shared(queue: todo)
        let samplingTasks = todo.filter { catalog.theoryPoint(ofTask: $0) == nil }
        var progress = ProgressReporter(totalTasks: samplingTasks.count,
                                        totalNetworks: samplingTasks.reduce(0) { $0 + catalog.samples(ofTask: $1).count },
                                        enabled: showProgress)

        let running = DispatchGroup()
        defer {
            // On every way out — done, a failure anywhere, an MPI or journal error — the local
            // threads stop after their current task and are joined before we return.
            shared.stop.store(true, ordering: .relaxed)
            running.wait()
        }
        for _ in 0..<localThreads {
            let catalog = self.catalog
            running.enter()
            Thread.detachNewThread {
                defer { running.leave() }
                // Until the run ends: a stalled rank's tasks may come back after the queue ran out.
                while !shared.stop.load(ordering: .relaxed) {
                    guard let task = shared.take() else { usleep(1000); continue }
                    let clock = ContinuousClock.now
                    do throws(TaskError) {
                        let result = try catalog.result(of: task)
                        let seconds = ProgressReporter.seconds(ContinuousClock.now - clock)
                        shared.inbox.withLock { $0.append(.result(task: task, result, seconds: seconds)) }
                    } catch {
                        shared.stop.store(true, ordering: .relaxed)
                        shared.inbox.withLock { $0.append(.failure(error)) }
                    }
                }
            }
        }

        let ranks = 1..<max(1, world.size)
        // Each worker's tasks in flight, in the order sent (it runs them in that order), and
        // since when it has been on the first of them.
        var pending = [[Int]](repeating: [], count: world.size)
        var since = [ContinuousClock.Instant](repeating: start, count: world.size)
        var isStalled = [Bool](repeating: false, count: world.size)
        var rule = StallRule(catalog: catalog, floor: stallTimeout)
        var remaining = Set(todo)
        // Task messages are sent without blocking (a worker may itself be waiting for its
        // previous result to be taken); each keeps its buffer until MPI has delivered it.
        var sends: [(rank: Int, send: PendingSend)] = []
        /// Sends `rank` its next task, if any is left; whether one went.
        func dispatch(to rank: Int) throws -> Bool {
            guard !isStalled[rank], let task = shared.take() else { return false }
            var w = BinaryWriter()
            w.write(Int64(task))
            if pending[rank].isEmpty { since[rank] = .now }
            pending[rank].append(task)
            sends.append((rank, try world.sendAsync(w.bytes, to: rank, tag: MessageTag.task.rawValue)))
            return true
        }
        /// Tops `rank` up to `depth` tasks in flight.
        func refill(_ rank: Int, depth: Int) throws {
            while pending[rank].count < depth, try dispatch(to: rank) {}
        }
        for rank in ranks { try refill(rank, depth: 2) }

        /// Journals a result (`payload`: its encoded form) and merges it; a second copy is dropped.
        func finished(task: Int, _ result: TaskResult, payload: [UInt8], seconds: Double, rank: Int) throws {
            guard remaining.remove(task) != nil else { return }
            rule.record(task: task, seconds: seconds)
            try journal.append(task: task, payload: payload)
            switch result {
            case .theory(let theory):
                let point = catalog.theoryPoint(ofTask: task)!
                theories[point] = theory
                timings.theorySeconds[point] = seconds
                timings.theoriesRun += 1
                timings.theory[rank] += seconds
            case .partial(let partial):
                merger.add(task: task, partial)
                timings.taskSeconds.append(seconds)
                timings.sampling[rank] += seconds
                progress.taskFinished(networks: catalog.samples(ofTask: task).count)
            }
        }

        /// Takes every worker silent past its first task's limit as stalled and hands its
        /// tasks to the idle workers and the local threads.
        func handBackStalled() throws {
            let now = ContinuousClock.now
            for rank in ranks where !isStalled[rank] {
                guard let task = pending[rank].first, let limit = rule.limit(task: task) else { continue }
                let silent = ProgressReporter.seconds(now - since[rank])
                guard silent > limit else { continue }
                isStalled[rank] = true
                let tasks = pending[rank].filter { remaining.contains($0) }
                pending[rank] = []
                shared.requeued.withLock { $0 += tasks.reversed() }
                let stalled = StalledRank(rank: rank, silentSeconds: silent, limitSeconds: limit, tasks: tasks)
                timings.stalled.append(stalled)
                FileHandle.standardError.write(Data("warning: \(stalled)\n".utf8))
                guard localThreads > 0 || ranks.contains(where: { !isStalled[$0] }) else {
                    throw CoordinatorError(message: "every worker rank stopped answering and rank 0 computes nothing "
                                           + "(--threads 0): \(timings.stalled.map(\.description).joined(separator: "; "))")
                }
                for idle in ranks where !isStalled[idle] && pending[idle].isEmpty { try refill(idle, depth: 2) }
            }
        }

        var backoff = 10e-6
        var lastStallCheck = start
        while !remaining.isEmpty {
            var progressed = false
            for event in shared.inbox.withLock({ box in defer { box.removeAll() }; return box }) {
                progressed = true
                switch event {
                case .result(let task, let result, let seconds):
                    try finished(task: task, result, payload: result.encoded, seconds: seconds, rank: 0)
                case .failure(let error):
                    throw error
                }
            }
            if world.size > 1 {
                while let message = try world.poll() {
                    progressed = true
                    var r = BinaryReader(try world.receive(message))
                    let task = Int(try r.read(Int64.self))
                    let rank = message.source
                    switch MessageTag(rawValue: message.tag) {
                    case .result:
                        let seconds = try r.read(Double.self)
                        if let i = pending[rank].firstIndex(of: task) { pending[rank].remove(at: i) }
                        since[rank] = .now
                        let payload = try r.readBytes(r.remaining)
                        guard let result = catalog.decode(task: task, payload: payload) else {
                            throw CoordinatorError(message: "the result of task \(task) from rank \(rank) does not decode")
                        }
                        try finished(task: task, result, payload: payload, seconds: seconds, rank: rank)
                        // Refill to the depth the task's length asks for: a worker whose tasks
                        // take less than the coordinator's polling (~0.1 ms, sleeps included)
                        // would otherwise idle between them.
                        try refill(rank, depth: Self.inFlightDepth(taskSeconds: seconds))
                    case .failure:
                        throw CoordinatorError(message: String(decoding: try r.readBytes(r.remaining), as: UTF8.self)
                                               + " (on rank \(rank))")
                    default:
                        throw CoordinatorError(message: "unexpected message tag \(message.tag) from rank \(rank)")
                    }
                }
                if ContinuousClock.now - lastStallCheck > .milliseconds(100) {
                    lastStallCheck = .now
                    try handBackStalled()
                }
            }
            // A stalled rank's sends may never complete: they stay listed, keeping their buffers.
            sends = try sends.filter { try isStalled[$0.rank] || !$0.send.isComplete() }
            if progressed {
                backoff = 10e-6
            } else {
                usleep(UInt32(backoff * 1e6))
                backoff = min(backoff * 2, 1e-3)
            }
        }
        // Every live worker is idle now: tell it to stop, and make sure every message to it went
        // out. A stalled rank gets nothing more; the caller ends the job.
        for rank in ranks where !isStalled[rank] {
            var w = BinaryWriter()
            w.write(Int64(-1))
            sends.append((rank, try world.sendAsync(w.bytes, to: rank, tag: MessageTag.task.rawValue)))
        }
        for (rank, send) in sends where !isStalled[rank] { try send.wait() }
        precondition(merger.complete, "all tasks finished but a point's merge is incomplete")
        timings.tasksRun = timings.taskSeconds.count
        timings.wallSeconds = ProgressReporter.seconds(ContinuousClock.now - start)
        return (merger.merged, theories.map { $0! })
    }
}

/// A failure reported by a remote worker or the protocol itself.
struct CoordinatorError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A rank other than 0: receive a task, run it, send its result (a partial or a point's
/// theory) back; stop on −1.
/// On a failing task it reports the error and waits; the coordinator then aborts the job.
///
/// Results go out with `MPI_Isend` and the worker goes straight on to its next task
/// (the coordinator keeps two in flight), never waiting for one to be taken before the
/// stop: a blocking `MPI_Send` waited, even for a result under the eager limit, until the
/// coordinator next polled — 0.4 ms per 2 ms task of the 84-point grid on one worker, 13 %
/// of its time — and waiting for the previous send before the next still cost each of two
/// workers sharing two cores with the coordinator 3–9 % of the wall.
enum Worker {
    static func serve(catalog: TaskCatalog, world: Communicator) throws {
        var sending: [PendingSend] = []
        while true {
            let message = try world.wait(source: 0, tag: MessageTag.task.rawValue)
            var r = BinaryReader(try world.receive(message))
            let task = Int(try r.read(Int64.self))
            guard task >= 0 else {
                for send in sending { try send.wait() }
                return
            }
            let clock = ContinuousClock.now
            var w = BinaryWriter()
            w.write(Int64(task))
            let tag: MessageTag
            do throws(TaskError) {
                let payload = try catalog.result(of: task).encoded
                w.write(ProgressReporter.seconds(ContinuousClock.now - clock))
                w.write(payload)
                tag = .result
            } catch {
                w.write(Array(error.description.utf8))
                tag = .failure
            }
            sending = try sending.filter { try !$0.isComplete() }
            sending.append(try world.sendAsync(w.bytes, to: 0, tag: tag.rawValue))
        }
    }
}
