import Testing
@testable import Sweep

/// The worker-liveness limit: max(floor, 10 × the expected time from measured task times).
@Suite struct StallRuleTests {
    /// Two points, widths 32 and 64 (dense cost ∝ width² · depth), depth 4, 4 networks per task.
    private func catalog() throws -> TaskCatalog {
        TaskCatalog(campaign: try Campaign(toml: """
            name = "stall"
            seed = 1
            samples = 8
            block = 4
            [grid]
            width = [32, 64]
            depth = [4]
            sigma_w = [1.0]
            sigma_b = [0.0]
            activation = ["tanh"]
            [inputs]
            kind = "gram"
            count = 2
            q0 = 1.0
            c0 = 0.5
            """))
    }

    @Test func noLimitBeforeAnyTaskOfItsKindIsMeasured() throws {
        let c = try catalog()
        var rule = StallRule(catalog: c, floor: 1)
        #expect(rule.limit(task: 0) == nil && rule.limit(task: c.theoryTask(point: 0)) == nil)
        rule.record(task: c.theoryTask(point: 0), seconds: 0.4)
        #expect(rule.limit(task: 0) == nil, "a theory time says nothing of a sampling task")
        #expect(rule.limit(task: c.theoryTask(point: 1)) == 4, "10 × 0.1 s per layer × depth 4")
    }

    @Test func aMeasuredPointGivesTenTimesItsSlowestTaskPerNetwork() throws {
        let c = try catalog()
        var rule = StallRule(catalog: c, floor: 1)
        let (first, second) = (0, 1)   // point 0's two tasks of 4 networks
        #expect(c.point(ofTask: first) == 0 && c.point(ofTask: second) == 0)
        rule.record(task: first, seconds: 0.2)
        rule.record(task: second, seconds: 0.6)
        #expect(rule.expected(task: first) == 0.6)
        #expect(rule.limit(task: first) == 6)
        // Point 1 (width 64) not measured: point 0's rate per unit of dense cost × 4 (width² ratio).
        #expect(abs(rule.expected(task: c.count - 1)! - 2.4) < 1e-12)
    }

    @Test func theFloorHoldsForShortTasks() throws {
        let c = try catalog()
        var rule = StallRule(catalog: c, floor: 60)
        rule.record(task: 0, seconds: 0.01)
        #expect(rule.limit(task: 0) == 60)
    }
}
