import LinearAlgebra

/// The geometry of a batch of representations seen through its Gram matrix
/// `G_ab = h_a·h_b/N` (B×B, symmetric, row-major): the same formulas turn a sampled
/// network's Gram into measurements and the mean-field covariance into their
/// infinite-width predictions.
public enum GramGeometry {
    /// `‖G/Tr G − I/B‖_F` (Daneshmand et al. 2021: `‖HᵀH/‖H‖_F² − I_B/B‖_F`); NaN when
    /// Tr G = 0.
    public static func orthogonalityGap(_ g: [Double], count b: Int) -> Double {
        precondition(g.count == b * b, "G must be B×B")
        var trace = 0.0
        for a in 0..<b { trace += g[a * b + a] }
        guard trace > 0 else { return .nan }
        var sum = 0.0
        for a in 0..<b {
            for c in 0..<b {
                let d = g[a * b + c] / trace - (a == c ? 1 / Double(b) : 0)
                sum += d * d
            }
        }
        return sum.squareRoot()
    }

    /// `Tr C = (1/B) Σ_a |h_a − h̄|²/N = (1/B)(Σ_a G_aa − (1/B) Σ_ab G_ab)`: the spread of the
    /// batch around its centre (the signal of Labatie's SNR). The difference cancels as the
    /// batch collapses; a negative rounding result is returned as 0 (collapsed).
    public static func centredTrace(_ g: [Double], count b: Int) -> Double {
        precondition(g.count == b * b, "G must be B×B")
        var diagonal = 0.0, all = 0.0
        for a in 0..<b {
            diagonal += g[a * b + a]
            for c in 0..<b { all += g[a * b + c] }
        }
        return Swift.max(0, (diagonal - all / Double(b)) / Double(b))
    }

    /// `Tr C/λ_max(C)` with `C = P G P`, `P = I − 11ᵀ/B`: the effective rank of the cloud
    /// of representations around its centre (Labatie 2019); NaN when C = 0 (all
    /// representations equal).
    public static func effectiveRank(_ g: [Double], count b: Int) throws(LAPACKError) -> Double {
        precondition(g.count == b * b, "G must be B×B")
        let cloud = centred(g, count: b)
        let largest = try eigenvalues(cloud, count: b).last ?? 0
        var trace = 0.0
        for a in 0..<b { trace += cloud[a * b + a] }
        guard largest > 0, trace > 0 else { return .nan }
        return trace / largest
    }

    /// `C = P G P`, `P = I − 11ᵀ/B`: the Gram of the batch about its centre.
    public static func centred(_ g: [Double], count b: Int) -> [Double] {
        precondition(g.count == b * b, "G must be B×B")
        var rowMean = [Double](repeating: 0, count: b), total = 0.0
        for a in 0..<b {
            for c in 0..<b { rowMean[a] += g[a * b + c] }
            rowMean[a] /= Double(b)
            total += rowMean[a]
        }
        total /= Double(b)
        var centred = [Double](repeating: 0, count: b * b)
        for a in 0..<b { for c in 0..<b { centred[a * b + c] = g[a * b + c] - rowMean[a] - rowMean[c] + total } }
        return centred
    }

    /// The eigenvalues of the symmetric B×B `g`, ascending (LAPACK `dsyevd`); all NaN when
    /// `g` holds a non-finite entry (a diverged network's Gram), which LAPACK refuses.
    public static func eigenvalues(_ g: [Double], count b: Int) throws(LAPACKError) -> [Double] {
        precondition(g.count == b * b, "G must be B×B")
        guard g.allSatisfy(\.isFinite) else { return [Double](repeating: .nan, count: b) }
        return try Matrix(rows: b, columns: b, elements: g).symmetricEigenvalues()
    }

    /// `Σ_a √(G_aa + G_bb − 2G_ab)`, b = a + 1 mod B: the closed polygon through the batch
    /// in order, in units of √N (negative rounding inside a root counts as 0).
    public static func trajectoryLength(_ g: [Double], count b: Int) -> Double {
        precondition(g.count == b * b, "G must be B×B")
        var length = 0.0
        for a in 0..<b {
            let c = (a + 1) % b
            length += Swift.max(0, g[a * b + a] + g[c * b + c] - 2 * g[a * b + c]).squareRoot()
        }
        return length
    }
}
