import LinearAlgebra
import Testing

@Suite struct OpenBLASCoreTypeTests {
    private let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]

    @Test func theGenericFallbackIsReplacedByTheWidestKernelsTheCPURuns() {
        #expect(OpenBLAS.fallbackCoreType(core: "Prescott", cpuFlags: avx512) == "SkylakeX")
        // AVX-512F without BW/DQ/VL (Knights Landing) cannot run the SkylakeX kernels.
        #expect(OpenBLAS.fallbackCoreType(core: "Prescott", cpuFlags: ["avx2", "fma", "avx512f", "avx512cd"]) == "Haswell")
        #expect(OpenBLAS.fallbackCoreType(core: "Prescott", cpuFlags: ["avx", "avx2", "fma"]) == "Haswell")
        #expect(OpenBLAS.fallbackCoreType(core: "Prescott", cpuFlags: ["sse3", "avx"]) == nil)
    }

    @Test func aRecognisedCPUKeepsOpenBLASsChoice() {
        #expect(OpenBLAS.fallbackCoreType(core: "Zen", cpuFlags: avx512) == nil)
        #expect(OpenBLAS.fallbackCoreType(core: "Cooperlake", cpuFlags: avx512) == nil)
    }
}
