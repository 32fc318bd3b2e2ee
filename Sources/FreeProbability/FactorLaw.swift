/// A discrete law on [0, ∞) (values t_k ≥ 0, weights w_k, Σ w = 1) as a factor of a free
/// product, with its moment-generating function
/// `ψ(u) = E[u t/(1 − u t)] = Σ_k w_k (1/(1 − u t_k) − 1)` and derivative
/// `ψ′(u) = Σ_k w_k t_k/(1 − u t_k)²`, evaluated eight nodes at a time.
struct FactorLaw: Sendable, Equatable {
    /// Values and weights, zero-padded to a multiple of 8 (a zero weight adds nothing).
    private(set) var values: [Double]
    private(set) var weights: [Double]
    /// Number of real (unpadded) nodes.
    let count: Int
    /// Largest and smallest positive value carrying mass.
    let maximum: Double
    let minimumPositive: Double
    /// Mass at t = 0.
    let zeroMass: Double

    init(values: [Double], weights: [Double]) {
        precondition(values.count == weights.count && !values.isEmpty, "a law needs matching, non-empty values and weights")
        count = values.count
        var top = 0.0, bottom = Double.infinity, zero = 0.0
        for (t, w) in zip(values, weights) where w > 0 {
            if t > 0 { top = Swift.max(top, t); bottom = Swift.min(bottom, t) } else { zero += w }
        }
        maximum = top
        minimumPositive = bottom
        zeroMass = zero
        let padded = (count + 7) / 8 * 8
        self.values = values + [Double](repeating: 0, count: padded - count)
        self.weights = weights + [Double](repeating: 0, count: padded - count)
    }

    /// ψ(u) and ψ′(u) at complex u.
    func psi(_ u: Complex) -> (value: Complex, derivative: Complex) {
        let a = SIMD8<Double>(repeating: u.re), b = SIMD8<Double>(repeating: u.im)
        var sumRe = SIMD8<Double>(), sumIm = SIMD8<Double>(), derRe = SIMD8<Double>(), derIm = SIMD8<Double>()
        values.withUnsafeBufferPointer { tv in
            weights.withUnsafeBufferPointer { wv in
                let tp = UnsafeRawPointer(tv.baseAddress!), wp = UnsafeRawPointer(wv.baseAddress!)
                let stride = 8 * MemoryLayout<Double>.stride
                for chunk in 0..<(tv.count / 8) {
                    let t = tp.loadUnaligned(fromByteOffset: chunk * stride, as: SIMD8<Double>.self)
                    let w = wp.loadUnaligned(fromByteOffset: chunk * stride, as: SIMD8<Double>.self)
                    // 1 − u t = p − i r;  1/(1 − u t) = (p + i r)/(p² + r²).
                    let p = 1 - a * t, r = b * t
                    let inverse = 1 / (p * p + r * r)
                    let re = p * inverse, im = r * inverse
                    sumRe += w * (re - 1)
                    sumIm += w * im
                    let wt = w * t
                    derRe += wt * (re * re - im * im)
                    derIm += wt * (2 * re * im)
                }
            }
        }
        return (Complex(sumRe.sum(), sumIm.sum()), Complex(derRe.sum(), derIm.sum()))
    }

    /// On the real axis in the variable v = 1/u: `ψ = Σ w t/(v − t)` and `dψ/dv = −Σ w t/(v − t)²`,
    /// with v − t given as `offset + gap_k` to keep its relative accuracy near a pole.
    /// `above`: v = maximum + offset (offset > 0, ψ > 0); otherwise v = offset ∈ (0, minimumPositive)
    /// (ψ < −1 + zeroMass).
    func realPsi(offset: Double, above: Bool) -> (value: Double, derivative: Double) {
        var value = 0.0, derivative = 0.0
        for k in 0..<count where weights[k] > 0 && values[k] > 0 {
            let t = values[k]
            let difference = above ? offset + (maximum - t) : offset - t
            let term = weights[k] * t / difference
            value += term
            derivative -= term / difference
        }
        return (value, derivative)
    }

    /// The v (as an offset, see `realPsi`) with ψ = m: m > 0 above the support
    /// (v ∈ (max, max + 1/m], since ψ ≤ 1/(v − max) for a law of mean ≤ 1), or
    /// m < −(1 − zeroMass) below it (v ∈ (0, min)). Safeguarded Newton (bisection whenever
    /// a step leaves the bracket), warm-started from `guess`.
    func realInverse(_ m: Double, above: Bool, guess: Double?) -> Double {
        var lo: Double, hi: Double       // bracket of the offset; ψ decreases in it
        if above {
            lo = 0; hi = 1 / m
            while realPsi(offset: hi, above: true).value > m { hi *= 2 }
        } else {
            lo = 0; hi = minimumPositive
        }
        var x = guess.map { Swift.min(Swift.max($0, lo), hi) } ?? 0.5 * (lo + hi)
        if !(x > lo && x < hi) { x = 0.5 * (lo + hi) }
        for _ in 0..<300 {
            let (f0, d) = realPsi(offset: x, above: above)
            let f = f0 - m
            if f == 0 { return x }
            if f > 0 { lo = x } else { hi = x }
            var next = x - f / d
            if !(next > lo && next < hi) || !next.isFinite { next = 0.5 * (lo + hi) }
            if Swift.abs(next - x) <= 1e-15 * Swift.abs(x) || hi - lo <= 1e-15 * Swift.abs(hi) { return next }
            x = next
        }
        return x
    }
}
