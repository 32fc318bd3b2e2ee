import Testing
@testable import Sweep

/// The coordinator simulation against schedules whose wall time is known in closed form.
@Suite struct CoordinatorModelTests {
    /// One thread on one rank runs the tasks back to back: the wall is their sum, plus at
    /// most one polling interval (1 ms) before the last result is seen.
    @Test func oneThreadRunsTheTasksBackToBack() {
        let tasks = (1...20).map { Double($0) * 0.01 }
        let s = CoordinatorModel(taskSeconds: tasks, resultSeconds: 0).schedule(ranks: 1, rank0Threads: 1)
        let total = tasks.reduce(0, +)
        #expect(s.wallSeconds >= total && s.wallSeconds <= total + 1e-3)
        #expect(s.computeThreads == 1)
    }

    /// k·W equal tasks on W remote workers with a negligible coordinator: k task lengths, plus
    /// message latencies and one polling interval; efficiency near 1.
    @Test(arguments: [2, 8, 64])
    func equalTasksFillEveryWorker(workers: Int) {
        let k = 5, t = 0.1
        let model = CoordinatorModel(taskSeconds: Array(repeating: t, count: k * workers), resultSeconds: 1e-7, latency: 1e-6)
        let s = model.schedule(ranks: workers + 1, rank0Threads: 0)
        #expect(s.computeThreads == workers)
        #expect(s.wallSeconds >= Double(k) * t && s.wallSeconds <= Double(k) * t + 2e-3)
        #expect(s.efficiency > 0.99)
    }

    /// When handling a result costs as long as a task, the coordinator is the bottleneck:
    /// W workers finish no faster than one result per `resultSeconds`, so the wall is about
    /// n · resultSeconds and the efficiency about 1/W.
    @Test func aSlowCoordinatorBoundsTheWall() {
        let n = 400, workers = 10, c = 1e-3
        let model = CoordinatorModel(taskSeconds: Array(repeating: c, count: n), resultSeconds: c, latency: 0)
        let s = model.schedule(ranks: workers + 1, rank0Threads: 0)
        #expect(s.wallSeconds >= Double(n) * c && s.wallSeconds <= Double(n) * c * 1.05)
        #expect(abs(s.efficiency - 1 / Double(workers)) < 0.01)
        #expect(abs(s.coordinatorSeconds - Double(n) * c) < 1e-9)
    }

    /// Two tasks in flight per remote rank: a worker never waits for the coordinator while
    /// its next task is already queued, so a latency far below a task costs nothing.
    @Test func twoTasksInFlightHideTheLatency() {
        let tasks = Array(repeating: 0.05, count: 40)
        let near = CoordinatorModel(taskSeconds: tasks, resultSeconds: 1e-6, latency: 1e-6).schedule(ranks: 5, rank0Threads: 0)
        let far = CoordinatorModel(taskSeconds: tasks, resultSeconds: 1e-6, latency: 5e-3).schedule(ranks: 5, rank0Threads: 0)
        // With two in flight only the first delivery and the last result see the latency.
        #expect(far.wallSeconds - near.wallSeconds < 3 * 5e-3)
    }

    /// Rank 0's thread shares its core with the coordinator: it runs slower by the
    /// coordinator's share, so a busy coordinator lengthens rank 0's tasks.
    @Test func rankZeroSharesItsCore() {
        let tasks = Array(repeating: 0.01, count: 200)
        let idle = CoordinatorModel(taskSeconds: tasks, resultSeconds: 0).schedule(ranks: 1, rank0Threads: 1)
        let busy = CoordinatorModel(taskSeconds: tasks, resultSeconds: 2e-3).schedule(ranks: 1, rank0Threads: 1)
        #expect(busy.wallSeconds > idle.wallSeconds * 1.15)
    }

    /// A worker sends each result without waiting for it to be taken, so with millisecond
    /// tasks and the coordinator's back-off it stays busy (a worker held in its send until
    /// the next poll would take ≥ 5 % longer); a coordinator slower than the worker sets the
    /// wall by itself, one result after another.
    @Test func workersDoNotWaitForTheirResultsToBeTaken() {
        let tasks = Array(repeating: 1e-3, count: 200)
        let fast = CoordinatorModel(taskSeconds: tasks, resultSeconds: 1e-6).schedule(ranks: 2, rank0Threads: 0)
        #expect(fast.wallSeconds < 0.2 * 1.01 + 2e-3)
        let slow = CoordinatorModel(taskSeconds: tasks, resultSeconds: 3e-3).schedule(ranks: 2, rank0Threads: 0)
        #expect(abs(slow.wallSeconds - 200 * 3e-3) < 3e-3, "\(slow.wallSeconds)")
    }
}
