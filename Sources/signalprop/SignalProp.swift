import ArgumentParser
import Ensembles
import Foundation
import LinearAlgebra
import Sweep

/// `signalprop`: Monte Carlo campaigns on random deep networks at initialisation, held
/// against mean-field theory.
struct SignalProp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signalprop",
        abstract: "Monte Carlo of random deep networks at initialisation, beside mean-field theory.",
        discussion: """
        Sample many random networks over a grid of (width, depth, σ_w, σ_b, activation, init,
        architecture), measure how signals, correlations, Jacobian spectra and representations
        evolve with depth, and write the ensemble statistics next to the predictions of
        mean-field, random-matrix and free-probability theory. Widths up to 10⁷ with the
        implicit backend, which samples each layer's exact law without forming W.

        Start with:  signalprop sweep examples/quickstart.toml --out out/quickstart
                     python3 scripts/plot.py out/quickstart
        """,
        version: signalPropVersion,
        subcommands: [SweepCommand.self, TheoryCommand.self, PhaseDiagramCommand.self, BenchCommand.self,
                      SpectrumCommand.self, GPCommand.self, PlanCommand.self, InfoCommand.self]
    )
}

/// Exit status for bad configuration or arguments: refused before any work, nothing written.
let usageExitCode: Int32 = 2

/// Exit status of a sweep whose tables are complete but one of whose worker ranks stopped
/// answering: its tasks ran on other ranks, and the job is ended (MPI_Abort) to free it.
let stalledRankExitCode: Int32 = 3

@main
enum Main {
    static func main() {
        selectBLASKernels()
        do {
            var command = try SignalProp.parseAsRoot()
            try command.run()
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(usageExitCode)
        } catch let error as CommandFailure {
            if !error.message.isEmpty { FileHandle.standardError.write(Data("error: \(error.message)\n".utf8)) }
            exit(error.status)
        } catch {
            let code = SignalProp.exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((SignalProp.fullMessage(for: error) + "\n").utf8))
                exit(usageExitCode)
            }
            SignalProp.exit(withError: error)
        }
    }
}

/// Restarts the process with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to its generic
/// kernels on a CPU it does not know (`OpenBLAS.fallbackCoreType`), so that every rank of a
/// campaign computes with the kernels the CPU can run. The variable, once set (by this or
/// by the user, to any value), is left as it is. The process keeps its PID, arguments and
/// open files, and nothing has run yet (MPI is not initialised); if `execv` fails the run
/// goes on with the generic kernels. The manifest's `openblas_core` records the choice.
private func selectBLASKernels() {
    guard getenv("OPENBLAS_CORETYPE") == nil,
          let core = OpenBLAS.fallbackCoreType(core: OpenBLAS.coreName, cpuFlags: cpuFlags())
    else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
}

/// The first `flags` line of `/proc/cpuinfo` as a set (empty where there is none).
private func cpuFlags() -> Set<String> {
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return [] }
    return Set(line.split(separator: " ").map(String.init))
}

/// A failure the command reports with its own exit status (1: the run failed, 2: bad input).
struct CommandFailure: Error {
    let message: String
    let status: Int32
}
