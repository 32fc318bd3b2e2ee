import Randomness
import Testing

@Suite struct PhiloxTests {
    /// Random123 `tests/kat_vectors`, philox4x32 with 10 rounds (counter words, key words,
    /// expected output).
    static let knownAnswers: [(SIMD4<UInt32>, SIMD2<UInt32>, SIMD4<UInt32>)] = [
        (SIMD4(0, 0, 0, 0), SIMD2(0, 0),
         SIMD4(0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8)),
        (SIMD4(0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF), SIMD2(0xFFFF_FFFF, 0xFFFF_FFFF),
         SIMD4(0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD)),
        (SIMD4(0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344), SIMD2(0xA409_3822, 0x299F_31D0),
         SIMD4(0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1)),
    ]

    @Test(arguments: 0..<3)
    func knownAnswer(_ i: Int) {
        let (counter, key, expected) = Self.knownAnswers[i]
        #expect(Philox4x32.block(counter: counter, key: key) == expected)
    }

    /// The key and counter layout documented on `StreamID`.
    @Test func streamLayout() {
        let id = StreamID(seed: 0x1122_3344_5566_7788, point: 5, sample: 6, layer: 0xAB_CDEF,
                          purpose: .orthogonal)
        #expect(id.key == SIMD2(0x5566_7788, 0x1122_3344))
        #expect(id.counter(block: 9) == SIMD4(9, 5, 6, 0xAB_CDEF_03))
    }

    /// The SIMD lanes give the scalar Philox words, through the documented element → block
    /// map: the Double uniform k is exactly (2j + 1)·2⁻⁵³ with j = (word >> 12), and the
    /// Float uniform k is (2j + 1)·2⁻²⁴ with j = word >> 41.
    @Test func uniformsFollowTheSpecification() {
        let s = stream()
        let n = 1000
        let u = uniforms(s, count: n)
        let f = floatUniforms(s, count: n)
        for k in 0..<n {
            let (a, b, second) = words(s, element: k)
            let word = second ? b : a
            #expect(u[k] == Double(2 * (word >> 12) + 1) * 0x1p-53, "element \(k)")
            #expect(f[k] == Float(2 * (word >> 41) + 1) * 0x1p-24, "element \(k)")
        }
    }

    @Test func uniformsAreOpen() {
        let u = uniforms(stream(), count: 1 << 16)
        #expect(u.min()! > 0 && u.max()! < 1)
        let f = floatUniforms(stream(), count: 1 << 16)
        #expect(f.min()! > 0 && f.max()! < 1)
    }

    @Test func layerOutOfRangeIsRefused() async {
        await #expect(processExitsWith: .failure) {
            _ = StreamID(seed: 1, point: 0, sample: 0, layer: StreamID.maxLayer + 1,
                         purpose: .weights)
        }
    }

    @Test func fillBeyondTheStreamIsRefused() async {
        await #expect(processExitsWith: .failure) {
            var x = [Double](repeating: 0, count: 2)
            x.withUnsafeMutableBufferPointer {
                stream().fillStandardNormal($0, from: RandomStream.elementLimit - 1)
            }
        }
    }
}
