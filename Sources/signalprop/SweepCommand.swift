import ArgumentParser
import Ensembles
import Foundation
import MPI
import Sweep

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a campaign: sample networks over a grid and write statistics beside theory.",
        discussion: discussion
    )

    /// The help text; its `[observe]` part is the observable registry's.
    static var discussion: String {
        let width = ObservableRegistry.entries.map(\.key.count).max() ?? 0
        func line(_ e: ObservableEntry) -> String {
            "    " + e.key + String(repeating: " ", count: width - e.key.count + 2) + e.summary
        }
        let forward = ObservableRegistry.forward.map(line).joined(separator: "\n")
        let keyed = ObservableRegistry.entries.filter { $0.placement == .key }.map(line).joined(separator: "\n")
        let architectures = Architecture.names.dropFirst().joined(separator: " | ")
        return """
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
          architecture = "feedforward"  # or a list; also:
            \(architectures)
          backend = "auto"        # implicit (never forms W: widths 10^6-10^7) | dense
          # conv: kernel_size = 3 (odd); init "gaussian" | "delta-orthogonal";
          #   [inputs] kind = "gaussian" with shape = [C0, L] or [C0, H, W], or a
          #   "file" holding a (B, C0, L) or (B, C0, H, W) .npy; observes q, c, gram,
          #   spatial, eff_rank and sensitivity over positions × inputs, and jacobian;
          #   also "conv-residual", "conv-batchnorm", "conv-batchnorm-residual"
          [inputs]
          kind = "gram"           # "gram" (exact q0, c0) | "gaussian" | "circle" | "file" (path = "x.npy")
          count = 4
          q0 = 1.0
          c0 = 0.5
          [observe]
          forward = ["q", "c", "gram"]  # on the pre-activations h^l, any of:
          # per_network = true  also writes networks.csv (every network's values) and quantiles.csv
          # fluctuations = true fills layers.csv's theory_sd and theory_1n (finite-width theory)
          # fluctuations_order = 2 adds the next order in 1/N to theory_sd's variance
        \(forward)
          # keys of their own in [observe]:
        \(keyed)

        Every key is described in the README ("A campaign file"); examples/ holds one
        campaign per paper figure.

        Writes OUT/points.csv (theory scalars per grid point), OUT/layers.csv (per layer:
        mean, stderr, n, theory) and OUT/manifest.json. Results are a pure function of the
        file: the same seed gives byte-identical tables for any --threads.
        A bad file exits with status 2 and writes nothing.

        Under mpirun, rank 0 coordinates (and computes on one thread) and hands tasks to
        the other ranks as they ask; the tables are byte-identical for any number of ranks.
        Every finished task is journalled in OUT/journal/; after a kill or preemption,
        the same command with --resume finishes the campaign with byte-identical tables.
        A worker rank silent for longer than max(--stall-timeout, 10 × its task's expected
        time from the measured task times) is taken as stalled: its tasks go to the other
        ranks, the tables are finished, and the job ends with status 3 naming the rank.

        Example:
          signalprop sweep examples/quickstart.toml --out out/quickstart
          python3 scripts/plot.py out/quickstart
          mpirun -n 4 signalprop sweep campaign.toml --out out/big
          mpirun -n 4 signalprop sweep campaign.toml --out out/big --resume   # after a kill
        """
    }

    @Argument(help: "The campaign file (TOML).")
    var config: String

    @Option(name: .long, help: ArgumentHelp("The output folder (created).", valueName: "dir"))
    var out: String

    @Flag(help: "Overwrite the output folder if it exists (its journal too).")
    var force = false

    @Flag(help: "Continue a killed or preempted run from OUT/journal/; the campaign must be unchanged.")
    var resume = false

    @Option(parsing: .unconditional, help: ArgumentHelp("""
        Compute threads on rank 0, one BLAS thread each (default: all cores on a single rank; \
        1 beside the coordinator under mpirun; 0: rank 0 only coordinates; at most 1024).
        """, valueName: "n"))
    var threads: Int?

    /// Threads at most: each holds a network's buffers; more than the cores only queue.
    static let maxThreads = 1024

    @Option(name: .customLong("memory-limit"),
            help: ArgumentHelp("Per-rank memory limit, e.g. 8G (default: available memory / ranks on the node).",
                               valueName: "size"))
    var memoryLimit: String?

    @Option(name: .customLong("stall-timeout"), parsing: .unconditional,
            help: ArgumentHelp("""
                Seconds a worker rank may stay silent, at least, before it is taken as stalled and its tasks go                 to other ranks; the limit is 10× the task's expected time from the measured task times where                 that is longer (1 … 10⁶; default 60).
                """, valueName: "seconds"))
    var stallTimeout: Double = 60

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    func validate() throws {
        if let threads, threads < 0 || threads > Self.maxThreads {
            throw ValidationError("--threads must be between 0 and \(Self.maxThreads), got \(threads)")
        }
        if let memoryLimit, MemoryEstimate.parse(memoryLimit) == nil {
            throw ValidationError("--memory-limit '\(memoryLimit)' is not a size between 1 byte and 4 EiB; write e.g. 512M, 8G, 1.5T")
        }
        guard stallTimeout >= 1 && stallTimeout <= 1e6 else {
            throw ValidationError("--stall-timeout must be between 1 and 1000000 seconds, got \(stallTimeout)")
        }
        if force && resume { throw ValidationError("--force starts over and --resume continues; pass one of them") }
    }

    func run() throws {
        let world = try MPIRuntime.world()
        // Every rank reads the campaign; rank 0 speaks for all if any rank cannot.
        var campaign: Campaign?
        var problem: ConfigError?
        do { campaign = try Campaign(contentsOf: config) } catch { problem = error }
        var status: [Int32] = [problem == nil ? 0 : usageExitCode]
        try world.allReduce(&status, .max)
        if status[0] != 0 {
            if world.rank == 0 {
                throw problem ?? ConfigError(key: "", "another rank cannot read campaign file '\(config)'")
            }
            throw CommandFailure(message: "", status: status[0])
        }
        guard let campaign else { return }
        if threads == 0 && world.size == 1 {
            throw ValidationError("--threads 0 leaves nobody to compute on a single rank; run under mpirun with ≥ 2 ranks")
        }
        let options = SweepOptions(outputDirectory: out, force: force, resume: resume, threads: threads,
                                   showProgress: !quiet && world.rank == 0, configPath: config,
                                   memoryLimit: memoryLimit.flatMap(MemoryEstimate.parse), stallTimeout: stallTimeout)
        let summary: SweepSummary?
        do {
            summary = try SweepRun(campaign: campaign, options: options, world: world).run()
        } catch let refusal as SweepRefusal {
            throw CommandFailure(message: refusal.message, status: usageExitCode)
        } catch let stop as FollowerStop {
            throw CommandFailure(message: "", status: stop.status)
        } catch {
            let message = "\(error)"
            if world.size > 1 {
                let text = "error: \(message)\nerror: stopping all \(world.size) ranks; "
                    + "the journal in \(out)/journal keeps every finished task (--resume)\n"
                FileHandle.standardError.write(Data(text.utf8))
                world.abort(code: 1)
            }
            throw CommandFailure(message: message + "\nthe journal in \(out)/journal keeps every finished task (--resume)",
                                 status: 1)
        }
        guard let summary else { return }
        for note in summary.warnings { FileHandle.standardError.write(Data("warning: \(note)\n".utf8)) }
        if !quiet { for line in summary.utilisation { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
        let rate = summary.seconds > 0 ? Double(summary.tasks - summary.tasksFromJournal) / summary.seconds : 0
        print("\(campaign.name): \(summary.points) grid points × \(campaign.samples) networks, \(summary.tasks) tasks "
              + (summary.tasksFromJournal > 0 ? "(\(summary.tasksFromJournal) from the journal) " : "")
              + "on \(world.size) rank\(world.size == 1 ? "" : "s") in \(String(format: "%.2f", summary.seconds)) s "
              + "(\(String(format: "%.0f", rate)) tasks/s) → \(out)/{points.csv,layers.csv,"
              + (campaign.observables.perNetwork ? "networks.csv,quantiles.csv," : "") + "manifest.json}")
        if !summary.stalled.isEmpty {
            // The stalled rank may never reach MPI_Finalize: end the job here, naming it.
            let text = summary.stalled.map { "error: \($0)\n" }.joined()
                + "error: the tables are complete; ending all \(world.size) ranks with status \(stalledRankExitCode)\n"
            FileHandle.standardError.write(Data(text.utf8))
            world.abort(code: stalledRankExitCode)
        }
    }
}
