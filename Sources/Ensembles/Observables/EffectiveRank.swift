import LinearAlgebra

/// `Tr C/λ_max(C)` of the covariance of the pre-activations across the inputs, `C = P G P`,
/// `P = I − 11ᵀ/B` (Labatie 2019, §3): B − 1 at most, 1 for a one-dimensional cloud; B ≥ 2.
/// In a convolutional net the cloud is every (input, position) pair's C channels, as in
/// Labatie's CNNs: G the B·P × B·P Gram, at most BP − 1.
public struct EffectiveRank: GramFunction {
    public static let entry = ObservableEntry(
        key: "eff_rank", placement: .forward, summary: "Tr C/λ_max(C), C the centred Gram (Labatie 2019)",
        parse: { $0.listed("eff_rank") ? EffectiveRank() : nil })

    public init() {}

    public var overPositions: Bool { true }

    /// In a conv net, the batch as C × B·P in float64 and its B·P × B·P Gram.
    public func extraBytes(_ shape: NetworkShape, scalarSize: Int) -> Int {
        let n = shape.batch * shape.spec.positions
        return shape.spec.positions == 1 ? 0 : 8 * (shape.spec.units * shape.batch + n * n)
    }

    public func quantities(_ shape: NetworkShape) -> [String] { shape.batch > 1 ? ["eff_rank"] : [] }

    public func values(_ g: [Double], count b: Int, scale: Double) throws(LAPACKError) -> [Double] {
        [try GramGeometry.effectiveRank(g, count: b)]
    }
}
