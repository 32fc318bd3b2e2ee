#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A complex number in Cartesian form: the minimum the S-transform solver needs
/// (field operations, principal logarithm, modulus).
struct Complex: Sendable, Equatable {
    var re: Double
    var im: Double

    init(_ re: Double, _ im: Double = 0) {
        self.re = re
        self.im = im
    }

    static let zero = Complex(0, 0)
    static let one = Complex(1, 0)

    /// |z| without intermediate overflow.
    var magnitude: Double { hypot(re, im) }
    var isFinite: Bool { re.isFinite && im.isFinite }
    var conjugate: Complex { Complex(re, -im) }

    /// The principal logarithm, imaginary part in (−π, π].
    var log: Complex { Complex(realLogarithm(magnitude), atan2(im, re)) }

    static func + (a: Complex, b: Complex) -> Complex { Complex(a.re + b.re, a.im + b.im) }
    static func - (a: Complex, b: Complex) -> Complex { Complex(a.re - b.re, a.im - b.im) }
    static prefix func - (a: Complex) -> Complex { Complex(-a.re, -a.im) }
    static func * (a: Complex, b: Complex) -> Complex {
        Complex(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re)
    }
    static func * (a: Double, b: Complex) -> Complex { Complex(a * b.re, a * b.im) }
    static func + (a: Double, b: Complex) -> Complex { Complex(a + b.re, b.im) }
    static func + (a: Complex, b: Double) -> Complex { Complex(a.re + b, a.im) }
    static func - (a: Double, b: Complex) -> Complex { Complex(a - b.re, -b.im) }
    static func - (a: Complex, b: Double) -> Complex { Complex(a.re - b, a.im) }

    /// a/b by Smith's algorithm (no overflow for large |b|).
    static func / (a: Complex, b: Complex) -> Complex {
        if Swift.abs(b.re) >= Swift.abs(b.im) {
            let r = b.im / b.re, d = b.re + b.im * r
            return Complex((a.re + a.im * r) / d, (a.im - a.re * r) / d)
        } else {
            let r = b.re / b.im, d = b.re * r + b.im
            return Complex((a.re * r + a.im) / d, (a.im * r - a.re) / d)
        }
    }
    static func / (a: Double, b: Complex) -> Complex { Complex(a, 0) / b }
    static func / (a: Complex, b: Double) -> Complex { Complex(a.re / b, a.im / b) }

    static func += (a: inout Complex, b: Complex) { a = a + b }
    static func -= (a: inout Complex, b: Complex) { a = a - b }
}

/// ln x (a free function so that the name does not resolve to `Complex.log`).
@inline(__always)
func realLogarithm(_ x: Double) -> Double { log(x) }
