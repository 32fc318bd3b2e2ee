#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Phase of a network family at its fixed point (Poole et al. 2016; Schoenholz et al. 2017).
public enum Phase: String, Sendable, Codable, Hashable {
    /// χ1 < 1: nearby inputs converge, c* = 1 is stable.
    case ordered
    /// |χ1 − 1| ≤ `MeanFieldMaps.criticalTolerance`: the edge of chaos, infinite ξ_c.
    case critical
    /// χ1 > 1: nearby inputs decorrelate to a stable c* < 1.
    case chaotic
    /// The length map has no finite fixed point reachable from q = 1: q^l → ∞.
    case unbounded
}

/// Fixed points, slopes and depth scales of one network family. Absent values are `nil`,
/// never NaN; `status` says why.
public struct FixedPointReport: Sendable, Codable, Equatable {
    /// q*, the fixed point of the length map reached from q = 1; nil when unbounded.
    public var qStar: Double?
    /// c*, the stable fixed point of the C-map at q*: 1 in the ordered and critical phases,
    /// < 1 in the chaotic phase; nil when q* is 0 or unbounded.
    public var cStar: Double?
    /// χ1 at q*; when q* is unbounded, its large-q value (χ1 at q = 10¹⁵).
    public var chi1: Double?
    /// ξ_q = −1/ln|V′(q*)|; nil when infinite (|V′| = 1) or the fixed point is unstable.
    public var xiQ: Double?
    /// ξ_c = −1/ln|χ_c(q*, c*)|; nil when infinite (critical) or undefined.
    public var xiC: Double?
    public var phase: Phase
    /// "ok", or what is degenerate and why (several notes joined by "; ").
    public var status: String
    /// `layersToFraction(q0: 1, fraction: 0.01)`: layers from q⁰ = 1 until q^l is within 1 %
    /// of q* (Poole et al. 2016, Fig. 1D); nil when q* is 0 or unbounded, or not reached in
    /// 10 000 layers.
    public var layersToOnePercent: Int?

    public init(qStar: Double?, cStar: Double?, chi1: Double?, xiQ: Double?, xiC: Double?, phase: Phase, status: String,
                layersToOnePercent: Int?) {
        self.qStar = qStar
        self.cStar = cStar
        self.chi1 = chi1
        self.xiQ = xiQ
        self.xiC = xiC
        self.phase = phase
        self.status = status
        self.layersToOnePercent = layersToOnePercent
    }
}

/// Errors of the parameter-level entry points.
public enum MeanFieldError: Error, Equatable, CustomStringConvertible {
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .invalidParameter(let message): "invalid mean-field parameter: \(message)"
        }
    }
}

extension MeanFieldMaps {
    /// |χ − 1| at or below this is treated as exactly 1: critical phase, infinite depth scale.
    public static let criticalTolerance = 1e-9
    /// A length-map root above this is reported as unbounded.
    public static let unboundedLength = 1e15
    /// Below this, the search for q* downward from 1 stops and reports q* = 0.
    public static let vanishingLength = 1e-100

    /// Where the length map's iteration from q = 1 goes.
    enum LengthFixedPoint: Equatable {
        case finite(Double)
        /// q^l → 0 (q* = 0, or below `vanishingLength`).
        case zero
        /// q^l → ∞ (no root of V(q) = q up to `unboundedLength`).
        case unbounded
    }

    /// The fixed point of `V` that iterating from q = 1 approaches: if V(1) > 1 the first root
    /// of V(q) − q above 1 (bracketed on q = 4ᵏ, then Brent), if V(1) < 1 the first root below
    /// (bracketed on q = 8⁻ᵏ). For a non-decreasing V this is the limit of q^l = V(q^{l−1}).
    /// |V(1) − 1| ≤ 10⁻¹⁴ counts as q* = 1 (e.g. relu at σ_w = √2, σ_b = 0, where V is the
    /// identity).
    func lengthFixedPoint() -> LengthFixedPoint {
        let gap = { (q: Double) in self.lengthMap(q) - q }
        let atOne = gap(1)
        if Swift.abs(atOne) <= 1e-14 { return .finite(1) }
        if atOne > 0 {
            var (lo, gapLo) = (1.0, atOne)
            while lo < Self.unboundedLength {
                // A root needs a gap clearly below the rounding of V(q) − q: otherwise a map that
                // grows by a constant (V(q) = q + σ_b², e.g. linear at σ_w = 1) would show a
                // spurious root where σ_b² drops below the last bit of q.
                let hi = 4 * lo, gapHi = gap(hi)
                if gapHi < -8 * Double.ulpOfOne * hi { return .finite(brentRoot(gap, lo, hi, fa: gapLo, fb: gapHi)) }
                (lo, gapLo) = (hi, gapHi)
            }
            return .unbounded
        }
        var (hi, gapHi) = (1.0, atOne)
        while hi > Self.vanishingLength {
            let lo = hi / 8, gapLo = gap(lo)
            if gapLo >= 0 { return .finite(brentRoot(gap, lo, hi, fa: gapLo, fb: gapHi)) }
            (hi, gapHi) = (lo, gapLo)
        }
        return .zero
    }

