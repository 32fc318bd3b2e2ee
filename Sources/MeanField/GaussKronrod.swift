/// An integral's value with an estimate of its absolute error.
public struct QuadratureEstimate: Sendable, Equatable {
    /// The integral.
    public var value: Double
    /// Estimated absolute error (QUADPACK's heuristic on the 7/15-point difference).
    public var error: Double
    /// Whether the requested tolerance was met before the panel budget ran out.
    public var converged: Bool
}

/// Globally adaptive 7/15-point Gauss–Kronrod quadrature on a finite interval (Piessens,
/// de Doncker-Kapenga, Überhuber and Kahaner, *QUADPACK*, 1983, routines QK15/QAG).
///
/// The interval is first cut at the given breakpoints (kinks of the integrand, or points
/// where it changes on a new length scale); then the panel with the largest error estimate
/// is bisected until Σ error ≤ `relativeTolerance` · ∫|f| or `maxPanels` is reached.
/// Each panel's error is QUADPACK's `resasc · min(1, (200 |K15 − G7| / resasc)^{3/2})`,
/// floored at 50 ε ∫_panel |f|.
struct AdaptiveGaussKronrod: Sendable {
    var relativeTolerance: Double
    var maxPanels: Int

    private struct Panel {
        var a: Double, b: Double
        var value: Double, error: Double, absolute: Double
    }

    /// ∫ f over [points.first, points.last], `points` sorted ascending (at least two).
    func integrate(over points: [Double], _ f: (Double) -> Double) -> QuadratureEstimate {
        var panels: [Panel] = []
        panels.reserveCapacity(Swift.max(maxPanels, points.count))
        for i in 1..<points.count where points[i] > points[i - 1] {
            panels.append(Self.kronrod15(f, points[i - 1], points[i]))
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
            panels[worst] = Self.kronrod15(f, p.a, mid)
            panels.append(Self.kronrod15(f, mid, p.b))
        }
    }

    /// QUADPACK QK15 on [a, b].
    @inline(__always)
    private static func kronrod15(_ f: (Double) -> Double, _ a: Double, _ b: Double) -> Panel {
        // Kronrod abscissae on (0, 1], largest first; the odd-indexed ones (1, 3, 5) are the
        // 7-point Gauss abscissae; the centre is a node of both rules.
        let xgk: SIMD8<Double> = [
            0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
            0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
            0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
            0.207784955007898467600689403773245, 0,
        ]
        let wgk: SIMD8<Double> = [
            0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
            0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
            0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
            0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
        ]
        let wg: SIMD4<Double> = [
            0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
            0.381830050505118944950369775488975, 0.417959183673469387755102040816327,
        ]
        let centre = 0.5 * (a + b), half = 0.5 * (b - a)
        let fc = f(centre)
        var left = SIMD8<Double>(repeating: 0), right = SIMD8<Double>(repeating: 0)
        for j in 0..<7 {
            let dx = half * xgk[j]
            left[j] = f(centre - dx)
            right[j] = f(centre + dx)
        }
        let pair = left + right
        var kronrod = wgk[7] * fc, gauss = wg[3] * fc
        var absolute = wgk[7] * Swift.abs(fc)
        for j in 0..<7 {
            kronrod += wgk[j] * pair[j]
            absolute += wgk[j] * (Swift.abs(left[j]) + Swift.abs(right[j]))
        }
        gauss += wg[0] * pair[1] + wg[1] * pair[3] + wg[2] * pair[5]
        let mean = 0.5 * kronrod
        var spread = wgk[7] * Swift.abs(fc - mean)
        for j in 0..<7 { spread += wgk[j] * (Swift.abs(left[j] - mean) + Swift.abs(right[j] - mean)) }
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
