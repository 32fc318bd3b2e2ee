/// `stable_rank`: `(Tr G)²/Tr(G²) = (Σ λ)²/Σ λ²` of the pre-activations' Gram, in [1, B]: B
/// when the batch is orthogonal with equal lengths, 1 when it spans one direction; a
/// smooth count of the directions the batch occupies that needs no eigensolver (the
/// stable rank of H, Rudelson & Vershynin 2007). Theory: the same formula on the
/// mean-field covariance q^l_ab.
public struct StableRank: GramFunction {
    public static let entry = ObservableEntry(
        key: "stable_rank", placement: .forward, summary: "(Tr G)²/Tr(G²), directions the batch spans",
        parse: { $0.listed("stable_rank") ? StableRank() : nil })

    public init() {}

    public func quantities(_ shape: NetworkShape) -> [String] { ["stable_rank"] }

    /// `(Σ_a G_aa)²/Σ_ab G_ab²` (scale-free); NaN when G = 0.
    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        var trace = 0.0, squares = 0.0
        for a in 0..<b { trace += g[a * b + a] }
        for v in g { squares += v * v }
        return [squares > 0 ? trace * trace / squares : .nan]
    }
}
