/// An indexed sequence of random numbers: element `k` is a pure function of the stream's
/// ``StreamID`` and `k`.
///
/// Filling `[k₀, k₀ + n)` gives exactly the slice of a fill from 0, so a weight matrix can be
/// generated panel by panel, and work split across threads or ranks, with identical bits.
///
/// ## Elements and blocks
///
/// Elements come in chunks of 16 drawn from 8 consecutive Philox blocks: element `k` lies in
/// chunk `g = k / 16` at position `i = k % 16`, and uses block `8g + i % 8` of the stream
/// (counter in ``StreamID``). Each block gives two 64-bit words `a = w0 << 32 | w1` and
/// `b = w2 << 32 | w3`:
///
/// - `fillStandardNormal`: the block's Box–Muller pair `(r cos 2πv, r sin 2πv)`, with the
///   radius from `a` and the angle from `b`; positions `i < 8` take the cosine, `i ≥ 8` the
///   sine (formulas, evaluation and the verified error bound: `BoxMuller.swift`).
/// - `fillUniform`: positions `i < 8` use `a`, `i ≥ 8` use `b`.
///
/// A stream has ``elementLimit`` = 2³³ elements. The normal and the uniform fills of the same
/// stream are two views of the same blocks, hence dependent: draw them from streams with
/// different purposes (or layers) when they must be independent.
///
/// The results are bit-identical on every machine: the SIMD kernels use only IEEE basic
/// operations, fused multiply–add and square root, all correctly rounded.
public struct RandomStream: Sendable {
    /// The stream's name.
    public let id: StreamID
    private let lanes: PhiloxLanes

    /// The number of elements of a stream, 2³³ (2³² Philox blocks of two elements each).
    public static let elementLimit = 1 << 33

    public init(_ id: StreamID) {
        self.id = id
        self.lanes = PhiloxLanes(key: id.key)
    }

    /// Writes `scale · z_k` for `k = index ..< index + out.count` into `out`, where `z_k` are
    /// the stream's standard normals (Box–Muller, 52-bit uniforms; see the type's notes).
    ///
    /// - Precondition: `index >= 0` and `index + out.count <= RandomStream.elementLimit`
    ///   (checked in every build configuration).
    public func fillStandardNormal(_ out: UnsafeMutableBufferPointer<Double>, from index: Int = 0,
                                   scale: Double = 1) {
        NormalKernel(stream: self, scale: scale).fill(out, from: index)
    }

    /// Writes `Float(Double(scale) · z_k)` for `k = index ..< index + out.count`: the Float
    /// rounding of the same normals as the `Double` fill (element `k` of a `Float` fill is
    /// `Float(z_k)` for `scale == 1`), so float32 and float64 networks with the same seed
    /// have the same weights up to rounding.
    ///
    /// - Precondition: `index >= 0` and `index + out.count <= RandomStream.elementLimit`
    ///   (checked in every build configuration).
    public func fillStandardNormal(_ out: UnsafeMutableBufferPointer<Float>, from index: Int = 0,
                                   scale: Float = 1) {
        NormalKernel(stream: self, scale: Double(scale)).fill(out, from: index)
    }

    /// Writes uniforms on the **open** interval (0, 1): element `k` is `(2j + 1) · 2⁻⁵³` with
    /// `j` the top 52 bits of its 64-bit word, so the values are the midpoints of a uniform
    /// grid of 2⁵² cells; neither 0 nor 1 occurs, and `log u`, `log(1 − u)` are finite.
    ///
    /// - Precondition: `index >= 0` and `index + out.count <= RandomStream.elementLimit`
    ///   (checked in every build configuration).
    public func fillUniform(_ out: UnsafeMutableBufferPointer<Double>, from index: Int = 0) {
        UniformKernel(stream: self, cellBits: 52).fill(out, from: index)
    }

    /// Writes uniforms on the **open** interval (0, 1) in Float: element `k` is
    /// `(2j + 1) · 2⁻²⁴` with `j` the top 23 bits of the same 64-bit word as the `Double`
    /// uniform `k` (midpoints of 2²³ cells; exactly representable, never 0 or 1).
    ///
    /// - Precondition: `index >= 0` and `index + out.count <= RandomStream.elementLimit`
    ///   (checked in every build configuration).
    public func fillUniform(_ out: UnsafeMutableBufferPointer<Float>, from index: Int = 0) {
        UniformKernel(stream: self, cellBits: 23).fill(out, from: index)
    }

