import LinearAlgebra

/// `‖HᵀH/‖H‖_F² − I_B/B‖_F` of the pre-activations `H = [h_1 … h_B]` (Daneshmand, Joudaki &
/// Bach 2021, eq. 3): 0 for orthogonal equal-length representations, √(1 − 1/B) for
/// collapsed ones.
public struct OrthogonalityGap: GramFunction {
    public static let entry = ObservableEntry(
        key: "orth_gap", placement: .forward, summary: "‖G/Tr G − I/B‖_F (Daneshmand et al. 2021)",
        parse: { $0.listed("orth_gap") ? OrthogonalityGap() : nil })

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { ["orth_gap"] }

    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        [GramGeometry.orthogonalityGap(g, count: b)]
    }
}
