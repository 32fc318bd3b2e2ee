/// Philox4x32-10, the counter-based random bijection of Salmon, Moraes, Dror and Shaw,
/// "Parallel random numbers: as easy as 1, 2, 3" (SC '11), exactly as specified by
/// Random123's `philox.h` (`philox4x32_R(10, ctr, key)`).
///
/// There is no state: a block of four 32-bit words is a pure function of a 128-bit counter
/// and a 64-bit key, so any element of any stream can be computed directly, in any order,
/// on any process. One round maps the counter `(c0, c1, c2, c3)` to
///
///     (hi(M1·c2) ^ c1 ^ k0,  lo(M1·c2),  hi(M0·c0) ^ c3 ^ k1,  lo(M0·c0))
///
/// with `M0 = 0xD2511F53`, `M1 = 0xCD9E8D57` and the 64-bit products split into high and
/// low words; the key is bumped by the Weyl constants `(0x9E3779B9, 0xBB67AE85)` (mod 2³²)
/// between rounds. The output passes the Random123 known-answer tests (`tests/kat_vectors`).
public enum Philox4x32 {
    /// The number of rounds, 10: Random123's default, with a wide safety margin over the
    /// 7 rounds that pass BigCrush.
    public static let rounds = 10

    static let m0: UInt32 = 0xD251_1F53
    static let m1: UInt32 = 0xCD9E_8D57
    static let w0: UInt32 = 0x9E37_79B9
    static let w1: UInt32 = 0xBB67_AE85

    /// The Philox4x32-10 image of `counter` under `key`.
    ///
    /// This is the scalar reference; ``RandomStream`` evaluates eight blocks at a time in SIMD
    /// lanes and gives bit-identical words.
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c = counter
        var k = key
        for round in 0..<rounds {
            if round > 0 { k &+= SIMD2(w0, w1) }
            let p0 = UInt64(m0) &* UInt64(c[0])
            let p1 = UInt64(m1) &* UInt64(c[2])
            c = SIMD4(UInt32(truncatingIfNeeded: p1 &>> 32) ^ c[1] ^ k[0],
                      UInt32(truncatingIfNeeded: p1),
                      UInt32(truncatingIfNeeded: p0 &>> 32) ^ c[3] ^ k[1],
                      UInt32(truncatingIfNeeded: p0))
        }
        return c
    }
}

/// Eight Philox4x32-10 blocks evaluated side by side, one per SIMD lane.
///
/// Each 32-bit word lives in the low half of a 64-bit lane, so a 32×32→64-bit product is a
/// single lane multiply (`vpmuludq`); the masks that make that legal are folded into the
/// multiply by the compiler. The high halves of the lanes carry garbage between rounds and
/// are discarded when the words are packed at the end.
struct PhiloxLanes {
    /// The ten round keys `(k0 + r·w0, k1 + r·w1) mod 2³²`, widened to 64 bits.
    private let k0: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    private let k1: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    init(key: SIMD2<UInt32>) {
        func schedule(_ k: UInt32, _ w: UInt32) -> (UInt64, UInt64, UInt64, UInt64, UInt64,
                                                    UInt64, UInt64, UInt64, UInt64, UInt64) {
            func r(_ i: UInt32) -> UInt64 { UInt64(k &+ i &* w) }
            return (r(0), r(1), r(2), r(3), r(4), r(5), r(6), r(7), r(8), r(9))
        }
        k0 = schedule(key[0], Philox4x32.w0)
        k1 = schedule(key[1], Philox4x32.w1)
    }

    /// Blocks `(first + lane, c1, c2, c3)` for lanes 0..<8, packed as two 64-bit words per
    /// block: `a = w0 << 32 | w1` and `b = w2 << 32 | w3`, where `(w0, w1, w2, w3)` is the
    /// Philox output. `first + 7` must fit in 32 bits.
    @inline(__always)
    func words(first: UInt64, _ c1: UInt32, _ c2: UInt32, _ c3: UInt32)
        -> (a: SIMD8<UInt64>, b: SIMD8<UInt64>)
    {
        var x0 = SIMD8<UInt64>(repeating: first) &+ SIMD8(0, 1, 2, 3, 4, 5, 6, 7)
        var x1 = SIMD8<UInt64>(repeating: UInt64(c1))
        var x2 = SIMD8<UInt64>(repeating: UInt64(c2))
        var x3 = SIMD8<UInt64>(repeating: UInt64(c3))
        @inline(__always) func round(_ k0: UInt64, _ k1: UInt64) {
            let low: SIMD8<UInt64> = SIMD8(repeating: 0xFFFF_FFFF)
            let p0 = (x0 & low) &* SIMD8(repeating: UInt64(Philox4x32.m0))
            let p1 = (x2 & low) &* SIMD8(repeating: UInt64(Philox4x32.m1))
            x0 = (p1 &>> 32) ^ x1 ^ SIMD8(repeating: k0)
            x1 = p1
            x2 = (p0 &>> 32) ^ x3 ^ SIMD8(repeating: k1)
            x3 = p0
        }
        round(k0.0, k1.0); round(k0.1, k1.1); round(k0.2, k1.2); round(k0.3, k1.3)
        round(k0.4, k1.4); round(k0.5, k1.5); round(k0.6, k1.6); round(k0.7, k1.7)
        round(k0.8, k1.8); round(k0.9, k1.9)
        let low: SIMD8<UInt64> = SIMD8(repeating: 0xFFFF_FFFF)
        return ((x0 &<< 32) | (x1 & low), (x2 &<< 32) | (x3 & low))
    }
}
