/// A discrete-event simulation of ``Coordinator``'s schedule, to predict a campaign's wall
/// time and parallel efficiency on P ranks from per-task costs (``CampaignPlan``).
///
/// What it models, as the coordinator does it:
/// - one queue of tasks in the coordinator's order (every point's theory, then the sampling
///   tasks), handed out dynamically;
/// - each remote rank (1 … P−1) keeps two tasks in flight (sixteen for tasks under a
///   millisecond, ``Coordinator/inFlightDepth(taskSeconds:)``): new tasks are sent when a
///   result has been handled, and reaches the rank a message latency later; a rank runs its tasks
///   one after another and sends each result without waiting for it to be received;
/// - rank 0's compute threads take tasks from the same queue without messages, and share
///   rank 0's core with the coordinator's own work;
/// - the coordinator handles results one at a time, in arrival order, each costing
///   `resultSeconds` of its thread (decode, journal append, merge), and only when it polls:
///   after its last progress it sleeps 10 µs, then 20, 40, … up to 1 ms between polls.
///
/// Times are seconds from the start of the schedule; start-up (MPI, campaign parsing) and
/// writing the tables are not part of it.
public struct CoordinatorModel: Sendable {
    /// Each task's compute seconds on one core, in the order the coordinator hands them out.
    public var taskSeconds: [Double]
    /// Coordinator seconds per result handled.
    public var resultSeconds: Double
    /// One-way message latency between ranks, seconds.
    public var latency: Double

    public init(taskSeconds: [Double], resultSeconds: Double, latency: Double = 5e-6) {
        self.taskSeconds = taskSeconds
        self.resultSeconds = resultSeconds
        self.latency = latency
    }

    /// The simulated schedule.
    public struct Schedule: Sendable {
        /// Seconds until the last result is handled.
        public let wallSeconds: Double
        /// Compute threads: rank 0's plus one per other rank.
        public let computeThreads: Int
        /// Σ taskSeconds / (computeThreads · wall).
        public let efficiency: Double
        /// Seconds the coordinator spent handling results.
        public let coordinatorSeconds: Double
    }

    /// The schedule on `ranks` ranks with `rank0Threads` compute threads on rank 0.
    ///
    /// Rank 0's threads run at the speed left by the coordinator: the simulation is run
    /// twice, the second time with rank 0's threads slowed by the coordinator's share of
    /// the first run's wall.
    public func schedule(ranks: Int, rank0Threads: Int) -> Schedule {
        precondition(ranks >= 1 && rank0Threads >= 0 && (ranks > 1 || rank0Threads > 0),
                     "a schedule needs at least one compute thread")
        let first = simulate(ranks: ranks, rank0Threads: rank0Threads, rank0Speed: 1)
        let share = rank0Threads > 0 && first.wallSeconds > 0
            ? min(0.9, first.coordinatorSeconds / first.wallSeconds / Double(rank0Threads)) : 0
        return simulate(ranks: ranks, rank0Threads: rank0Threads, rank0Speed: 1 - share)
    }

    private enum Event {
        /// A worker finished its current task.
        case finished(worker: Int)
        /// A task message reached remote worker `worker`.
        case delivered(worker: Int, task: Int)
    }

