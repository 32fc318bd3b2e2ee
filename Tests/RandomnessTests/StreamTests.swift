import Randomness
import Testing

@Suite struct StreamTests {
    /// (offset, length) pairs: odd, chunk-aligned, inside one chunk, straddling many.
    static let slices = [(0, 1), (1, 1), (3, 5), (5, 11), (15, 2), (16, 16), (17, 31), (7, 200),
                         (31, 1), (100, 333), (250, 777), (0, 1001), (999, 2)]

    @Test(arguments: slices)
    func offsetDeterminism(_ offset: Int, _ length: Int) {
        let s = stream()
        let total = 1024 + 16
        let whole = normals(s, count: total)
        let wholeF = normals(s, count: total, scale: Float(1))
        let wholeU = uniforms(s, count: total)
        let wholeUF = floatUniforms(s, count: total)
        #expect(normals(s, count: length, from: offset)[...] == whole[offset..<offset + length])
        #expect(normals(s, count: length, from: offset, scale: Float(1))[...]
                == wholeF[offset..<offset + length])
        #expect(uniforms(s, count: length, from: offset)[...] == wholeU[offset..<offset + length])
        #expect(floatUniforms(s, count: length, from: offset)[...]
                == wholeUF[offset..<offset + length])
    }

    /// Filling in many odd pieces reproduces one fill, also for Float (whose fill goes
    /// through an internal buffer of 512) and far into the stream.
    @Test func piecewiseFill() {
        let s = stream()
        let start = 1 << 31 + 5
        let n = 3000
        let whole = normals(s, count: n, from: start)
        let wholeF = normals(s, count: n, from: start, scale: Float(1))
        var pieces: [Double] = [], piecesF: [Float] = []
        var k = 0, step = 1
        while k < n {
            let m = min(step, n - k)
            pieces += normals(s, count: m, from: start + k)
            piecesF += normals(s, count: m, from: start + k, scale: Float(1))
            k += m
            step = step * 3 % 1031
        }
        #expect(pieces == whole)
        #expect(piecesF == wholeF)
    }

    @Test func emptyFillIsAllowed() {
        #expect(normals(stream(), count: 0, from: RandomStream.elementLimit).isEmpty)
    }

    /// The Float fill is the Float rounding of the Double fill, with the scale applied in
    /// Double first.
    @Test func floatIsTheRoundingOfDouble() {
        let s = stream()
        let n = 4099
        let z = normals(s, count: n)
        #expect(normals(s, count: n, scale: Float(1)) == z.map { Float($0) })
        let scale: Float = 0.3
        let zs = normals(s, count: n, scale: Double(scale))
        #expect(normals(s, count: n, scale: scale) == zs.map { Float($0) })
        #expect(zs == z.map { Double(scale) * $0 })
    }

    /// Streams that differ in exactly one field (seed, point, sample, layer or purpose) share
    /// no value in their first 10⁵ normals, and are uncorrelated (|r| < 5/√n).
    @Test(arguments: [
        stream(seed: 0x0123_4567_89AB_CDEE), stream(point: 8), stream(sample: 12),
        stream(layer: 4), stream(purpose: .biases), stream(purpose: .noise),
        stream(seed: 0x1123_4567_89AB_CDEF),
    ])
    func distinctStreams(_ other: RandomStream) {
        let n = 100_000
        let x = normals(stream(), count: n)
        let y = normals(other, count: n)
        #expect(Set(x.map(\.bitPattern)).isDisjoint(with: y.map(\.bitPattern)))
        let correlation = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } / Double(n)
        #expect(abs(correlation) < 5 / Double(n).squareRoot())
    }

    /// The stream has no repeated value either (distinct blocks within a stream).
    @Test func noRepeatsWithinAStream() {
        let x = normals(stream(), count: 200_000)
        #expect(Set(x.map(\.bitPattern)).count == x.count)
    }

    @Test func benchmarkReportsARate() {
        #expect(NormalBenchmark.normalsPerSecond(count: 4096, repeats: 3) > 0)
        #expect(NormalBenchmark.normalsPerSecond(count: 4096, repeats: 2, precision: .float32) > 0)
    }
}
