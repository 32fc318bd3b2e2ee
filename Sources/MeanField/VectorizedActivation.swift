#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Activation {
    /// `output[i] = φ(input[i])` for a whole buffer: eight at a time for `tanh` (SIMD, see
    /// `Activation.tanh(_:)`), `relu` and `linear`, element by element otherwise. Wide
    /// layers spend most of their time here (10⁸ evaluations per network at N = 10⁶).
    public func apply(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
        let lanes: ((SIMD8<Double>) -> SIMD8<Double>)?
        switch self {
        case .tanh: lanes = Activation.tanh
        case .relu: lanes = { $0.replacing(with: 0, where: .!($0 .> 0)) }   // as `value`: NaN and −0 give 0
        case .linear: lanes = { $0 }
        default: lanes = nil
        }
        Self.map(input, into: output, lanes: lanes, scalar: value)
    }

    /// `output[i] = φ′(input[i])` for a whole buffer: SIMD for tanh (sech² x = (2/(E + 1/E))²,
    /// E = e^{|x|}: no cancellation, and no overflow before cosh's own), relu and linear;
    /// element by element otherwise, and for relu's kink the scalar convention.
    public func applyDerivative(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
        let lanes: ((SIMD8<Double>) -> SIMD8<Double>)?
        switch self {
        case .tanh:
            lanes = { x in
                let a = x.replacing(with: -x, where: x .< 0)
                let e = Activation.exponential(a.replacing(with: 0, where: x .!= x))
                let sech = 2 / (e + 1 / e)
                return (sech * sech).replacing(with: x, where: x .!= x)
            }
        case .relu: lanes = { SIMD8<Double>(repeating: 0).replacing(with: 1, where: $0 .> 0) }
        case .linear: lanes = { _ in SIMD8<Double>(repeating: 1) }
        default: lanes = nil
        }
        Self.map(input, into: output, lanes: lanes, scalar: derivative)
    }

    /// `output[i] = f(input[i])`: eight at a time through `lanes` where there is one, the
    /// remainder (and everything without `lanes`) through `scalar`.
    @inline(__always)
    private static func map(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>,
                            lanes: ((SIMD8<Double>) -> SIMD8<Double>)?, scalar: (Double) -> Double) {
        precondition(output.count >= input.count, "output too short")
        let n = input.count
        var i = 0
        if let lanes {
            let src = UnsafeRawPointer(input.baseAddress!), dst = UnsafeMutableRawPointer(output.baseAddress!)
            while i + 8 <= n {
                dst.storeBytes(of: lanes(src.loadUnaligned(fromByteOffset: i * 8, as: SIMD8<Double>.self)),
                               toByteOffset: i * 8, as: SIMD8<Double>.self)
                i += 8
            }
        }
        while i < n { output[i] = scalar(input[i]); i += 1 }
    }

    /// e^y for y ≥ 0 (+∞ beyond 709, where e^y overflows): y = k ln 2 + r, |r| ≤ ln 2/2,
    /// the Taylor series of e^r to r¹³ (truncation 5·10⁻¹⁸ relative) times 2^k from its
    /// exponent bits.
    static func exponential(_ y: SIMD8<Double>) -> SIMD8<Double> {
        let clamped = y.replacing(with: 709, where: y .> 709)
        let ln2Hi = 0.693_147_180_369_123_816_49, ln2Lo = 1.908_214_929_270_587_700_02e-10
        let k = (clamped * (1 / 0.693_147_180_559_945_309_4)).rounded(.toNearestOrEven)
        let r = clamped - k * ln2Hi - k * ln2Lo
        var p = SIMD8<Double>(repeating: inverseFactorials[13])
        var n = 12
        while n >= 0 { p = p * r + inverseFactorials[n]; n -= 1 }
        var bits = SIMD8<UInt64>()
        for i in 0..<8 { bits[i] = UInt64(Int(k[i]) + 1023) << 52 }
        return (p * unsafeBitCast(bits, to: SIMD8<Double>.self)).replacing(with: .infinity, where: y .> 709)
    }

    /// tanh, eight at a time, within 1e-14 relative of the scalar `tanh` for every finite x:
    /// `x·P(x²)`, the Taylor series to x¹⁹ (truncation < 10⁻¹⁷ relative), for |x| < 1/8;
    /// `sign(x)(1 − 2/(e^{2|x|} + 1))` above, whose subtraction loses at most a factor
    /// 1/tanh(1/8) ≈ 8 (≤ 8·3ε ≈ 5·10⁻¹⁵); ±1 beyond |x| = 20 (1 − tanh 20 < 10⁻¹⁷). e^y by
    /// y = k ln 2 + r, |r| ≤ ln 2/2, the Taylor series of e^r to r¹³ (truncation 5·10⁻¹⁸)
    /// and 2^k from its exponent bits. NaN in, NaN out.
    public static func tanh(_ x: SIMD8<Double>) -> SIMD8<Double> {
        let a = x.replacing(with: -x, where: x .< 0)
        let x2 = x * x
        var series = SIMD8<Double>(repeating: tanhSeries[tanhSeries.count - 1])
        var j = tanhSeries.count - 2
        while j >= 0 { series = series * x2 + tanhSeries[j]; j -= 1 }
        series *= x
        // Large |x|: 1 − 2/(e^{2a} + 1), with 2a clamped to where it still matters.
        // NaN lanes are given y = 0 so the exponent arithmetic stays defined; they are put
        // back at the end.
        let y = (2 * a).replacing(with: 40, where: a .> 20).replacing(with: 0, where: x .!= x)
        var large = 1 - 2 / (exponential(y) + 1)
        large = large.replacing(with: -large, where: x .< 0)
        var result = large.replacing(with: series, where: a .< 0.125)
        result = result.replacing(with: x, where: x .!= x)   // NaN
        return result
    }
}

/// tanh x = x Σ c_n x^{2n}, c_n = 2^{2n+2}(2^{2n+2} − 1) B_{2n+2}/(2n+2)!: 1, −1/3, 2/15, …
private let tanhSeries: [Double] = [1, -1.0 / 3, 2.0 / 15, -17.0 / 315, 62.0 / 2835, -1382.0 / 155_925,
                                    21844.0 / 6_081_075, -929_569.0 / 638_512_875, 6_404_582.0 / 10_854_718_875,
                                    -443_861_162.0 / 1_856_156_927_625]

/// 1/n!, n = 0 … 13.
private let inverseFactorials: [Double] = (0...13).map { n in 1 / (1...max(n, 1)).reduce(1.0) { $0 * Double($1) } }

