/// An integral's value with an estimate of its absolute error.
public struct QuadratureEstimate: Sendable, Equatable {
    /// The integral.
    public var value: Double
    /// Estimated absolute error (QUADPACK's heuristic on the 7/15-point difference).
    public var error: Double
    /// Whether the requested tolerance was met before the panel budget ran out.
    public var converged: Bool
}

/// A Gauss–Kronrod pair on [−1, 1]: the Kronrod abscissae in [0, 1) largest first, ending
/// with 0; the Gauss abscissae are those at odd indices. Constants of QUADPACK (Piessens et
/// al. 1983), computed by L. W. Fullerton (Bell Labs, 1981).
struct KronrodRule: Sendable {
    let nodes: [Double]
    let kronrodWeights: [Double]
    /// Gauss weights for nodes[1], nodes[3], … (the 10-point rule has no centre node).
    let gaussWeights: [Double]

    /// QK21: the 10-point Gauss rule and its 21-point Kronrod extension (exact to degree 31).
    static let k21 = KronrodRule(
        nodes: [
            0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
            0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
            0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
            0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
            0.294392862701460198131126603103866, 0.148874338981631210884826001129720, 0,
        ],
        kronrodWeights: [
            0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
            0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
            0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
            0.123491976262065851077958109831074, 0.134709217311473325928054001771707,
            0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
            0.149445554002916905664936468389821,
        ],
        gaussWeights: [
            0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
            0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
            0.295524224714752870173892994651338,
        ])
}

/// Globally adaptive Gauss–Kronrod quadrature on a finite interval (Piessens,
/// de Doncker-Kapenga, Überhuber and Kahaner, *QUADPACK*, 1983, routines QK21/QAG).
///
/// The interval is first cut at the given breakpoints (kinks of the integrand, or points
/// where it changes on a new length scale); then the panel with the largest error estimate
/// is bisected until Σ error ≤ `relativeTolerance` · ∫|f| or `maxPanels` is reached.
/// Each panel's error is QUADPACK's `resasc · min(1, (200 |Kronrod − Gauss| / resasc)^{3/2})`,
/// floored at 50 ε ∫_panel |f|.
struct AdaptiveGaussKronrod: Sendable {
    var relativeTolerance: Double
    var maxPanels: Int

    /// An integrand evaluated a panel's nodes at a time: `values[i] = f(nodes[i])`, so that f
    /// can be vectorised (`Activation.apply`).
    typealias Integrand = (_ nodes: UnsafeBufferPointer<Double>, _ values: UnsafeMutableBufferPointer<Double>) -> Void

    private struct Panel {
        var a: Double, b: Double
        var value: Double, error: Double, absolute: Double
    }

    /// ∫ f over [points.first, points.last], `points` sorted ascending (at least two).
    func integrate(over points: [Double], _ f: (Double) -> Double) -> QuadratureEstimate {
        integrate(over: points) { nodes, values in
            for i in nodes.indices { values[i] = f(nodes[i]) }
        }
    }

    /// ∫ f over [points.first, points.last], f evaluated 21 nodes at a time.
    func integrate(over points: [Double], batch f: Integrand) -> QuadratureEstimate {
        let rule = KronrodRule.k21
        var panels: [Panel] = []
        panels.reserveCapacity(points.count + 32)
        for i in 1..<points.count where points[i] > points[i - 1] {
            panels.append(Self.panel(rule, f, points[i - 1], points[i]))
        }
        while true {
            var value = 0.0, error = 0.0, absolute = 0.0, worst = -1, worstError = 0.0
            for (i, p) in panels.enumerated() {
                value += p.value; error += p.error; absolute += p.absolute
                if p.error > worstError { worstError = p.error; worst = i }
            }
            let target = relativeTolerance * absolute
            if error <= target || worst < 0 { return QuadratureEstimate(value: value, error: error, converged: true) }
            let p = panels[worst]
            let mid = 0.5 * (p.a + p.b)
            if panels.count >= maxPanels || !(mid > p.a && mid < p.b) {
                return QuadratureEstimate(value: value, error: error, converged: false)
            }
            panels[worst] = Self.panel(rule, f, p.a, mid)
            panels.append(Self.panel(rule, f, mid, p.b))
        }
    }

    /// QUADPACK's QK21 on [a, b]: the nodes are the centre, then each symmetric pair
    /// (left, right), largest offset first.
    @inline(__always)
    private static func panel(_ rule: KronrodRule, _ f: Integrand, _ a: Double, _ b: Double) -> Panel {
        let n = rule.nodes.count - 1          // symmetric pairs
        let centre = 0.5 * (a + b), half = 0.5 * (b - a)
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * (2 * n + 1)) { buffer in
            let nodes = UnsafeMutableBufferPointer(rebasing: buffer[0..<(2 * n + 1)])
            let values = UnsafeMutableBufferPointer(rebasing: buffer[(2 * n + 1)...])
            nodes[0] = centre
            for j in 0..<n {
                let dx = half * rule.nodes[j]
                nodes[2 * j + 1] = centre - dx
                nodes[2 * j + 2] = centre + dx
            }
            f(UnsafeBufferPointer(nodes), values)
            let fc = values[0]
            var kronrod = rule.kronrodWeights[n] * fc
            var gauss = 0.0
            var absolute = rule.kronrodWeights[n] * Swift.abs(fc)
            for j in 0..<n {
                let left = values[2 * j + 1], right = values[2 * j + 2]
                kronrod += rule.kronrodWeights[j] * (left + right)
                absolute += rule.kronrodWeights[j] * (Swift.abs(left) + Swift.abs(right))
                if j % 2 == 1 { gauss += rule.gaussWeights[j / 2] * (left + right) }
            }
            let mean = 0.5 * kronrod
            var spread = rule.kronrodWeights[n] * Swift.abs(fc - mean)
            for j in 0..<n {
                spread += rule.kronrodWeights[j] * (Swift.abs(values[2 * j + 1] - mean) + Swift.abs(values[2 * j + 2] - mean))
            }
            let h = Swift.abs(half)
            absolute *= h; spread *= h
            var error = Swift.abs((kronrod - gauss) * half)
            if spread != 0 && error != 0 {
                let r = 200 * error / spread
                error = spread * Swift.min(1, r * r.squareRoot())
            }
            if absolute > Double.leastNormalMagnitude / (50 * Double.ulpOfOne) {
                error = Swift.max(50 * Double.ulpOfOne * absolute, error)
            }
            return Panel(a: a, b: b, value: kronrod * half, error: error, absolute: absolute)
        }
    }
}