    /// q*, χ1, c*, the depth scales and the phase (Poole et al. 2016; Schoenholz et al. 2017):
    /// - q* from `lengthFixedPoint` (iteration from q = 1);
    /// - `χ1 = σ_w² E φ′(√q* z)²`; phase ordered / critical / chaotic by χ1 vs 1;
    /// - c* = 1 unless chaotic, then the root in [0, 1) of C(c) = c (C is convex increasing on
    ///   [0, 1] with C(0) ≥ 0, so it is unique), by Brent;
    /// - `ξ_q⁻¹ = −ln V′(q*) = −ln(χ1 + σ_w² E φ″φ)` (`lengthMapDerivative`, with the Dirac
    ///   terms of φ″ at kinks), `ξ_c⁻¹ = −ln(σ_w² E φ′(u1)φ′(u2))` at (q*, c*).
    /// A depth scale whose log argument is within `criticalTolerance` of 1 is infinite: nil.
    public func fixedPoints() -> FixedPointReport {
        var notes: [String] = []
        switch lengthFixedPoint() {
        case .unbounded:
            notes.append("unbounded: V(q) > q up to q = \(Self.unboundedLength), q^l grows without limit; chi1 is its large-q value")
            return FixedPointReport(qStar: nil, cStar: nil, chi1: chi1(q: Self.unboundedLength), xiQ: nil, xiC: nil,
                                    phase: .unbounded, status: notes.joined(separator: "; "), layersToOnePercent: nil)
        case .zero:
            let exact = sigmaB == 0 && activation.value(0) == 0
            notes.append(exact ? "q* = 0: sigma_b = 0 and phi(0) = 0, q^l decays to 0"
                               : "q* below \(Self.vanishingLength), reported as 0")
            notes.append("c* and xi_c undefined at q* = 0 (the C-map degenerates)")
            let chi = chi1(q: 0)
            let xiQ = Self.depthScale(lengthMapDerivative(0), name: "xi_q", notes: &notes)
            return FixedPointReport(qStar: 0, cStar: nil, chi1: chi, xiQ: xiQ, xiC: nil, phase: Self.phase(chi),
                                    status: notes.joined(separator: "; "), layersToOnePercent: nil)
        case .finite(let qStar):
            let chi = chi1(q: qStar)
            let phase = Self.phase(chi)
            var cStar = 1.0
            if phase == .chaotic {
                cStar = correlationFixedPoint(q: qStar, notes: &notes)
            }
            let slopeC = cStar == 1 ? chi : chiC(q: qStar, c: cStar)
            let xiQ = Self.depthScale(lengthMapDerivative(qStar), name: "xi_q", notes: &notes)
            let xiC = Self.depthScale(slopeC, name: "xi_c", notes: &notes)
            let layers = layersToFraction(q0: 1, fraction: 0.01, qStar: qStar, maxLayers: 10_000)
            return FixedPointReport(qStar: qStar, cStar: cStar, chi1: chi, xiQ: xiQ, xiC: xiC, phase: phase,
                                    status: notes.isEmpty ? "ok" : notes.joined(separator: "; "),
                                    layersToOnePercent: layers)
        }
    }

    /// The number of layers l ≥ 0 until `|q^l − q*| ≤ fraction · q*`, iterating
    /// `q^l = V(q^{l−1})` from `q⁰ = q0` (the measure of Poole et al. 2016, Fig. 1D, there with
    /// fraction 1 %). nil when q* is 0 or unbounded, or it is not reached within `maxLayers`.
    public func layersToFraction(q0: Double, fraction: Double = 0.01, maxLayers: Int = 10_000) -> Int? {
        guard case .finite(let qStar) = lengthFixedPoint() else { return nil }
        return layersToFraction(q0: q0, fraction: fraction, qStar: qStar, maxLayers: maxLayers)
    }

