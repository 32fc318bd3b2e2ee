#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A discrete law on [0, ∞) (values t_k ≥ 0, weights w_k, Σ w = 1) as a factor of a free
/// product, with its moment-generating function
/// `ψ(u) = E[u t/(1 − u t)] = Σ_k w_k (1/(1 − u t_k) − 1)`, derivative
/// `ψ′(u) = Σ_k w_k t_k/(1 − u t_k)²`, and `φ(u) = ψ(u) + 1 − P(t = 0) = Σ_{t_k > 0} w_k/(1 − u t_k)`,
/// which keeps its relative accuracy as u → ∞ (φ → 0), evaluated eight nodes at a time.
/// The atom at t = 0 is kept aside (`zeroMass`): it adds nothing to ψ.
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
    /// The values that stand for a continuous part (quadrature nodes), sorted: where the law is
    /// a discretisation rather than exact atoms.
    let nodeValues: [Double]
    /// The weights of `nodeValues`.
    let nodeWeights: [Double]
    /// Optional continuous representation: each mass spread uniformly over [c − δ, c + δ]
    /// (δ = 0 for an atom), sorted by centre. When present, ψ is that of this histogram law,
    /// computed exactly (see `psi`).
    let boxes: [Box]

    struct Box: Sendable, Equatable {
        var centre: Double
        var halfWidth: Double
        var weight: Double
    }

    /// - Parameter nodeValues: those of `values` that are quadrature nodes of a continuous part
    ///   (sorted), as opposed to exact atoms.
    init(values: [Double], weights: [Double], nodeValues: [Double] = [], nodeWeights: [Double] = [], boxes: [Box] = []) {
        precondition(nodeValues.count == nodeWeights.count, "node values and weights must match")
        self.boxes = boxes.filter { $0.weight > 0 && $0.centre > 0 }
        self.nodeValues = nodeValues
        self.nodeWeights = nodeWeights
        precondition(values.count == weights.count && !values.isEmpty, "a law needs matching, non-empty values and weights")
        var top = 0.0, bottom = Double.infinity, zero = 0.0
        var kept: [Double] = [], keptWeights: [Double] = []
        for (t, w) in zip(values, weights) where w > 0 {
            if t > 0 {
                top = Swift.max(top, t); bottom = Swift.min(bottom, t)
                kept.append(t); keptWeights.append(w)
            } else {
                zero += w
            }
        }
        precondition(!kept.isEmpty, "a factor law needs mass at t > 0")
        count = kept.count
        maximum = top
        minimumPositive = bottom
        zeroMass = zero
        let padded = (count + 7) / 8 * 8
        self.values = kept + [Double](repeating: 0, count: padded - count)
        self.weights = keptWeights + [Double](repeating: 0, count: padded - count)
    }

    /// Whether a histogram representation is available.
    var hasHistogram: Bool { !boxes.isEmpty }

    /// ψ(u), φ(u) = ψ(u) + 1 − zeroMass and ψ′(u) at complex u, of the nodes or (`histogram`)
    /// of the histogram law.
    func psi(_ u: Complex, histogram: Bool = false) -> (value: Complex, shifted: Complex, derivative: Complex) {
        if histogram { return boxPsi(u) }
        let a = SIMD8<Double>(repeating: u.re), b = SIMD8<Double>(repeating: u.im)
        var sumRe = SIMD8<Double>(), sumIm = SIMD8<Double>(), derRe = SIMD8<Double>(), derIm = SIMD8<Double>()
        var shiftedRe = SIMD8<Double>()
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
                    shiftedRe += w * re
                    sumIm += w * im
                    let wt = w * t
                    derRe += wt * (re * re - im * im)
                    derIm += wt * (2 * re * im)
                }
            }
        }
        let imaginary = sumIm.sum()
        return (Complex(sumRe.sum(), imaginary), Complex(shiftedRe.sum(), imaginary), Complex(derRe.sum(), derIm.sum()))
    }

    /// ψ, φ and ψ′ of the histogram law `boxes`. A box of mass w on [c − δ, c + δ] contributes
    /// `φ = w/(2uδ) · [ln(1 − u(c − δ)) − ln(1 − u(c + δ))]` (both logarithms on the upper half
    /// plane for Im u < 0, so the principal branches are the continuous ones), which is used
    /// where the pole 1/u is within ~5 half-widths of the box; elsewhere the same in the form
    /// `φ = (w/s) A(r²)`, s = 1 − uc, r = uδ/s, `A(y) = atanh(√y)/√y = Σ y^k/(2k + 1)`, without
    /// cancellation; `ψ = φ − w` as `w (A − 1 + uc)/s` and
    /// `ψ′ = (w/s²) (c A + 2rδ A′(r²)/s)`.
    private func boxPsi(_ u: Complex) -> (value: Complex, shifted: Complex, derivative: Complex) {
        var phi = Complex.zero, psi = Complex.zero, derivative = Complex.zero
        for box in boxes {
            let c = box.centre, delta = box.halfWidth, w = box.weight
            let uc = c * u
            let s = 1 - uc
            let inverse = 1 / s
            if delta == 0 {
                let term = w * inverse
                phi += term
                psi += term * uc
                derivative += c * term * inverse
                continue
            }
            let r = delta * u * inverse
            let y = r * r
            let size = y.magnitude
            if size < 0.04 {
                let terms = size < 1e-6 ? 2 : (size < 1e-3 ? 5 : 11)
                var a = Complex(1 / Double(2 * terms + 1), 0)
                var aPrime = Complex(Double(terms) / Double(2 * terms + 1), 0)
                for k in stride(from: terms - 1, through: 0, by: -1) {
                    a = a * y + 1 / Double(2 * k + 1)
                    if k >= 1 { aPrime = aPrime * y + Double(k) / Double(2 * k + 1) }
                }
                let term = w * inverse
                phi += term * a
                psi += term * (a - 1 + uc)
                derivative += term * inverse * (c * a + 2 * delta * r * aPrime * inverse)
            } else {
                let lower = c - delta, upper = c + delta
                let sl = 1 - lower * u, su = 1 - upper * u
                let logRatio = sl.log - su.log
                let uh = 2 * delta * u
                let value = w * logRatio / uh
                phi += value
                psi += value - w
                let slope = upper / su - lower / sl
                derivative += w * (slope / uh - logRatio / (u * uh))
            }
        }
        return (psi, phi, derivative)
    }

    /// Whether the discrete sum still stands for the continuous law at u, i.e. its error is
    /// below 10⁻⁹ of |ψ| (or |φ|): by Poisson summation, nodes of spacing h and weight w next
    /// to a pole at distance d from the axis misrepresent the integral by ~2π (w/h) e^{−2πd/h}
    /// (10⁻⁸ of the local density at d = 3h).
    func resolves(_ u: Complex, scale: Double) -> Bool {
        guard nodeValues.count >= 2 else { return true }
        let pole = 1 / u
        let tau = pole.re, distance = Swift.abs(pole.im)
        var lo = 0, hi = nodeValues.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nodeValues[mid] < tau { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, lo < nodeValues.count else { return true }
        var spacing = nodeValues[lo] - nodeValues[lo - 1]
        var weight = Swift.max(nodeWeights[lo], nodeWeights[lo - 1])
        if lo >= 2 {
            spacing = Swift.max(spacing, nodeValues[lo - 1] - nodeValues[lo - 2])
            weight = Swift.max(weight, nodeWeights[lo - 2])
        }
        if lo + 1 < nodeValues.count {
            spacing = Swift.max(spacing, nodeValues[lo + 1] - nodeValues[lo])
            weight = Swift.max(weight, nodeWeights[lo + 1])
        }
        // The sums carry 1/(1 − ut) = p/(p − t), p = 1/u: the error in φ is |p| times that in the
        // integral of ρ/(p − t).
        let error = 2 * Double.pi * weight / spacing * exp(-2 * Double.pi * distance / spacing) * pole.magnitude
        return error <= 1e-9 * scale
    }

    /// On the real axis in the variable v = 1/u: `ψ = Σ w t/(v − t)` and `dψ/dv = −Σ w t/(v − t)²`,
    /// with v − t given as `offset + gap_k` to keep its relative accuracy near a pole.
    /// `above`: v = maximum + offset (offset > 0, ψ > 0); otherwise v = offset ∈ (0, minimumPositive)
    /// (ψ < −1 + zeroMass).
    func realPsi(offset: Double, above: Bool) -> (value: Double, derivative: Double) {
        var value = 0.0, derivative = 0.0
        for k in 0..<count {
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
