#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A histogram of positive values on log-spaced bins, mergeable by adding counts.
/// Values below the range, above it, and below the float floor (untrustworthy) are
/// counted apart and never silently binned.
public struct SpectrumHistogram: Sendable, Hashable {
    public let lower: Double
    public let upper: Double
    public private(set) var counts: [Int]
    public private(set) var underflow = 0
    public private(set) var overflow = 0
    /// Values below `(ε·s_max)²` of their own network (not resolved by the arithmetic).
    public private(set) var belowFloor = 0

    public init(range: ClosedRange<Double>, bins: Int) {
        precondition(range.lowerBound > 0 && range.upperBound > range.lowerBound && bins >= 1)
        lower = range.lowerBound
        upper = range.upperBound
        counts = Array(repeating: 0, count: bins)
    }

    /// Edges of bin `i`: `lower · (upper/lower)^{i/bins}` … `^{(i+1)/bins}`.
    public func edges(_ i: Int) -> (Double, Double) {
        let r = log(upper / lower) / Double(counts.count)
        return (lower * exp(r * Double(i)), lower * exp(r * Double(i + 1)))
    }

    /// All values binned, in range or not (floor-flagged ones excluded).
    public var total: Int { counts.reduce(0, +) + underflow + overflow }

    /// Adds a value given by its natural logarithm (so values beyond Double's range still land
    /// in the right overflow/underflow bin).
    public mutating func add(logValue v: Double) {
        let position = (v - log(lower)) / log(upper / lower) * Double(counts.count)
        if position < 0 || v.isNaN { underflow += 1 } else if position >= Double(counts.count) { overflow += 1 } else {
            counts[Int(position)] += 1
        }
    }

    public mutating func flagBelowFloor() { belowFloor += 1 }

    public mutating func merge(_ other: SpectrumHistogram) {
        precondition(counts.count == other.counts.count && lower == other.lower && upper == other.upper)
        for i in counts.indices { counts[i] += other.counts[i] }
        underflow += other.underflow
        overflow += other.overflow
        belowFloor += other.belowFloor
    }

    init(range: ClosedRange<Double>, counts: [Int], underflow: Int, overflow: Int, belowFloor: Int) {
        lower = range.lowerBound
        upper = range.upperBound
        self.counts = counts
        self.underflow = underflow
        self.overflow = overflow
        self.belowFloor = belowFloor
    }
}
