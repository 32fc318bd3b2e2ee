import Foundation

/// Independent reference quadrature for the tests: tanh-sinh (double-exponential, Takahasi &
/// Mori 1974) on each panel between split points, halving the step until two levels agree.
/// It shares nothing with the module's adaptive Gauss–Kronrod.
enum Reference {
    /// ∫_a^b f by tanh-sinh, to ~1e-15 relative for functions analytic inside the panel.
    static func tanhSinh(_ a: Double, _ b: Double, _ f: (Double) -> Double) -> Double {
        let centre = 0.5 * (a + b), half = 0.5 * (b - a)
        func level(_ h: Double) -> Double {
            var sum = 0.0
            var k = 0
            while true {
                let t = Double(k) * h
                if t > 3.5 { break }
                let u = Double.pi / 2 * sinh(t)
                let x = tanh(u)
                let w = Double.pi / 2 * cosh(t) / (cosh(u) * cosh(u))
                sum += k == 0 ? w * f(centre) : w * (f(centre + half * x) + f(centre - half * x))
                k += 1
            }
            return sum * h * half
        }
        var h = 0.5
        var previous = level(h)
        while h > 1.0 / 512 {
            h /= 2
            let next = level(h)
            if abs(next - previous) <= 1e-15 * abs(next) { return next }
            previous = next
        }
        return previous
    }

    /// E f(√q z), integrated in x = √q z over [−12√q, 12√q], split at `splits` (x-points),
    /// at x = 0 and at a geometric ladder of unit-scale and Gaussian-scale points.
    static func gaussianMean(q: Double, splits: [Double], _ f: (Double) -> Double) -> Double {
        let s = q.squareRoot(), end = 12 * s
        var points: Set<Double> = [-end, 0, end]
        for k in splits { points.insert(k) }
        for p in stride(from: -6.0, through: 7.0, by: 1.0) {
            points.insert(pow(2, p)); points.insert(-pow(2, p))
            points.insert(s * pow(2, p / 2)); points.insert(-s * pow(2, p / 2))
        }
        let sorted = points.filter { $0 >= -end && $0 <= end }.sorted()
        var total = 0.0
        for i in 1..<sorted.count {
            total += tanhSinh(sorted[i - 1], sorted[i]) { x in
                f(x) * exp(-0.5 * (x / s) * (x / s)) / (s * (2 * Double.pi).squareRoot())
            }
        }
        return total
    }
}

/// |a − b| / max(|b|, tiny).
func relativeError(_ a: Double, _ b: Double) -> Double {
    abs(a - b) / max(abs(b), 1e-300)
}
