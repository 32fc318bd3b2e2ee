import ArgumentParser
import Foundation
import MPI
import Sweep

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a campaign: sample networks over a grid and write statistics beside theory.",
        discussion: """
        CONFIG is a TOML campaign file (see examples/quickstart.toml):

          name = "quickstart"
          seed = 1
          samples = 32            # networks per grid point
          block = 8               # networks per task; fixes the reduction order
          precision = "float64"   # or "float32"
          [grid]                  # each axis: a value, a list, or { from, to, steps }
          width = [512]
          depth = [20]
          sigma_w = { from = 0.5, to = 3.0, steps = 6 }
          sigma_b = [0.3]
          activation = ["tanh", "relu"]
          [network]
          init = "gaussian"       # or "orthogonal", or a list of both
          [inputs]
          kind = "gram"           # "gram" (exact q0, c0) | "gaussian" | "file" (path = "x.npy")
          count = 4
          q0 = 1.0
          c0 = 0.5
          [observe]
          forward = ["q", "c", "gram"]

        Writes OUT/points.csv (theory scalars per grid point), OUT/layers.csv (per layer:
        mean, stderr, n, theory) and OUT/manifest.json. Results are a pure function of the
        file: the same seed gives byte-identical tables for any --threads.
        A bad file exits with status 2 and writes nothing.

        Example:
          signalprop sweep examples/quickstart.toml --out out/quickstart
          python3 scripts/plot.py out/quickstart
        """
    )

    @Argument(help: "The campaign file (TOML).")
    var config: String

    @Option(name: .long, help: ArgumentHelp("The output folder (created).", valueName: "dir"))
    var out: String

    @Flag(help: "Overwrite the output folder if it exists.")
    var force = false

    @Option(help: ArgumentHelp("Worker threads (default: all cores), one BLAS thread each.", valueName: "n"))
    var threads: Int?

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1, got \(threads)") }
    }

    func run() throws {
        let campaign = try Campaign(contentsOf: config)
        let world = try MPIRuntime.world()
        guard world.size == 1 else {
            throw CommandFailure(message: "this build runs a sweep on one rank; launched with \(world.size) ranks. "
                                 + "Run it without mpirun (it uses all local cores).", status: usageExitCode)
        }
        let options = SweepOptions(outputDirectory: out, force: force,
                                   threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
                                   showProgress: !quiet, configPath: config)
        let summary: SweepSummary
        do {
            summary = try SweepRun(campaign: campaign, options: options).run()
        } catch let error as OutputError {
            throw CommandFailure(message: error.description, status: usageExitCode)
        } catch {
            throw CommandFailure(message: "\(error)", status: 1)
        }
        for note in summary.diverged { FileHandle.standardError.write(Data("warning: \(note)\n".utf8)) }
        print("\(campaign.name): \(summary.points) grid points × \(campaign.samples) networks in "
              + "\(String(format: "%.2f", summary.seconds)) s → \(out)/{points.csv,layers.csv,manifest.json}")
    }
}
