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

    /// `(P(r), 2^k)` with `e^y = 2^k (1 + P(r))`, y ≥ 0 clamped at 709: y = k ln 2 + r,
    /// |r| ≤ ln 2/2, P(r) = e^r − 1 by its Taylor series to r¹³ (truncation 5·10⁻¹⁸ relative
    /// to e^r, and P keeps full relative accuracy at small r: `expm1`), evaluated by
    /// Estrin's scheme (Knuth, TAOCP vol. 2, §4.6.4: a tree of depth 4 instead of a chain of
    /// 13 dependent steps) with fused multiply–adds.
    ///
    /// k is rounded by adding 1.5·2⁵², which leaves it as an integer in the low bits of the
    /// sum's significand, so 2^k's bits are integer lane arithmetic on the sum's bits: no
    /// double-to-integer conversion, which AVX2 has no 4-lane instruction for. Four lanes:
    /// one AVX2 register.
    @inline(__always)
    static func exponentialParts(_ y: SIMD4<Double>) -> (p: SIMD4<Double>, scale: SIMD4<Double>) {
        let clamped = y.replacing(with: 709, where: y .> 709)
        let ln2Hi = 0.693_147_180_369_123_816_49, ln2Lo = 1.908_214_929_270_587_700_02e-10
        let magic = 0x1.8p52
        let shifted = clamped * (1 / 0.693_147_180_559_945_309_4) + magic   // round to nearest, ties to even
        let k = shifted - magic
        let r = clamped - k * ln2Hi - k * ln2Lo
        let r2 = r * r, r4 = r2 * r2, r8 = r4 * r4
        let q0 = fma(r, 1.0 / 6, 1.0 / 2), q1 = fma(r, 1.0 / 120, 1.0 / 24)
        let q2 = fma(r, 1.0 / 5040, 1.0 / 720), q3 = fma(r, 1.0 / 362_880, 1.0 / 40320)
        let q4 = fma(r, 1.0 / 39_916_800, 1.0 / 3_628_800), q5 = fma(r, 1.0 / 6_227_020_800, 1.0 / 479_001_600)
        let low = fma(fma(q3, r2, q2), r4, fma(q1, r2, q0))   // P's terms r² … r⁹, over r²
        let high = fma(q5, r2, q4)                            // r¹⁰ … r¹³, over r¹⁰
        let p = fma(fma(high, r8, low), r2, r)
        let kBits = unsafeBitCast(shifted, to: SIMD4<UInt64>.self) &- magic.bitPattern
        return (p, unsafeBitCast((kBits &+ 1023) &<< 52, to: SIMD4<Double>.self))
    }

    /// `a·b + c` with one rounding (`vfmadd…pd` on hosts with FMA).
    @inline(__always)
    private static func fma(_ a: SIMD4<Double>, _ b: SIMD4<Double>, _ c: SIMD4<Double>) -> SIMD4<Double> {
        c.addingProduct(a, b)
    }

    @inline(__always)
    private static func fma(_ a: SIMD4<Double>, _ b: Double, _ c: Double) -> SIMD4<Double> {
        SIMD4(repeating: c).addingProduct(a, SIMD4(repeating: b))
    }

    @inline(__always)
    private static func fma(_ a: SIMD4<Double>, _ b: SIMD4<Double>, _ c: Double) -> SIMD4<Double> {
        SIMD4(repeating: c).addingProduct(a, b)
    }

    /// tanh, four at a time, within 1e-14 relative of the scalar `tanh` for every finite x:
    /// `sign(x) E/(E + 2)` with `E = e^{2|x|} − 1` (``exponentialParts(_:)``:
    /// `E = 2^k P + (2^k − 1)`), which has no cancellation anywhere: at small |x| E keeps
    /// its relative accuracy, and the quotient adds one rounding. 2|x| is clamped at 40
    /// (1 − tanh 20 < 10⁻¹⁷). NaN in, NaN out.
    @inline(__always)
    public static func tanh(_ x: SIMD4<Double>) -> SIMD4<Double> {
        let a = x.replacing(with: -x, where: x .< 0)
        // NaN lanes are given y = 0 so the exponent arithmetic stays defined; they are put
        // back at the end.
        let y = (2 * a).replacing(with: 40, where: a .> 20).replacing(with: 0, where: x .!= x)
        let (p, scale) = exponentialParts(y)
        let e = fma(scale, p, scale - 1)
        let t = e / (e + 2)
        return t.replacing(with: -t, where: x .< 0).replacing(with: x, where: x .!= x)
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
