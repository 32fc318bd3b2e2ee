/// Brent's method (R. P. Brent, *Algorithms for Minimization without Derivatives*, 1973,
/// ch. 4, "zeroin"): a root of f in [a, b] given f(a) f(b) ≤ 0, by inverse quadratic
/// interpolation safeguarded with bisection, to |b − root| ≤ 2ε|b| + absoluteTolerance/2.
func brentRoot(_ f: (Double) -> Double, _ a: Double, _ b: Double, fa: Double, fb: Double,
               absoluteTolerance: Double = 0) -> Double {
    precondition(!(fa > 0 && fb > 0) && !(fa < 0 && fb < 0), "brentRoot needs a bracket")
    if fa == 0 { return a }
    var (a, b, fa, fb) = (a, b, fa, fb)
    var (c, fc) = (b, fb)
    var d = b - a, e = d
    for _ in 0..<300 {
        if (fb > 0 && fc > 0) || (fb < 0 && fc < 0) {
            (c, fc) = (a, fa)
            d = b - a; e = d
        }
        if Swift.abs(fc) < Swift.abs(fb) {
            (a, fa) = (b, fb)
            (b, fb) = (c, fc)
            (c, fc) = (a, fa)
        }
        let tolerance = 2 * Double.ulpOfOne * Swift.abs(b) + 0.5 * absoluteTolerance
        let m = 0.5 * (c - b)
        if Swift.abs(m) <= tolerance || fb == 0 { return b }
        if Swift.abs(e) < tolerance || Swift.abs(fa) <= Swift.abs(fb) {
            d = m; e = m
        } else {
            let s = fb / fa
            var p: Double, q: Double
            if a == c {
                p = 2 * m * s
                q = 1 - s
            } else {
                let t = fa / fc, r = fb / fc
                p = s * (2 * m * t * (t - r) - (b - a) * (r - 1))
                q = (t - 1) * (r - 1) * (s - 1)
            }
            if p > 0 { q = -q } else { p = -p }
            if 2 * p < Swift.min(3 * m * q - Swift.abs(tolerance * q), Swift.abs(e * q)) {
                e = d; d = p / q
            } else {
                d = m; e = m
            }
        }
        (a, fa) = (b, fb)
        b += Swift.abs(d) > tolerance ? d : (m > 0 ? tolerance : -tolerance)
        fb = f(b)
    }
    return b
}
