#if canImport(Glibc)
// Links libm: unoptimised builds lower `Double.squareRoot()` to a call to the C `sqrt`.
import Glibc
#endif

/// The Box–Muller transform on eight lanes, with its own polynomial `log` and `sincos`.
///
/// For a block with packed words `a = w0 << 32 | w1` and `b = w2 << 32 | w3` (see
/// ``PhiloxLanes``), the uniforms and the pair of normals are
///
///     u = 1 − ⌊a / 2¹²⌋ · 2⁻⁵²      ∈ {2⁻⁵², 2·2⁻⁵², …, 1}       (0, 1]: log u is finite
///     v = ⌊b / 2¹²⌋ · 2⁻⁵²          ∈ {0, 2⁻⁵², …, 1 − 2⁻⁵²}    [0, 1)
///     r = √(−2 ln u),   z₀ = r cos 2πv,   z₁ = r sin 2πv.
///
/// `(z₀, z₁)` are exactly independent standard normals for exactly uniform `(u, v)`; with
/// the 52-bit lattice the largest |z| is r_max = √(104 ln 2) ≈ 8.49 (a normal exceeds it with
/// probability 2·10⁻¹⁷).
///
/// ## Evaluation (every step is an IEEE basic operation, `fma` or `sqrt`, so the results
/// are the same bits on every machine, whatever its vector width)
///
/// - `ln u`: `u = 2ᵉ·m` with `m ∈ [√½, √2)`, `s = (m − 1)/(m + 1)`,
///   `ln m = 2 atanh s = 2s + s·(s² G(s²))`, `G` a degree-6 near-minimax polynomial on
///   `s² ∈ [0, 0.0295]` (Chebyshev fit, truncation error < 5·10⁻¹⁸ relative to `ln m`),
///   `ln u = e·ln2_hi + (e·ln2_lo + ln m)` with the fdlibm split of ln 2.
/// - The angle needs no argument reduction: `4v = q + f` with an integer quadrant
///   `q ∈ 0...3` and `f ∈ [−½, ½)` are read off the bits of `b` exactly, and
///   `sin(πf/2) = f·P(f²)`, `cos(πf/2) = Q(f²)` with near-minimax polynomials of degree 6
///   and 7 in `f²` (truncation errors < 4·10⁻¹⁷ and < 2·10⁻¹⁷); the quadrant swaps and
///   negates them.
///
/// ## Accuracy
///
/// Against the same formula evaluated in `Float80` with Glibc `logl`, `sinl`, `cosl`,
/// `sqrtl` for the same uniforms (angle reduced exactly, so the reference is good to ~10⁻¹⁹
/// relative): max |z − z_ref| / |z_ref| = 4.6·10⁻¹⁶ (about 4·2⁻⁵³) over 3.4·10⁷ normals
/// spanning every binade of u and every quadrant. The tests assert
/// |z − z_ref| ≤ 2⁻⁵⁰·|z_ref| ≈ 8.9·10⁻¹⁶·|z_ref| for every element, zeros included
/// (`TransformAccuracyTests`). A `Float` normal is therefore the correctly rounded `Float`
/// of the exact Box–Muller value except within 10⁻¹⁵ (relative) of a rounding tie.
enum BoxMuller {
    typealias D8 = SIMD8<Double>
    typealias U8 = SIMD8<UInt64>

    // ln m = 2s + s·(w·G(w)), w = s², G(w) = 2/3 + 2w/5 + … (coefficients ascending).
    static let g0 = 0x1.5555555555558p-1, g1 = 0x1.99999999952e2p-2, g2 = 0x1.2492492df148dp-2,
               g3 = 0x1.c71c62e5800a1p-3, g4 = 0x1.7462b4ab2ef6bp-3, g5 = 0x1.39fe606542ddep-3,
               g6 = 0x1.2b584aae78a57p-3
    // sin(πf/2) = f·P(f²).
    static let p0 = 0x1.921fb54442d18p+0, p1 = -0x1.4abbce625be41p-1, p2 = 0x1.466bc677587f8p-4,
               p3 = -0x1.32d2cce2e5b19p-8, p4 = 0x1.50782fda12d96p-13,
               p5 = -0x1.e30071afc3e59p-19, p6 = 0x1.e3f38399551bfp-25
    // cos(πf/2) = Q(f²).
    static let q0 = 1.0, q1 = -0x1.3bd3cc9be45dep+0, q2 = 0x1.03c1f081b5aacp-2,
               q3 = -0x1.55d3c7e3c90f8p-6, q4 = 0x1.e1f5068355e15p-11,
               q5 = -0x1.a6d1ec7906c20p-16, q6 = 0x1.f9cc41140bb60p-22,
               q7 = -0x1.b264ba152378ap-28
    // ln 2 = ln2Hi + ln2Lo; ln2Hi has 32 significant bits, so e·ln2Hi is exact.
    static let ln2Hi = 0x1.62e42fee00000p-1, ln2Lo = 0x1.a39ef35793c76p-33