    /// Workers 0 ..< rank0Threads are rank 0's threads; the rest are ranks 1 …, one each.
    private func simulate(ranks: Int, rank0Threads: Int, rank0Speed: Double) -> Schedule {
        let remote = ranks - 1, workers = rank0Threads + remote
        var next = 0                                   // next task in the queue
        var queue = EventQueue<Event>()
        var running = [Int?](repeating: nil, count: workers)
        var waiting = [[Int]](repeating: [], count: workers)   // delivered, not yet started
        var arrivals: [(time: Double, worker: Int, task: Int)] = []   // results waiting for the coordinator
        var inFlight = [Int](repeating: 0, count: workers)
        var coordinatorFree = 0.0, lastProgress = 0.0, coordinatorBusy = 0.0
        var handled = 0

        func speed(_ w: Int) -> Double { w < rank0Threads ? rank0Speed : 1 }
        func start(_ w: Int, _ task: Int, at t: Double) {
            running[w] = task
            queue.push(t + taskSeconds[task] / speed(w), .finished(worker: w))
        }
        /// Remote worker w sends the result of `task` at t and starts its next delivered task.
        func post(_ w: Int, _ task: Int, at t: Double) {
            let arrival = t + latency
            arrivals.insert((arrival, w, task), at: arrivals.firstIndex { $0.time > arrival } ?? arrivals.count)
            if !waiting[w].isEmpty { start(w, waiting[w].removeFirst(), at: t) }
        }
        func send(to w: Int, at t: Double) {
            guard next < taskSeconds.count else { return }
            inFlight[w] += 1
            queue.push(t + latency, .delivered(worker: w, task: next))
            next += 1
        }
        // The coordinator's first sends: two tasks to each remote rank; rank 0's threads
        // take their first tasks at once.
        for w in 0..<workers {
            if w < rank0Threads {
                if next < taskSeconds.count { start(w, next, at: 0); next += 1 }
            } else {
                send(to: w, at: 0)
                send(to: w, at: 0)
            }
        }
        /// The first poll at or after `t`, given the coordinator's last progress: it polls
        /// again at once, then after sleeps of 10, 20, 40, … µs, capped at 1 ms.
        func poll(after t: Double) -> Double {
            var time = lastProgress, sleep = 10e-6
            while time < t && sleep < 1e-3 {
                time += sleep
                sleep *= 2
            }
            return time >= t ? time : time + (((t - time) / 1e-3).rounded(.up)) * 1e-3
        }

        while true {
            let nextEvent = queue.nextTime ?? .infinity
            let action = arrivals.first.map { max(coordinatorFree, poll(after: $0.time)) } ?? .infinity
            if action == .infinity && nextEvent == .infinity { break }
            if action <= nextEvent {
                // One sweep of the inbox: every result arrived by this poll, one after another.
                var t = action
                while let r = arrivals.first, r.time <= action {
                    arrivals.removeFirst()
                    t += resultSeconds
                    coordinatorBusy += resultSeconds
                    handled += 1
                    if r.worker >= rank0Threads {
                        inFlight[r.worker] -= 1
                        let depth = Coordinator.inFlightDepth(taskSeconds: taskSeconds[r.task] / speed(r.worker))
                        repeat { send(to: r.worker, at: t) } while next < taskSeconds.count && inFlight[r.worker] < depth
                    }
                }
                coordinatorFree = t
                lastProgress = t
                continue
            }
            guard let (t, event) = queue.pop() else { break }
            switch event {
            case .finished(let w):
                let task = running[w]!
                running[w] = nil
                if w < rank0Threads {
                    arrivals.insert((t, w, task), at: arrivals.firstIndex { $0.time > t } ?? arrivals.count)
                    if next < taskSeconds.count { start(w, next, at: t); next += 1 }
                } else {
                    post(w, task, at: t)
                }
            case .delivered(let w, let task):
                if running[w] == nil { start(w, task, at: t) } else { waiting[w].append(task) }
            }
        }
        precondition(handled == taskSeconds.count, "the simulation lost a task")
        let work = taskSeconds.reduce(0, +)
        let wall = coordinatorFree
        return Schedule(wallSeconds: wall, computeThreads: workers,
                        efficiency: wall > 0 ? work / (Double(workers) * wall) : 1, coordinatorSeconds: coordinatorBusy)
    }
}

/// A binary min-heap of timed events; ties leave in insertion order.
private struct EventQueue<Event> {
    private var heap: [(time: Double, order: Int, event: Event)] = []
    private var counter = 0

    var nextTime: Double? { heap.first?.time }

    mutating func push(_ time: Double, _ event: Event) {
        heap.append((time, counter, event))
        counter += 1
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (Double, Event)? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && Self.less(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.less(heap[r], heap[m]) { m = r }
                guard m != i else { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return (top.time, top.event)
    }

    private static func less(_ a: (time: Double, order: Int, event: Event), _ b: (time: Double, order: Int, event: Event)) -> Bool {
        a.time < b.time || (a.time == b.time && a.order < b.order)
    }
}
