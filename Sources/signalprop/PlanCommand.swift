import ArgumentParser
import Foundation
import Sweep

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Before a run: grid size, tasks, memory per rank and estimated time for P ranks.",
        discussion: """
        Validates the campaign like `sweep` (exit status 2 on a bad file), then times a
        short calibration on this machine (a 512-wide network, a 256³ Haar QR, three
        layers of each activation's theory) and scales it to the campaign's points.
        The estimate assumes one core per rank, as under mpirun with --bind-to core.

        Example:
          signalprop plan examples/quickstart.toml --ranks 2
        """
    )

    @Argument(help: "The campaign file (TOML).")
    var config: String

    @Option(help: ArgumentHelp("Ranks to plan for (rank 0 also computes).", valueName: "P"))
    var ranks: Int = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be ≥ 1, got \(ranks)") }
    }

    func run() throws {
        let campaign = try Campaign(contentsOf: config)
        let plan = try CampaignPlan(campaign: campaign, ranks: ranks)
        if json {
            print(try JSON.text([
                "grid_points": plan.points, "implicit_points": plan.implicitPoints, "dense_points": plan.densePoints, "tasks": plan.tasks, "networks": plan.networks, "ranks": plan.ranks,
                "memory_per_rank_bytes": plan.memoryPerRank, "sampling_seconds": plan.samplingSeconds,
                "theory_seconds": plan.theorySeconds, "estimated_wall_seconds": plan.wallSeconds,
            ]))
            return
        }
        print("\(campaign.name): \(plan.points) grid points × \(campaign.samples) networks = \(plan.networks) networks "
              + "in \(plan.tasks) tasks of ≤ \(campaign.block)")
        print("backend          \(plan.implicitPoints) point\(plan.implicitPoints == 1 ? "" : "s") implicit, "
              + "\(plan.densePoints) dense (network.backend = \(campaign.backendChoice.rawValue))")
        print("memory per rank  ≈ \(MemoryEstimate.format(plan.memoryPerRank))")
        print("compute          ≈ \(String(format: "%.1f", plan.samplingSeconds)) s sampling + "
              + "\(String(format: "%.1f", plan.theorySeconds)) s theory (one core)")
        print("wall on \(ranks) rank\(ranks == 1 ? "" : "s")   ≈ \(String(format: "%.1f", plan.wallSeconds)) s "
              + "(\(plan.workers) compute thread\(plan.workers == 1 ? "" : "s"))")
    }
}
