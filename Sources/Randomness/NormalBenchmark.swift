/// Throughput of the normal fill on the calling thread, for `signalprop bench`.
public enum NormalBenchmark {
    /// The output type measured.
    public enum Precision: String, Sendable, CaseIterable {
        case float64, float32
    }

    /// Standard normals per second of `RandomStream.fillStandardNormal` (`Double` or `Float`)
    /// into a buffer of `count` elements: the median over `repeats` timed fills, after one
    /// untimed warm-up fill.
    ///
    /// - Precondition: `count >= 1`, `repeats >= 1`.
    public static func normalsPerSecond(count: Int, repeats: Int,
                                        precision: Precision = .float64) -> Double {
        require(count >= 1 && repeats >= 1, "NormalBenchmark: count and repeats must be ≥ 1")
        let stream = RandomStream(StreamID(seed: 0x5EED, point: 0, sample: 0, layer: 0,
                                           purpose: .weights))
        switch precision {
        case .float64:
            return measure(count: count, repeats: repeats, Double.self) {
                stream.fillStandardNormal($0)
            }
        case .float32:
            return measure(count: count, repeats: repeats, Float.self) {
                stream.fillStandardNormal($0)
            }
        }
    }

    /// Standard normals per second drawn as the streamed implicit layer draws them: float64
    /// blocks of `block` normals at consecutive positions of one stream, each into the same
    /// buffer, which stays in L1 (`count` normals per timed repeat; the median of `repeats`).
    /// The rate of the floor the width-10⁶ workload is held to: per-call costs included, and
    /// no trip through memory, which the layer never makes either.
    ///
    /// - Precondition: `block >= 1`, `count >= block`, `repeats >= 1`.
    public static func blockNormalsPerSecond(block: Int, count: Int, repeats: Int) -> Double {
        require(block >= 1 && count >= block && repeats >= 1, "NormalBenchmark: block, count and repeats must be ≥ 1")
        let stream = RandomStream(StreamID(seed: 0x5EED, point: 0, sample: 0, layer: 0, purpose: .weights))
        let blocks = count / block
        return measure(count: blocks * block, repeats: repeats, Double.self, capacity: block) { buffer in
            for b in 0..<blocks { stream.fillStandardNormal(buffer, from: b * block) }
        }
    }

    private static func measure<T>(count: Int, repeats: Int, _: T.Type, capacity: Int? = nil,
                                   _ fill: (UnsafeMutableBufferPointer<T>) -> Void) -> Double {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: capacity ?? count)
        defer { buffer.deallocate() }
        fill(buffer)
        let clock = ContinuousClock()
        var seconds: [Double] = []
        for _ in 0..<repeats {
            let elapsed = clock.measure { fill(buffer) }
            let (s, atto) = elapsed.components
            seconds.append(Double(s) + Double(atto) * 1e-18)
        }
        seconds.sort()
        let median = repeats % 2 == 1
            ? seconds[repeats / 2]
            : (seconds[repeats / 2 - 1] + seconds[repeats / 2]) / 2
        return Double(count) / median
    }
}
