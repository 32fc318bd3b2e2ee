import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// The process's MPI runtime: initialised once, finalised at exit.
///
/// Run without `mpirun` (laptop mode), OpenMPI 4.1 would fork an `orted` daemon through
/// ssh/rsh for a singleton; when no launcher variables are present the runtime sets
/// `OMPI_MCA_ess_singleton_isolated=1` first (a user's own setting wins), so a single rank
/// starts without a daemon.
public enum MPIRuntime {
    /// Whether a launcher (`mpirun`, `srun` with PMIx) started this process.
    public static var launchedByLauncher: Bool {
        getenv("OMPI_COMM_WORLD_SIZE") != nil || getenv("PMIX_RANK") != nil
    }

    /// `MPI_COMM_WORLD`, initialising MPI on first use (`MPI_THREAD_FUNNELED`: only the
    /// thread that initialised MPI calls it) with `MPI_ERRORS_RETURN` installed.
    public static func world() throws(MPIError) -> Communicator {
        try initialised.get()
    }

    private static let initialised: Result<Communicator, MPIError> = {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        if flag == 0 {
            if !launchedByLauncher { setenv("OMPI_MCA_ess_singleton_isolated", "1", 0) }
            var provided: Int32 = 0
            let code = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
            if code != MPI_SUCCESS { return .failure(MPIError(code: code, function: "MPI_Init_thread")) }
            if provided < Int32(MPI_THREAD_FUNNELED) {
                return .failure(MPIError(code: MPI_ERR_OTHER, function: "MPI_Init_thread (provides thread level "
                                         + "\(provided), SignalProp needs MPI_THREAD_FUNNELED)"))
            }
            atexit {
                var finalized: Int32 = 0
                MPI_Finalized(&finalized)
                if finalized == 0 { MPI_Finalize() }
            }
        }
        let world = Communicator(raw: MPI_COMM_WORLD)
        let code = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)
        if code != MPI_SUCCESS { return .failure(MPIError(code: code, function: "MPI_Comm_set_errhandler")) }
        return .success(world)
    }()

    /// `MPI_Get_library_version`, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, …" (first line).
    public static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING))
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == MPI_SUCCESS else { return "unknown" }
        let text = String(decoding: buffer[..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "\n").first.map { String($0.split(separator: ",").first ?? $0) } ?? text
    }

    /// `MPI_Get_processor_name`: the host this rank runs on.
    public static var processorName: String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME))
        var length: Int32 = 0
        guard MPI_Get_processor_name(&buffer, &length) == MPI_SUCCESS else { return "unknown" }
        return String(decoding: buffer[..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
