import LinearAlgebra

/// `gram_min_eig`: the smallest eigenvalue of the normalised Gram `Ĝ = B·G/Tr G` of the
/// pre-activations, in [0, 1]: 1 when the batch is orthogonal with equal lengths (Ĝ = I),
/// 0 when its representations are linearly dependent — rank collapse, which batch norm
/// provably keeps away in deep random nets (Daneshmand et al. 2020) and plain deep nets
/// approach. B ≥ 2; theory: the same formula on the mean-field covariance q^l_ab.
public struct GramMinEigenvalue: GramFunction {
    public static let entry = ObservableEntry(
        key: "gram_min_eig", placement: .forward, summary: "λ_min(B·G/Tr G), 0 at rank collapse (Daneshmand et al. 2020)",
        parse: { $0.listed("gram_min_eig") ? GramMinEigenvalue() : nil })

    public init() {}

    public func quantities(_ shape: NetworkShape) -> [String] { shape.batch > 1 ? ["gram_min_eig"] : [] }

    /// `B λ_min(G)/Tr G` (scale-free); NaN when Tr G = 0.
    public func values(_ g: [Double], count b: Int, scale: Double) throws(LAPACKError) -> [Double] {
        var trace = 0.0
        for a in 0..<b { trace += g[a * b + a] }
        guard trace > 0 else { return [.nan] }
        return [Double(b) * (try GramGeometry.eigenvalues(g, count: b).first ?? 0) / trace]
    }
}
