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

    /// The kernel family to request through `OPENBLAS_CORETYPE` when OpenBLAS did not
    /// recognise the CPU, or nil when its own choice stands.
    ///
    /// A DYNAMIC_ARCH OpenBLAS that meets a CPU newer than itself falls back to its generic
    /// `Prescott` (SSE3) kernels: Debian 12's OpenBLAS 0.3.21 does so on Intel Xeons of model
    /// 207 (Emerald Rapids), where its dgemm then runs at 15 GFLOP/s instead of the 78 of its
    /// `SkylakeX` kernels on the same core. The kernels are chosen when the library loads,
    /// before `main`, so the choice can only take effect in a new process image.
    ///
    /// - Parameters:
    ///   - core: the family OpenBLAS chose (`coreName`).
    ///   - cpuFlags: the CPU's feature flags as Linux names them in `/proc/cpuinfo`, evaluated
    ///     only when `core` is the generic fallback.
    /// - Returns: "SkylakeX" when the CPU has the AVX-512 subsets those kernels use (F, CD,
    ///   BW, DQ, VL), "Haswell" when it has AVX2 and FMA, otherwise nil; nil whenever `core`
    ///   is not the generic fallback.
    public static func fallbackCoreType(core: String, cpuFlags: @autoclosure () -> Set<String>) -> String? {
        guard core == "Prescott" else { return nil }
        let cpuFlags = cpuFlags()
        if cpuFlags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }
}
