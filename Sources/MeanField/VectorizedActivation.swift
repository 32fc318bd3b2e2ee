#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Activation {
    /// `output[i] = φ(input[i])` for a whole buffer: four at a time for `tanh` (SIMD, see
    /// `Activation.tanh(_:)`), `relu` and `linear`, element by element otherwise. Wide
    /// layers spend most of their time here (10⁸ evaluations per network at N = 10⁶).
    /// `output` may be `input` itself.
    public func apply(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
        switch self {
        case .tanh: Self.map(TanhLanes.self, input, into: output)
        case .relu: Self.map(ReLULanes.self, input, into: output)
        case .linear: Self.map(IdentityLanes.self, input, into: output)
        default: Self.map(input, into: output, scalar: value)
        }
    }

    /// `output[i] = φ′(input[i])` for a whole buffer: SIMD for tanh (sech² x = (2/(E + 1/E))²,
    /// E = e^{|x|}: no cancellation, and no overflow before cosh's own), relu and linear;
    /// element by element otherwise, and for relu's kink the scalar convention.
    public func applyDerivative(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
        switch self {
        case .tanh: Self.map(TanhDerivativeLanes.self, input, into: output)
        case .relu: Self.map(ReLUDerivativeLanes.self, input, into: output)
        case .linear: Self.map(OneLanes.self, input, into: output)
        default: Self.map(input, into: output, scalar: derivative)
        }
    }

    /// `output[i] = f(input[i])`: four at a time through `F` (one AVX2 register; two of them
    /// per iteration; a type rather than a closure, so that it is inlined into the loop),
    /// the remainder through `F` too, zero-padded, so an element's value never depends on
    /// where it sits in the buffer (a layer mapped in blocks equals one mapped whole).
    @inline(__always)
    private static func map<F: LaneFunction>(_: F.Type, _ input: UnsafeBufferPointer<Double>,
                                             into output: UnsafeMutableBufferPointer<Double>) {
        precondition(output.count >= input.count, "output too short")
        let n = input.count
        var i = 0
        let src = UnsafeRawPointer(input.baseAddress!), dst = UnsafeMutableRawPointer(output.baseAddress!)
        while i + 8 <= n {
            let a = F.lanes(src.loadUnaligned(fromByteOffset: i * 8, as: SIMD4<Double>.self))
            let b = F.lanes(src.loadUnaligned(fromByteOffset: (i + 4) * 8, as: SIMD4<Double>.self))
            dst.storeBytes(of: a, toByteOffset: i * 8, as: SIMD4<Double>.self)
            dst.storeBytes(of: b, toByteOffset: (i + 4) * 8, as: SIMD4<Double>.self)
            i += 8
        }
        while i < n {
            var lanes = SIMD4<Double>()
            for k in 0..<Swift.min(4, n - i) { lanes[k] = input[i + k] }
            let values = F.lanes(lanes)
            for k in 0..<Swift.min(4, n - i) { output[i + k] = values[k] }
            i += 4
        }
    }

    /// `output[i] = f(input[i])` element by element.
    @inline(__always)
    private static func map(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>,
                            scalar: (Double) -> Double) {
        precondition(output.count >= input.count, "output too short")
        for i in input.indices { output[i] = scalar(input[i]) }
    }

    /// e^y for y ≥ 0 (+∞ beyond 709, where e^y overflows): `2^k (1 + P(r))` from
    /// ``exponentialParts(_:)``.
    @inline(__always)
    static func exponential(_ y: SIMD4<Double>) -> SIMD4<Double> {
        let (p, scale) = exponentialParts(y)
        return fma(scale, p, scale).replacing(with: .infinity, where: y .> 709)
    }

    /// `(P(r), 2^k)` with `e^y = 2^k (1 + P(r))`, y ≥ 0 clamped at 709
    /// (``exponentialParts(inRange:)``).
    @inline(__always)
    static func exponentialParts(_ y: SIMD4<Double>) -> (p: SIMD4<Double>, scale: SIMD4<Double>) {
        exponentialParts(inRange: y.replacing(with: 709, where: y .> 709))
    }

    /// `(P(r), 2^k)` with `e^y = 2^k (1 + P(r))` for 0 ≤ y ≤ 709: y = k ln 2 + r, |r| ≤ ln 2/2
    /// (Cody & Waite's two-part ln 2, with fused multiply–adds), P(r) = e^r − 1 by its Taylor
    /// series to r¹³ (truncation 5·10⁻¹⁸ relative to e^r, and P keeps full relative accuracy
    /// at small r: `expm1`). `P = r + r²(Q_e(r²) + r Q_o(r²))`: two Horner chains in r² of
    /// six terms each, which with the three steps after them are a chain of 8 instead of 13
    /// (Knuth, TAOCP vol. 2, §4.6.4), and, unlike Estrin's tree, need no copy of a
    /// coefficient: every step is one `vfmadd` onto the running sum. A NaN y gives a NaN P.
    ///
    /// k is rounded by adding 1.5·2⁵², which leaves it as an integer in the low bits of the
    /// sum's significand, so 2^k's bits are integer lane arithmetic on the sum's bits: no
    /// double-to-integer conversion, which AVX2 has no 4-lane instruction for. Four lanes:
    /// one AVX2 register.
    @inline(__always)
    static func exponentialParts(inRange y: SIMD4<Double>) -> (p: SIMD4<Double>, scale: SIMD4<Double>) {
        let ln2Hi = 0.693_147_180_369_123_816_49, ln2Lo = 1.908_214_929_270_587_700_02e-10
        let magic = 0x1.8p52
        let shifted = fma(y, 1 / 0.693_147_180_559_945_309_4, magic)   // round to nearest, ties to even
        let k = shifted - magic
        let r = fma(-k, ln2Lo, fma(-k, ln2Hi, y))
        let r2 = r * r
        @inline(__always) func step(_ sum: SIMD4<Double>, _ c: Double) -> SIMD4<Double> { fma(sum, r2, c) }
        let even = step(step(step(step(step(SIMD4(repeating: 1.0 / 479_001_600), 1.0 / 3_628_800), 1.0 / 40320),
                                   1.0 / 720), 1.0 / 24), 1.0 / 2)              // 1/2! … r¹⁰/12!
        let odd = step(step(step(step(step(SIMD4(repeating: 1.0 / 6_227_020_800), 1.0 / 39_916_800),
                                      1.0 / 362_880), 1.0 / 5040), 1.0 / 120), 1.0 / 6)  // 1/3! … r¹⁰/13!
        let p = fma(fma(odd, r, even), r2, r)
        let kBits = unsafeBitCast(shifted, to: SIMD4<UInt64>.self) &- magic.bitPattern
        return (p, unsafeBitCast((kBits &+ 1023) &<< 52, to: SIMD4<Double>.self))
    }

    /// `a·b + c` with one rounding (`vfmadd…pd` on hosts with FMA).
    @inline(__always)
    private static func fma(_ a: SIMD4<Double>, _ b: SIMD4<Double>, _ c: SIMD4<Double>) -> SIMD4<Double> {
        c.addingProduct(a, b)
    }

    @inline(__always)
    private static func fma(_ a: SIMD4<Double>, _ b: SIMD4<Double>, _ c: Double) -> SIMD4<Double> {
        SIMD4(repeating: c).addingProduct(a, b)
    }

    @inline(__always)
    private static func fma(_ a: SIMD4<Double>, _ b: Double, _ c: SIMD4<Double>) -> SIMD4<Double> {
        c.addingProduct(a, SIMD4(repeating: b))
    }

    @inline(__always)
    private static func fma(_ a: SIMD4<Double>, _ b: Double, _ c: Double) -> SIMD4<Double> {
        SIMD4(repeating: c).addingProduct(a, SIMD4(repeating: b))
    }

    /// tanh, four at a time, within 1e-14 relative of the scalar `tanh` for every finite x:
    /// `sign(x) E/(E + 2)` with `E = e^{2|x|} − 1` (``exponentialParts(inRange:)``:
    /// `E = 2^k P + (2^k − 1)`), which has no cancellation anywhere: at small |x| E keeps
    /// its relative accuracy, and the quotient adds one rounding. 2|x| is clamped at 40
    /// (1 − tanh 20 < 10⁻¹⁷). NaN in, NaN out (through the arithmetic: P is NaN).
    @inline(__always)
    public static func tanh(_ x: SIMD4<Double>) -> SIMD4<Double> {
        let negative = x .< 0
        let a = x.replacing(with: -x, where: negative)
        let (p, scale) = exponentialParts(inRange: (2 * a).replacing(with: 40, where: a .> 20))
        let e = fma(scale, p, scale - 1)
        let t = e / (e + 2)
        return t.replacing(with: -t, where: negative)
    }
}

