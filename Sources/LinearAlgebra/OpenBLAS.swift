import CBLAS

/// The OpenBLAS library the process runs with (chosen at run time by the system's
/// alternatives, not at build time), and its thread pool.
public enum OpenBLAS {
    /// Threads OpenBLAS uses per call. Keep it at 1 when several workers (threads or
    /// MPI ranks) each call BLAS: results are then deterministic and cores not oversubscribed.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64".
    public static var configuration: String {
        openblas_get_config().map { String(cString: $0) } ?? "unknown"
    }

    /// The kernel family selected for this CPU, e.g. "Cooperlake".
    public static var coreName: String {
        openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }
}
