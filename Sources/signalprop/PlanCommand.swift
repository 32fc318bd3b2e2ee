import ArgumentParser
import Foundation
import Sweep

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Before a run: grid size, tasks, memory per rank, and wall time and efficiency on P ranks.",
        discussion: """
        Validates the campaign like `sweep` (exit status 2 on a bad file), then times on
        this machine what the campaign's tasks cost: real networks of each kind of point
        (width, activation, weights, backend, batch, observables) at depth 1 and 2, the
        whole theory of one point per activation, and the coordinator's handling of one
        result (decode, merge, journal). A discrete-event simulation of the coordinator's
        schedule (theory tasks first, two tasks in flight per remote rank, rank 0's threads
        sharing its core with the coordinator, the coordinator's polling back-off) turns
        these costs into the wall time and the parallel efficiency
        Σ task seconds / (compute threads × wall). One core per rank, as under
        mpirun --bind-to core; start-up and writing the tables are not included.

        Examples:
          signalprop plan examples/quickstart.toml --ranks 2
          signalprop plan examples/bench-grid.toml --ranks 64 --repeat 100   # a 100× larger grid
        """
    )

    @Argument(help: "The campaign file (TOML).")
    var config: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Ranks to plan for.", valueName: "P"))
    var ranks: Int = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("Compute threads on rank 0, as `sweep --threads` (default: every core on a single rank, else 1).",
                               valueName: "T"))
    var threads: Int?

    @Option(help: ArgumentHelp("Plan for the grid repeated K times (a larger campaign of the same kind).", valueName: "K"))
    var `repeat`: Int = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be ≥ 1, got \(ranks)") }
        if let threads, threads < 0 { throw ValidationError("--threads must be ≥ 0, got \(threads)") }
        if threads == 0 && ranks == 1 {
            throw ValidationError("--threads 0 leaves nobody to compute on a single rank; plan for --ranks ≥ 2")
        }
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be ≥ 1, got \(`repeat`)") }
    }

    func run() throws {
        let campaign = try Campaign(contentsOf: config)
        let plan = try CampaignPlan(campaign: campaign, ranks: ranks, rank0Threads: threads, repeats: `repeat`)
        let schedule = plan.schedule
        if json {
            print(try JSON.text([
                "grid_points": plan.points, "implicit_points": plan.implicitPoints, "dense_points": plan.densePoints,
                "tasks": plan.tasks, "networks": plan.networks, "ranks": plan.ranks, "rank0_threads": plan.rank0Threads,
                "compute_threads": schedule.computeThreads, "memory_per_rank_bytes": plan.memoryPerRank,
                "sampling_seconds": plan.samplingSeconds, "theory_seconds": plan.theorySeconds,
                "coordinator_seconds_per_result": plan.resultSeconds, "coordinator_seconds": schedule.coordinatorSeconds,
                "estimated_wall_seconds": plan.wallSeconds, "parallel_efficiency": schedule.efficiency,
                "contention": plan.contention,
            ]))
            return
        }
        let f = { (x: Double) in String(format: "%.1f", x) }
        print("\(campaign.name)\(`repeat` > 1 ? " ×\(`repeat`)" : ""): \(plan.points) grid points × \(campaign.samples) "
              + "networks = \(plan.networks) networks in \(plan.tasks) tasks of ≤ \(campaign.block), and \(plan.points) theories")
        print("backend          \(plan.implicitPoints) point\(plan.implicitPoints == 1 ? "" : "s") implicit, "
              + "\(plan.densePoints) dense (network.backend = \(campaign.backendChoice.rawValue))")
        print("memory per rank  ≈ \(MemoryEstimate.format(plan.memoryPerRank))")
        print("compute          ≈ \(f(plan.samplingSeconds)) s sampling + \(f(plan.theorySeconds)) s theory (one core); "
              + "coordinator \(String(format: "%.0f", plan.resultSeconds * 1e6)) µs per result")
        if plan.contention > 1 {
            print("contention       × \(String(format: "%.2f", plan.contention)) per task: this machine's cores slow each "
                  + "other down when \(min(SweepRun.usableCores, schedule.computeThreads)) compute at once")
        }
        print("wall on \(ranks) rank\(ranks == 1 ? "" : "s")   ≈ \(f(plan.wallSeconds)) s with \(schedule.computeThreads) compute "
              + "thread\(schedule.computeThreads == 1 ? "" : "s") (parallel efficiency \(String(format: "%.1f", 100 * schedule.efficiency)) %)")
    }
}
