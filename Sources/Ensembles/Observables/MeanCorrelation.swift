/// `c^l`: the mean over input pairs a < b of `q^l_ab/√(q^l_aa q^l_bb)` (Poole et al. 2016,
/// eq. 5); B ≥ 2. Theory: the mean of the mean-field correlations over the pairs whose
/// lengths are positive.
public struct MeanCorrelation: GramFunction {
    public static let entry = ObservableEntry(
        key: "c", placement: .forward, summary: "mean over pairs of q_ab/√(q_aa q_bb)",
        parse: { $0.listed("c") ? MeanCorrelation() : nil })

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { shape.batch > 1 ? ["c"] : [] }

    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        var s = 0.0
        for j in 1..<b {
            for a in 0..<j {
                // √(G_aa G_bb), as √G_aa √G_bb where the product leaves Double's normal range
                // (lengths near 10^±154 are ordinary doubles; their product is not).
                let product = g[a * b + a] * g[j * b + j]
                let norm = product.isNormal ? product.squareRoot() : g[a * b + a].squareRoot() * g[j * b + j].squareRoot()
                s += g[a * b + j] / norm
            }
        }
        return [s / Double(b * (b - 1) / 2)]
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        guard theory.batch > 1 else { return Prediction(values: []) }
        return Prediction(quantities: 1, theory: theory) { _, l in theory.layers[l - 1].meanC }
    }
}
