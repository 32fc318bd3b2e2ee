#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lyapunov exponents of products of random matrices (Newman 1986).
public enum LyapunovTheory {
    /// The digamma function ψ(x) = Γ′(x)/Γ(x), x > 0: the recurrence ψ(x) = ψ(x+1) − 1/x up
    /// to x ≥ 10, then the asymptotic series
    /// `ln x − 1/(2x) − 1/(12x²) + 1/(120x⁴) − 1/(252x⁶) + 1/(240x⁸) − 1/(132x¹⁰)`
    /// (Abramowitz & Stegun 6.3.18; error below 1e-15 at x ≥ 10).
    public static func digamma(_ x: Double) -> Double {
        precondition(x > 0, "digamma is implemented for x > 0")
        var x = x, shift = 0.0
        while x < 10 {
            shift -= 1 / x
            x += 1
        }
        let x2 = 1 / (x * x)
        let series = x2 * (1.0 / 12 - x2 * (1.0 / 120 - x2 * (1.0 / 252 - x2 * (1.0 / 240 - x2 / 132))))
        return shift + log(x) - 0.5 / x - series
    }

    /// Newman's (1986) exponents of a product of d×d Gaussian matrices with iid
    /// `N(0, σ²/n)` entries: `λ_k = ½(ln 2 + ψ((d−k+1)/2)) + ln σ − ½ ln n`, k = 1…d
    /// (n = d for the usual σ²/d; n = d·L under `width*depth` scaling).
    public static func gaussianProduct(dimension d: Int, k: Int, sigma: Double, varianceDenominator n: Double)
        -> Double {
        precondition(k >= 1 && k <= d, "k must be in 1…d")
        return 0.5 * (log(2) + digamma(Double(d - k + 1) / 2)) + log(sigma) - 0.5 * log(n)
    }
}
