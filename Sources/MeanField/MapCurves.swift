/// One of the mean-field maps of Poole et al. (2016) on a grid, with its fixed point: what
/// their Fig. 1A (the length map) and Fig. 2A (the correlation map) draw.
public struct MapCurve: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// `V(q) = σ_w² E φ(√q z)² + σ_b²` (Poole et al. 2016, eq. 3).
        case q
        /// `C(c) = (σ_w² E φ(u1) φ(u2) + σ_b²)/q*` at q_aa = q_bb = q* (eq. 5).
        case c
    }

    public let kind: Kind
    /// The grid: `q` on [0, upper], or `c` on [−1, 1], evenly spaced, both ends included.
    public let x: [Double]
    /// The map at each grid point.
    public let y: [Double]
    /// The fixed point the recursion reaches (``FixedPointReport``): q*, or c* at q*; the curve
    /// crosses the diagonal there. nil where it does not exist (q* unbounded).
    public let fixedPoint: Double?
}

extension MeanFieldMaps {
    /// `V(q)` at `points` evenly spaced q in [0, upper], and q*.
    public func lengthCurve(upTo upper: Double, points: Int) -> MapCurve {
        precondition(upper > 0 && upper.isFinite && points >= 2, "a grid [0, upper] of at least 2 points")
        let x = (0..<points).map { upper * Double($0) / Double(points - 1) }
        return MapCurve(kind: .q, x: x, y: x.map(lengthMap), fixedPoint: fixedPoints().qStar)
    }

    /// `C(c)` at `points` evenly spaced c in [−1, 1], at q = q*, and c*; nil when q* is not
    /// finite and positive (unbounded or 0: no correlation map).
    public func correlationCurve(points: Int) -> MapCurve? {
        precondition(points >= 2, "a grid of at least 2 points")
        let report = fixedPoints()
        guard let q = report.qStar, q > 0, q.isFinite else { return nil }
        let x = (0..<points).map { -1 + 2 * Double($0) / Double(points - 1) }
        return MapCurve(kind: .c, x: x, y: x.map { correlationMap($0, q: q) }, fixedPoint: report.cStar)
    }
}
