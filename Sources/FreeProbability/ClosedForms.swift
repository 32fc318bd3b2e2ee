#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Closed-form laws that the free-probability spectra reduce to, for tests and users.
public enum ClosedForms {
    /// The Fuss–Catalan number `FC_L(k) = (1/(Lk + 1)) C((L + 1)k, k)`: the k-th moment of the
    /// eigenvalue law of `(G_1⋯G_L)(G_1⋯G_L)ᵀ` for independent square Gaussian `G_i` with
    /// entries N(0, 1/N) at N → ∞ (L = 1: the Catalan numbers 1, 1, 2, 5, 14, …).
    /// Computed as `Π_{i=1}^{k} (Lk + i)/i / (Lk + 1)` (exact in double precision while the
    /// value has fewer than 53 bits).
    public static func fussCatalanMoment(products L: Int, order k: Int) -> Double {
        precondition(L >= 0 && k >= 0, "L and k must be non-negative")
        var value = 1.0
        let lk = Double(L * k)
        if k > 0 {
            for i in 1...k { value = value * (lk + Double(i)) / Double(i) }
        }
        return value / (lk + 1)
    }

    /// The density of the Fuss–Catalan law with parameter L (L ≥ 1; L = 1 is Marchenko–Pastur
    /// with ratio 1), supported on (0, (L + 1)^{L+1}/L^L], in the angle parametrisation
    /// (Haagerup & Möller 2012; Neuschel 2014): for φ ∈ (0, π/(L + 1)),
    ///
    ///     x(φ) = sin((L+1)φ)^{L+1} / (sin φ · sin(Lφ)^L),
    ///     ρ(x(φ)) = sin((L+1)φ) sin φ / (π x sin(Lφ)).
    ///
    /// (With w = 1 + m = re^{iφ}, the FC law's `z = w^{L+1}/(w − 1)` is real when the
    /// triangle 0, 1, w has the angle (L + 1)φ at 1; ρ = Im(w)/(πx).) x(φ) decreases
    /// strictly; φ is found by Newton's method on ln x(φ), safeguarded by bisection. Exact up
    /// to rounding; 0 outside the support.
    public static func fussCatalanDensity(products L: Int, at x: Double) -> Double {
        precondition(L >= 1, "the Fuss–Catalan density needs L ≥ 1")
        let s = Double(L)
        let top = exp((s + 1) * log(s + 1) - s * log(s))
        guard x > 0, x < top else { return 0 }
        func logX(_ phi: Double) -> Double {
            (s + 1) * log(sin((s + 1) * phi)) - log(sin(phi)) - s * log(sin(s * phi))
        }
        func slope(_ phi: Double) -> Double {
            (s + 1) * (s + 1) / tan((s + 1) * phi) - 1 / tan(phi) - s * s / tan(s * phi)
        }
        let target = log(x)
        var lo = 0.0, hi = Double.pi / (s + 1)     // logX decreases from ln(top) to −∞
        var phi = 0.5 * hi
        for _ in 0..<200 {
            let f = logX(phi) - target
            if f == 0 { break }
            if f > 0 { lo = phi } else { hi = phi }
            var next = phi - f / slope(phi)
            if !(next > lo && next < hi) { next = 0.5 * (lo + hi) }
            if Swift.abs(next - phi) <= 1e-16 * phi { phi = next; break }
            phi = next
        }
        return sin((s + 1) * phi) * sin(phi) / (Double.pi * x * sin(s * phi))
    }

    /// The Marchenko–Pastur density of the eigenvalues of `(1/n) X Xᵀ`, X a p × n matrix of
    /// iid entries of variance σ² (`variance`), ratio c = p/n, as p, n → ∞:
    /// `ρ(x) = √((b − x)(x − a))/(2π σ² c x)` on [a, b], `a, b = σ²(1 ∓ √c)²`. For c > 1 this
    /// is the continuous part, of mass 1/c (the rest is an atom at 0).
    public static func marchenkoPasturDensity(ratio c: Double, variance: Double, at x: Double) -> Double {
        precondition(c > 0 && variance > 0, "ratio and variance must be positive")
        let r = c.squareRoot()
        let a = variance * (1 - r) * (1 - r), b = variance * (1 + r) * (1 + r)
        guard x > a, x < b, x > 0 else { return 0 }
        return ((b - x) * (x - a)).squareRoot() / (2 * Double.pi * variance * c * x)
    }
}