/// A function of four doubles at a time, for `Activation.map`.
private protocol LaneFunction {
    static func lanes(_ x: SIMD4<Double>) -> SIMD4<Double>
}

private enum TanhLanes: LaneFunction {
    @inline(__always) static func lanes(_ x: SIMD4<Double>) -> SIMD4<Double> { Activation.tanh(x) }
}

/// As `Activation.value`: NaN and −0 give 0.
private enum ReLULanes: LaneFunction {
    @inline(__always) static func lanes(_ x: SIMD4<Double>) -> SIMD4<Double> { x.replacing(with: 0, where: .!(x .> 0)) }
}

private enum IdentityLanes: LaneFunction {
    @inline(__always) static func lanes(_ x: SIMD4<Double>) -> SIMD4<Double> { x }
}

/// sech² x = (2/(E + 1/E))², E = e^{|x|}.
private enum TanhDerivativeLanes: LaneFunction {
    @inline(__always) static func lanes(_ x: SIMD4<Double>) -> SIMD4<Double> {
        let a = x.replacing(with: -x, where: x .< 0)
        let e = Activation.exponential(a.replacing(with: 0, where: x .!= x))
        let sech = 2 / (e + 1 / e)
        return (sech * sech).replacing(with: x, where: x .!= x)
    }
}

private enum ReLUDerivativeLanes: LaneFunction {
    @inline(__always) static func lanes(_ x: SIMD4<Double>) -> SIMD4<Double> {
        SIMD4<Double>(repeating: 0).replacing(with: 1, where: x .> 0)
    }
}

private enum OneLanes: LaneFunction {
    @inline(__always) static func lanes(_ x: SIMD4<Double>) -> SIMD4<Double> { SIMD4<Double>(repeating: 1) }
}