    private func layersToFraction(q0: Double, fraction: Double, qStar: Double, maxLayers: Int) -> Int? {
        precondition(q0 >= 0 && fraction > 0, "q0 must be non-negative and fraction positive")
        var q = q0
        for layer in 0...maxLayers {
            if Swift.abs(q - qStar) <= fraction * qStar { return layer }
            q = lengthMap(q)
        }
        return nil
    }

    /// The stable c* < 1 of the C-map at q (chaotic phase): C(0) − 0 ≥ 0 and C(c) − c < 0 just
    /// below 1 (slope χ1 > 1 there); the bracket's upper end is searched on c = 1 − 10⁻ᵏ.
    private func correlationFixedPoint(q: Double, notes: inout [String]) -> Double {
        let gap = { (c: Double) in self.correlationMap(c, q: q) - c }
        var (lo, gapLo) = (0.0, gap(0))
        if gapLo <= 1e-14 { return 0 }
        for k in 1...10 {
            let hi = 1 - pow(10, -Double(k)), gapHi = gap(hi)
            if gapHi <= 0 { return brentRoot(gap, lo, hi, fa: gapLo, fb: gapHi, absoluteTolerance: 1e-13) }
            (lo, gapLo) = (hi, gapHi)
        }
        notes.append("c* within 1e-10 of 1, reported as 1")
        return 1
    }

    private static func phase(_ chi1: Double) -> Phase {
        if Swift.abs(chi1 - 1) <= criticalTolerance { return .critical }
        return chi1 < 1 ? .ordered : .chaotic
    }

    /// `ξ = −1/ln|slope|` for a fixed point approached at rate |slope| per layer.
    private static func depthScale(_ slope: Double, name: String, notes: inout [String]) -> Double? {
        let rate = Swift.abs(slope)
        if Swift.abs(rate - 1) <= criticalTolerance {
            notes.append("infinite depth scale (critical): \(name)")
            return nil
        }
        if rate > 1 {
            notes.append("\(name) undefined: the fixed point is unstable (slope \(slope))")
            return nil
        }
        return rate == 0 ? 0 : -1 / log(rate)
    }

    /// σ_w*(σ_b): the σ_w in `range` where χ1(q*(σ_w, σ_b)) = 1, the order-to-chaos line
    /// (Poole et al. 2016, Fig. 2D; Schoenholz et al. 2017). χ1 − 1 is sampled on 48
    /// geometrically spaced σ_w; the first sign change is refined by Brent to ~10⁻¹² relative.
    /// Where q* = 0, χ1 is its q → 0⁺ limit; where q* is unbounded, its large-q value.
    /// nil when χ1 − 1 does not change sign in `range`.
    /// - Throws: `MeanFieldError.invalidParameter` for σ_b < 0, a non-finite σ_b, or a range
    ///   not inside (0, ∞).
    public static func criticalSigmaW(sigmaB: Double, activation: Activation,
                                      in range: ClosedRange<Double> = 0.01...20) throws -> Double? {
        guard sigmaB.isFinite, sigmaB >= 0 else {
            throw MeanFieldError.invalidParameter("sigma_b = \(sigmaB); it must be finite and >= 0")
        }
        guard range.lowerBound > 0, range.upperBound.isFinite else {
            throw MeanFieldError.invalidParameter("sigma_w range \(range); it must lie in (0, inf)")
        }
        let gap = { (sigmaW: Double) -> Double in
            let maps = MeanFieldMaps(activation: activation, sigmaW: sigmaW, sigmaB: sigmaB)
            switch maps.lengthFixedPoint() {
            case .finite(let q): return maps.chi1(q: q) - 1
            case .zero: return maps.chi1(q: 0) - 1
            case .unbounded: return maps.chi1(q: unboundedLength) - 1
            }
        }
        let samples = 48
        let ratio = pow(range.upperBound / range.lowerBound, 1 / Double(samples - 1))
        var (previous, gapPrevious) = (range.lowerBound, gap(range.lowerBound))
        if gapPrevious == 0 { return previous }
        for i in 1..<samples {
            let sigmaW = i == samples - 1 ? range.upperBound : range.lowerBound * pow(ratio, Double(i))
            let gapHere = gap(sigmaW)
            if gapHere == 0 || (gapHere > 0) != (gapPrevious > 0) {
                return brentRoot(gap, previous, sigmaW, fa: gapPrevious, fb: gapHere, absoluteTolerance: 1e-12 * sigmaW)
            }
            (previous, gapPrevious) = (sigmaW, gapHere)
        }
        return nil
    }
}
