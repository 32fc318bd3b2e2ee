#if canImport(Glibc)
import Glibc
#endif
@testable import Randomness
import Testing

/// The vectorised Box–Muller transform against the same formula evaluated in `Float80` with
/// Glibc `logl`, `sinl`, `cosl`, `sqrtl` (64-bit significands, ~1e-19 relative: an exact
/// reference at Double precision).
///
/// Bound checked: |z − z_ref| ≤ 2⁻⁵⁰·|z_ref| (relative error ≤ 8.9e-16, i.e. 4 units in the
/// last place), for every element, including those near the zeros of cos and sin.
@Suite struct TransformAccuracyTests {
    static let bound = 0x1p-50

    /// The documented formula in Float80. The angle 2πv is reduced exactly first
    /// (4v = q + f, |f| ≤ ½, both exact since v has 52 bits) so that the reference keeps its
    /// relative accuracy near the zeros of cos and sin.
    static func reference(a: UInt64, b: UInt64) -> (r: Float80, z0: Float80, z1: Float80) {
        let u = 1 - Float80(a >> 12) * 0x1p-52
        let v = Float80(b >> 12) * 0x1p-52
        let r = sqrtl(-2 * logl(u))
        let q = (4 * v).rounded()
        let theta = Float80.pi / 2 * (4 * v - q)
        let (c, s) = (cosl(theta), sinl(theta))
        switch Int(q) % 4 {
        case 0: return (r, r * c, r * s)
        case 1: return (r, -r * s, r * c)
        case 2: return (r, -r * c, -r * s)
        default: return (r, r * s, -r * c)
        }
    }

    struct Errors {
        var absolute: Float80 = 0  // max |z − z_ref| / r
        var relative: Float80 = 0  // max |z − z_ref| / |z_ref|
        var exactZeros = true      // z_ref == 0 implies z == 0
        mutating func add(_ z: Double, _ ref: Float80, r: Float80) {
            let e = abs(Float80(z) - ref)
            absolute = max(absolute, r > 0 ? e / r : e)
            if ref != 0 { relative = max(relative, e / abs(ref)) } else { exactZeros = exactZeros && z == 0 }
        }
    }

    /// Elements of a real stream, through the public fill and the documented element map.
    @Test func streamElements() {
        let s = stream(purpose: .noise)
        let n = 1 << 20
        let z = normals(s, count: n)
        var errors = Errors()
        for k in 0..<n {
            let (a, b, second) = words(s, element: k)
            let ref = Self.reference(a: a, b: b)
            errors.add(z[k], second ? ref.z1 : ref.z0, r: ref.r)
        }
        print("stream elements: max |z − z_ref|/r = \(Double(errors.absolute)), "
              + "max relative = \(Double(errors.relative))")
        #expect(errors.relative <= Float80(Self.bound))
        #expect(errors.exactZeros)
    }

    /// Words chosen so that u sweeps every binade (2⁻⁵² … 1) and the angle every quadrant,
    /// including the extremes.
    @Test func allBinades() {
        var errors = Errors()
        var seed: UInt32 = 0
        for t in 0..<52 {
            for _ in 0..<512 {
                seed += 1
                let w = Philox4x32.block(counter: SIMD4(seed, 0, 0, 0), key: SIMD2(1, 2))
                let low = UInt64(w[0]) << 32 | UInt64(w[1])
                // a >> 12 ≥ 2⁵² − 2ᵗ, i.e. u ≤ 2^(t − 52)
                let a = UInt64.max - (low & ((1 << (12 + t)) - 1))
                let b = UInt64(w[2]) << 32 | UInt64(w[3])
                let (z0, z1) = BoxMuller.normals(a: SIMD8(repeating: a), b: SIMD8(repeating: b))
                let ref = Self.reference(a: a, b: b)
                errors.add(z0[0], ref.z0, r: ref.r)
                errors.add(z1[0], ref.z1, r: ref.r)
            }
        }
        print("all binades: max |z − z_ref|/r = \(Double(errors.absolute)), "
              + "max relative = \(Double(errors.relative))")
        #expect(errors.relative <= Float80(Self.bound))
        #expect(errors.exactZeros)
    }

    /// Exact values at the ends of the uniform lattice and at the quadrant boundaries.
    @Test func extremes() {
        // u = 1 gives r = 0; u = 2⁻⁵² gives r_max = √(104 ln 2).
        let (zero, _) = BoxMuller.normals(a: SIMD8(repeating: 0), b: SIMD8(repeating: 0))
        #expect(zero[0] == 0)
        let (zmax, _) = BoxMuller.normals(a: SIMD8(repeating: .max), b: SIMD8(repeating: 0))
        #expect(abs(zmax[0] - (104 * M_LN2).squareRoot()) <= 2 * zmax[0].ulp)
        // v = 0, 1/4, 1/2, 3/4: (cos, sin) are exactly (1, 0), (0, 1), (−1, 0), (0, −1).
        let a: UInt64 = 0x9000_0000_0000_0000  // u = 7/16
        let r = Double(Self.reference(a: a, b: 0).r)
        let (radius, _) = BoxMuller.normals(a: SIMD8(repeating: a), b: SIMD8(repeating: 0))
        #expect(abs(radius[0] - r) <= r.ulp)
        let expected: [(Double, Double)] = [(1, 0), (0, 1), (-1, 0), (0, -1)]
        for (q, (c, s)) in expected.enumerated() {
            let (z0, z1) = BoxMuller.normals(a: SIMD8(repeating: a),
                                             b: SIMD8(repeating: UInt64(q) << 62))
            #expect(z0[0] == c * radius[0] && z1[0] == s * radius[0], "quadrant \(q)")
        }
    }
}
