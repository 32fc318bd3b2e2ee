import ArgumentParser
import Foundation
import LinearAlgebra
import MPI
import Sweep

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Report this rank's MPI rank/size, host, and the OpenMPI and OpenBLAS in use.",
        discussion: """
        Checks that MPI starts: without mpirun it runs as a singleton (rank 0 of 1, no
        daemon); under mpirun every rank prints its line, ordered by rank.

        Example:
          signalprop info
          mpirun -n 2 signalprop info --json
        """
    )

    @Flag(help: "One JSON object per rank.")
    var json = false

    func run() throws {
        let world = try MPIRuntime.world()
        var fields: [String: Any] = SoftwareVersions.dictionary
        fields["rank"] = world.rank
        fields["size"] = world.size
        fields["host"] = MPIRuntime.processorName
        fields["launched_by_mpirun"] = MPIRuntime.launchedByLauncher
        fields["blas_threads"] = OpenBLAS.threads
        fields["target_cpu"] = SoftwareVersions.targetCPU
        let line = json ? try JSON.text(fields)
            : "rank \(world.rank)/\(world.size) on \(MPIRuntime.processorName): \(MPIRuntime.libraryVersion), "
                + "OpenBLAS \(OpenBLAS.coreName) × \(OpenBLAS.threads) thread(s)"
        for r in 0..<world.size {
            if r == world.rank { print(line); fflush(nil) }
            try world.barrier()
        }
    }
}