    /// The pair `(z₀, z₁)` for eight blocks (formulas above).
    @inline(__always)
    static func normals(a: U8, b: U8) -> (D8, D8) {
        let r = radius(a)
        let (c, s) = cosSin(b)
        return (r * c, r * s)
    }

    /// `r = √(−2 ln u)` with `u = 1 − ⌊a / 2¹²⌋ · 2⁻⁵²`.
    @inline(__always)
    static func radius(_ a: U8) -> D8 {
        let u = 2 - double(0x3FF0_0000_0000_0000 | (a &>> 12))  // exact, in (0, 1]
        // u = 2^e · m, m ∈ [√½, √2): shift the bits so that the exponent field rounds at √½
        // (0x3FE6A09E667F3BCD is √½), as in fdlibm/musl log.
        let shifted = bits(u) &+ (0x3FF0_0000_0000_0000 &- 0x3FE6_A09E_667F_3BCD)
        let e = double(0x4330_0000_0000_0000 | (shifted &>> 52)) - (0x1p52 + 1023)
        let m = double((shifted & 0x000F_FFFF_FFFF_FFFF) &+ 0x3FE6_A09E_667F_3BCD)
        let f = m - 1  // exact (Sterbenz)
        let s = f / (2 + f)
        let w = s * s
        var g = D8(repeating: g6)
        g = fma(g, w, g5); g = fma(g, w, g4); g = fma(g, w, g3)
        g = fma(g, w, g2); g = fma(g, w, g1); g = fma(g, w, g0)
        let lnM = fma(s, w * g, s + s)
        let lnU = fma(e, D8(repeating: ln2Hi), fma(e, D8(repeating: ln2Lo), lnM))
        return squareRoot(-2 * lnU)
    }

    /// `(cos 2πv, sin 2πv)` with `v = ⌊b / 2¹²⌋ · 2⁻⁵²`.
    @inline(__always)
    static func cosSin(_ b: U8) -> (D8, D8) {
        // 4v = q + f: adding 2⁶¹ rounds the quadrant (top two bits) to nearest.
        let t = b &+ (1 << 61)
        let q = t &>> 62
        let f = (double(0x4330_0000_0000_0000 | ((t &>> 12) & ((1 << 50) - 1)))
                 - (0x1p52 + 0x1p49)) * 0x1p-50  // exact, in [−½, ½)
        let w = f * f
        var p = D8(repeating: p6)
        p = fma(p, w, p5); p = fma(p, w, p4); p = fma(p, w, p3)
        p = fma(p, w, p2); p = fma(p, w, p1); p = fma(p, w, p0)
        let sinF = f * p
        var cosF = D8(repeating: q7)
        cosF = fma(cosF, w, q6); cosF = fma(cosF, w, q5); cosF = fma(cosF, w, q4)
        cosF = fma(cosF, w, q3); cosF = fma(cosF, w, q2); cosF = fma(cosF, w, q1)
        cosF = fma(cosF, w, q0)
        // cos(π/2 (q+f)), sin(π/2 (q+f)): swap on odd q, negate cos for q ∈ {1, 2} and sin
        // for q ∈ {2, 3}.
        let odd = 0 &- (q & 1)
        let swap = (bits(cosF) ^ bits(sinF)) & odd
        let cosSign = ((q &+ 1) & 2) &<< 62
        let sinSign = (q & 2) &<< 62
        return (double(bits(cosF) ^ swap ^ cosSign), double(bits(sinF) ^ swap ^ sinSign))
    }

    @inline(__always) static func double(_ x: U8) -> D8 { unsafeBitCast(x, to: D8.self) }
    @inline(__always) static func bits(_ x: D8) -> U8 { unsafeBitCast(x, to: U8.self) }

    /// `a·b + c` with one rounding (`vfmadd…pd`).
    @inline(__always) static func fma(_ a: D8, _ b: D8, _ c: D8) -> D8 {
        c.addingProduct(a, b)
    }
    @inline(__always) static func fma(_ a: D8, _ b: D8, _ c: Double) -> D8 {
        D8(repeating: c).addingProduct(a, b)
    }

    /// Lane-wise square root of a non-negative vector. Written per lane on `magnitude` so
    /// that the compiler knows the argument is not negative and emits `vsqrtpd` instead of
    /// a guarded call to the C `sqrt` (which `SIMD.squareRoot()` becomes).
    @inline(__always) static func squareRoot(_ x: D8) -> D8 {
        var r = D8()
        for i in 0..<8 { r[i] = x[i].magnitude.squareRoot() }
        return r
    }
}
