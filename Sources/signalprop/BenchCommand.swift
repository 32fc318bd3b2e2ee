import ArgumentParser
import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Sweep

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the engine on this machine: normals/s, GEMM GFLOP/s, seconds per network.",
        discussion: """
        All on one core with one BLAS thread; medians of repeated runs:
          normals_per_s              float64 standard normals (Philox4x32-10 + Box–Muller)
                                     into a 32 MB buffer
          normals_in_blocks_per_s    the same drawn 512 at a time into one buffer in L1, as
                                     the streamed implicit layer draws them
          dgemm_gflops               OpenBLAS dgemm, 1024×1024×1024
          engine_gemm_gflops         the engine's own GEMM calls: weight panel × activations
                                     for the forward workload (N = 1024, panel × B = 8)
          forward_seconds_per_network  dense tanh network N = 1024, L = 50, B = 8, float64
          jacobian_*                 the Jacobian workload: tanh N = 512, L = 64, σ_w = 1,
                                     σ_b = 0.05, B = 4, J accumulated through every layer
                                     and its spectrum (SVD) at the last: seconds per
                                     network, and GFLOP/s counting the layer GEMMs
                                     2·N·N·(B+N) per layer, with dgemm at 512³ for scale;
                                     the fixed costs beside the GEMMs timed alone:
                                     jacobian_weight_draws_seconds (L·N² normals) and
                                     jacobian_svd_seconds (one 512×512 SVD, values only)
        Compare with scripts/bench_numpy.py (the numpy baseline) in the same session;
        BENCHMARKS.md records both.

        Example:  signalprop bench --json
        """
    )

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(parsing: .unconditional, help: "Repeats per measurement (the median is reported).")
    var repeats: Int = 7

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be ≥ 1") }
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func time(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// The issue-4 Jacobian workload, Gaussian and orthogonal weights, 4 networks each.
    func jacobianWorkload() throws -> [(String, Any)] {
        let n = 512, depth = 64, batch = 4
        let stream = RandomStream(StreamID(seed: 9, point: 0, sample: 0, layer: 0, purpose: .weights))
        let a = Matrix<Double>.gaussian(rows: n, columns: n, stream: stream)
        var c = Matrix<Double>(rows: n, columns: n)
        let dgemm = Self.median((0..<repeats).map { _ in 2 * Double(n * n * n) / Self.time { c.multiply(a, a) } })
        let inputs = try InputBatch(spec: .gram(count: batch, q0: 1, c0: 0.5), dimension: n, stream: stream)
        let observables = Observables([MeanSquaredLength(), MeanCorrelation(), JacobianSpectrum(depths: [depth])])
        let flops = Double(depth) * 2 * Double(n * n * (batch + n))
        // The fixed costs outside the layer GEMMs, timed alone: the L weight draws and the
        // final SVD (values only) of one network.
        var weights = Matrix<Double>(rows: n, columns: n)
        let draws = Self.median((0..<repeats).map { _ in
            Self.time {
                for layer in 0..<depth {
                    weights.elements.withUnsafeMutableBufferPointer { stream.fillStandardNormal($0, from: layer * n * n) }
                }
            }
        })
        let svd = Self.median(try (0..<repeats).map { _ in try Self.time { _ = try a.singularValues() } })
        var out: [(String, Any)] = [("jacobian_dgemm_512_gflops", dgemm / 1e9),
                                    ("jacobian_weight_draws_seconds", draws), ("jacobian_svd_seconds", svd)]
        for weightInit in WeightLaw.allCases {
            let spec = NetworkSpec(width: n, depth: depth, sigmaW: 1, sigmaB: 0.05, activation: .tanh, weightInit: weightInit)
            var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observables, seed: 1, point: 0)
            var statistics = sampler.makeStatistics()
            let seconds = Self.median(try (0..<4).map { s in try Self.time { try sampler.run(sample: s, into: &statistics) } })
            out.append(("jacobian_\(weightInit.rawValue)_seconds_per_network", seconds))
            out.append(("jacobian_\(weightInit.rawValue)_gemm_gflops", flops / seconds / 1e9))
        }
        return out
    }

    func run() throws {
        OpenBLAS.threads = 1
        let normals = NormalBenchmark.normalsPerSecond(count: 1 << 22, repeats: repeats)
        let blockNormals = NormalBenchmark.blockNormalsPerSecond(block: 512, count: 1 << 22, repeats: repeats)

        let n = 1024, batch = 8
        let stream = RandomStream(StreamID(seed: 7, point: 0, sample: 0, layer: 0, purpose: .weights))
        let a = Matrix<Double>.gaussian(rows: n, columns: n, stream: stream)
        var c = Matrix<Double>(rows: n, columns: n)
        let dgemm = Self.median((0..<repeats).map { _ in
            2 * Double(n * n * n) / Self.time { c.multiply(a, a) }
        })

        let width = Affine.panelWidth(rows: n)
        let x = Matrix<Double>.gaussian(rows: n, columns: batch, stream: stream)
        var h = Matrix<Double>(rows: n, columns: batch)
        let sweepsPerRepeat = 20
        let engineGemm = Self.median((0..<repeats).map { _ in
            let seconds = Self.time {
                for _ in 0..<sweepsPerRepeat {
                    var j0 = 0
                    while j0 < n {
                        a.elements.withUnsafeBufferPointer { pa in
                            x.elements.withUnsafeBufferPointer { px in
                                h.elements.withUnsafeMutableBufferPointer { ph in
                                    Double.multiply(.none, .none, m: n, n: batch, k: width, alpha: 1,
                                                    a: pa.baseAddress! + j0 * n, lda: n, b: px.baseAddress! + j0,
                                                    ldb: n, beta: j0 == 0 ? 0 : 1, c: ph.baseAddress!, ldc: n)
                                }
                            }
                        }
                        j0 += width
                    }
                }
            }
            return Double(sweepsPerRepeat) * 2 * Double(n * n * batch) / seconds
        })

        let spec = NetworkSpec(width: n, depth: 50, sigmaW: 1.5, sigmaB: 0.3, activation: .tanh)
        let inputs = try InputBatch(spec: .gaussian(count: batch, q0: 1), dimension: n, stream: stream)
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs,
                                             observables: Observables([MeanSquaredLength(), MeanCorrelation(), GramEntries()]),
                                             seed: 1, point: 0)
        var statistics = sampler.makeStatistics()
        let perNetwork = Self.median(try (0..<max(3, repeats)).map { s in
            try Self.time { try sampler.run(sample: s, into: &statistics) }
        })

        let jacobian = try jacobianWorkload()

        let results: [(String, Any)] = jacobian + [
            ("normals_per_s", normals), ("normals_in_blocks_per_s", blockNormals), ("dgemm_gflops", dgemm / 1e9),
            ("engine_gemm_gflops", engineGemm / 1e9),
            ("forward_seconds_per_network", perNetwork),
            ("forward_workload", "dense tanh, N=1024, L=50, B=8, float64, gaussian weights, sigma_w=1.5, sigma_b=0.3"),
            ("blas_threads", OpenBLAS.threads), ("openblas_core", OpenBLAS.coreName),
            ("target_cpu", SoftwareVersions.targetCPU), ("signalprop", signalPropVersion),
        ]
        if json {
            print(try JSON.text(Dictionary(uniqueKeysWithValues: results)))
        } else {
            for (k, v) in results {
                let text = (v as? Double).map { String(format: $0 > 1e4 ? "%.4g" : "%.4f", $0) } ?? "\(v)"
                print(k.padding(toLength: 30, withPad: " ", startingAt: 0) + text)
            }
        }
    }
}
