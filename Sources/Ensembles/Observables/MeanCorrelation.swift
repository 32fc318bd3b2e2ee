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

    /// Two inputs: the delta method on `c = K_01/√(K_00 K_11)`, gradient
    /// `(−c/(2K_00), 1/√(K_00 K_11), −c/(2K_11))` against the pair's covariance
    /// (``KernelFluctuations``). More inputs would need the covariances of disjoint pairs
    /// (four-point functions of four inputs): none. Silent where |c| is within 10⁻³ of 1: the
    /// gradient's terms cancel to O((1 − |c|)²) there, below what the quadrature and the
    /// derivatives (~10⁻⁸ relative) resolve.
    public func standardDeviations(_ theory: TheoryContext) -> [[Double?]] {
        guard theory.batch == 2 else { return [] }
        return standardDeviations(theory, quantities: 1) { _, l in
            let k = theory.layers[l - 1].covariance, c = k[1] / (k[0] * k[3]).squareRoot()
            guard 1 - abs(c) >= 1e-3 else { return nil }
            let g = [-c / (2 * k[0]), 1 / (k[0] * k[3]).squareRoot(), -c / (2 * k[3])], entries = [(0, 0), (0, 1), (1, 1)]
            var total = 0.0
            for (x, e) in entries.enumerated() {
                for (y, f) in entries.enumerated() {
                    guard let v = theory.scaledKernelCovariance(e.0, e.1, f.0, f.1, layer: l) else { return nil }
                    total += g[x] * v * g[y]
                }
            }
            return total
        }
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        guard theory.batch > 1 else { return Prediction(values: []) }
        var prediction = Prediction(quantities: 1, theory: theory) { _, l in theory.layers[l - 1].meanC }
        prediction.standardDeviations = standardDeviations(theory)
        return prediction
    }
}
