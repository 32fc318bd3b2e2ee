/// Every entry `q^l_ab = h^l_a·h^l_b/N`, a ≤ b, as `gram_a_b`; theory: the mean-field
/// covariance map (Poole et al. 2016, eq. 5).
public struct GramEntries: GramFunction {
    public static let entry = ObservableEntry(
        key: "gram", placement: .forward, summary: "every q_ab = h_a·h_b/N, a ≤ b, as gram_a_b",
        parse: { $0.listed("gram") ? GramEntries() : nil })

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { Self.names("gram", batch: shape.batch) }

    /// `prefix_a_b` for a ≤ b.
    static func names(_ prefix: String, batch b: Int) -> [String] {
        (0..<b).flatMap { a in (a..<b).map { "\(prefix)_\(a)_\($0)" } }
    }

    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] { Self.upperTriangle(g, count: b, scale: scale) }

    /// Every entry's mean to order 1/N, `K_ab + μ_ab/N` (``KernelFluctuations/scaledMeanShifts``).
    public func predict(_ theory: TheoryContext) -> Prediction {
        var prediction = gramPrediction(theory)
        guard theory.kernelFluctuations != nil else { return prediction }
        let b = theory.batch, entries = (0..<b).flatMap { a in (a..<b).map { (a, $0) } }
        prediction.corrected = entries.map { a, c in
            (1...theory.network.depth).map { l in theory.correctedKernel(a, c, layer: l) }
        }
        return prediction
    }

    /// Each entry's own `Var K̂_ab` (``KernelFluctuations``), with its next order.
    public func standardDeviations(_ theory: TheoryContext) -> [[Double?]] {
        let b = theory.batch, entries = (0..<b).flatMap { a in (a..<b).map { (a, $0) } }
        return standardDeviations(theory, quantities: entries.count) { k, l in
            let (i, j) = entries[k]
            return theory.scaledKernelCovariance(i, j, i, j, layer: l).map {
                ($0, theory.secondOrderKernelCovariance(i, j, i, j, layer: l))
            }
        }
    }

    /// `G_ab · scale` for a ≤ b, row by row.
    static func upperTriangle(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        (0..<b).flatMap { a in (a..<b).map { g[a * b + $0] * scale } }
    }
}
