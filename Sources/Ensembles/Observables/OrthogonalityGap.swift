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

    /// theory_sd and theory_1n by the delta method over the whole kernel
    /// (``deltaMethodPrediction(_:frame:smooth:)``), B ≤ 8. Silent where the gap is within
    /// 4 fluctuations of 0, where the norm is not smooth and the gap's law is a floor of order
    /// B/√N (Daneshmand et al. 2021): the fluctuation of `M = K/Tr K − I/B` itself,
    /// `√(Σ_ab Var M_ab)` (each entry by the same delta method), must be below a quarter of the
    /// gap, so that the norm's second-order term, of relative size `‖δM‖/(2 gap)`, is at most
    /// an eighth of its first.
    public func predict(_ theory: TheoryContext) -> Prediction {
        let b = theory.batch
        return deltaMethodPrediction(theory) { l in
            var spread = 0.0
            for a in 0..<b {
                for c in a..<b {
                    guard let v = theory.deltaMethodVariance(layer: l, { g in
                        g[a * b + c] / (0..<b).reduce(0.0) { $0 + g[$1 * b + $1] }
                    }) else { return false }
                    spread += (a == c ? 1 : 2) * v
                }
            }
            let gap = GramGeometry.orthogonalityGap(theory.layers[l - 1].covariance, count: b)
            return gap >= 4 * (spread / Double(theory.network.width)).squareRoot()
        }
    }
}
