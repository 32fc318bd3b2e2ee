#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The n-point Gauss–Legendre rule on [−1, 1] (exact for polynomials of degree 2n − 1):
/// nodes are the roots of P_n, found by Newton's method from Tricomi's initial guesses
/// cos(π(i − ¼)/(n + ½)), weights `2/((1 − x²) P_n′(x)²)`.
public struct GaussLegendre: Sendable {
    public let nodes: [Double]
    public let weights: [Double]

    public init(points n: Int) {
        precondition(n >= 1, "a Gauss–Legendre rule needs at least one point")
        var nodes = [Double](repeating: 0, count: n)
        var weights = [Double](repeating: 0, count: n)
        for i in 0..<(n + 1) / 2 {
            var x = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
            var derivative = 0.0
            for _ in 0..<100 {
                // P_n(x) and P_n′(x) by the three-term recurrence.
                var p0 = 1.0, p1 = x
                if n >= 2 {
                    for k in 2...n {
                        let pk = (Double(2 * k - 1) * x * p1 - Double(k - 1) * p0) / Double(k)
                        p0 = p1; p1 = pk
                    }
                }
                derivative = Double(n) * (x * p1 - p0) / (x * x - 1)
                let step = p1 / derivative
                x -= step
                if Swift.abs(step) <= 1e-16 { break }
            }
            let w = 2 / ((1 - x * x) * derivative * derivative)
            nodes[i] = -x; nodes[n - 1 - i] = x
            weights[i] = w; weights[n - 1 - i] = w
        }
        if n % 2 == 1 { nodes[n / 2] = 0 }
        self.nodes = nodes
        self.weights = weights
    }
}