    /// The packed words of blocks `8g ..< 8g + 8` (one per lane) for chunk `g`.
    @inline(__always)
    fileprivate func words(chunk g: UInt64) -> (a: SIMD8<UInt64>, b: SIMD8<UInt64>) {
        lanes.words(first: g &<< 3, id.point, id.sample, id.layerAndPurpose)
    }
}

// MARK: - Chunk kernels

/// Something that computes chunk `g` of a stream: elements `16g ..< 16g + 16` as two
/// eight-lane vectors (positions 0..<8 and 8..<16).
private protocol ChunkKernel {
    func chunk(_ g: UInt64) -> (SIMD8<Double>, SIMD8<Double>)
}

private struct NormalKernel: ChunkKernel {
    let stream: RandomStream
    let scale: Double

    @inline(__always)
    func chunk(_ g: UInt64) -> (SIMD8<Double>, SIMD8<Double>) {
        let (a, b) = stream.words(chunk: g)
        let (z0, z1) = BoxMuller.normals(a: a, b: b)
        return (z0 * scale, z1 * scale)
    }
}

/// Uniforms `(2j + 1) · 2^-(cellBits + 1)` with `j` the top `cellBits` bits of the word:
/// `j` is placed at the top of the significand of a Double in [1, 2) and `1 − half a cell`
/// subtracted, which is exact (and for `cellBits ≤ 23` exactly representable as a Float).
private struct UniformKernel: ChunkKernel {
    let stream: RandomStream
    let keep: UInt64
    let offset: Double

    init(stream: RandomStream, cellBits: Int) {
        self.stream = stream
        self.keep = ((1 << UInt64(cellBits)) - 1) << UInt64(52 - cellBits)
        self.offset = 1 - Double(sign: .plus, exponent: -(cellBits + 1), significand: 1)
    }

    @inline(__always)
    func chunk(_ g: UInt64) -> (SIMD8<Double>, SIMD8<Double>) {
        let (a, b) = stream.words(chunk: g)
        @inline(__always) func uniform(_ x: SIMD8<UInt64>) -> SIMD8<Double> {
            BoxMuller.double(0x3FF0_0000_0000_0000 | ((x &>> 12) & keep)) - offset
        }
        return (uniform(a), uniform(b))
    }
}

extension ChunkKernel {
    /// Fills `out` with elements `index ..< index + out.count`: whole chunks are stored
    /// straight into `out`; a partial chunk at either end is computed whole and copied.
    @inline(__always)
    func fill(_ out: UnsafeMutableBufferPointer<Double>, from index: Int) {
        let n = out.count
        require(index >= 0 && index <= RandomStream.elementLimit - n,
                "RandomStream: \(n) elements from index \(index) exceed the stream's 2^33")
        guard n > 0, let base = out.baseAddress else { return }
        let raw = UnsafeMutableRawPointer(base)
        var k = index  // next element of the stream
        var o = 0      // next position in `out`

        func copyPartial() {
            let start = k % 16
            let m = Swift.min(16 - start, n - o)
            withUnsafeBytes(of: chunk(UInt64(k / 16))) { bytes in
                for i in 0..<m {
                    base[o + i] = bytes.load(fromByteOffset: (start + i) * 8, as: Double.self)
                }
            }
            k += m
            o += m
        }

        if k % 16 != 0 { copyPartial() }
        while n - o >= 16 {
            let (lo, hi) = chunk(UInt64(k / 16))
            raw.storeBytes(of: lo, toByteOffset: o * 8, as: SIMD8<Double>.self)
            raw.storeBytes(of: hi, toByteOffset: (o + 8) * 8, as: SIMD8<Double>.self)
            k += 16
            o += 16
        }
        if o < n { copyPartial() }
    }

    /// The `Float` rounding of the `Double` fill, computed through a stack buffer of 512
    /// (converting in a separate loop keeps the kernel in full-width vectors).
    @inline(__always)
    func fill(_ out: UnsafeMutableBufferPointer<Float>, from index: Int) {
        let n = out.count
        require(index >= 0 && index <= RandomStream.elementLimit - n,
                "RandomStream: \(n) elements from index \(index) exceed the stream's 2^33")
        guard n > 0, let base = out.baseAddress else { return }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 512) { buffer in
            guard let tmp = buffer.baseAddress else { return }
            var o = 0
            var piece = 512 - index % 16  // later pieces start on a chunk boundary
            while o < n {
                let m = Swift.min(piece, n - o)
                fill(UnsafeMutableBufferPointer(start: tmp, count: m), from: index + o)
                for i in 0..<m { base[o + i] = Float(tmp[i]) }
                o += m
                piece = 512
            }
        }
    }
}
