import Randomness

/// A stream for tests: `seed` fixed, the other fields as given.
func stream(seed: UInt64 = 0x0123_4567_89AB_CDEF, point: UInt32 = 7, sample: UInt32 = 11,
            layer: UInt32 = 3, purpose: StreamID.Purpose = .weights) -> RandomStream {
    RandomStream(StreamID(seed: seed, point: point, sample: sample, layer: layer,
                          purpose: purpose))
}

func normals(_ s: RandomStream, count: Int, from index: Int = 0, scale: Double = 1) -> [Double] {
    [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
        s.fillStandardNormal(buffer, from: index, scale: scale)
        initialized = count
    }
}

func normals(_ s: RandomStream, count: Int, from index: Int = 0, scale: Float) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        s.fillStandardNormal(buffer, from: index, scale: scale)
        initialized = count
    }
}

func uniforms(_ s: RandomStream, count: Int, from index: Int = 0) -> [Double] {
    [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
        s.fillUniform(buffer, from: index)
        initialized = count
    }
}

func floatUniforms(_ s: RandomStream, count: Int, from index: Int = 0) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        s.fillUniform(buffer, from: index)
        initialized = count
    }
}

/// The documented element → block map: element `k` uses block `8(k/16) + k%8`, and its
/// second word `b` (rather than `a`) when `k % 16 >= 8`. Returns the block's packed words.
func words(_ s: RandomStream, element k: Int) -> (a: UInt64, b: UInt64, second: Bool) {
    let block = UInt32(8 * (k / 16) + k % 8)
    let w = Philox4x32.block(counter: s.id.counter(block: block), key: s.id.key)
    return (UInt64(w[0]) << 32 | UInt64(w[1]), UInt64(w[2]) << 32 | UInt64(w[3]), k % 16 >= 8)
}
