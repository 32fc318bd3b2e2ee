/// `q^l = (1/B) Σ_a |h^l_a|²/N`: the mean squared length of the pre-activations over the
/// batch (Poole et al. 2016, eq. 2); theory: the length map iterated from the inputs.
public struct MeanSquaredLength: GramFunction {
    public static let entry = ObservableEntry(
        key: "q", placement: .forward, summary: "(1/B) Σ_a |h_a|²/N (Poole et al. 2016)",
        parse: { $0.listed("q") ? MeanSquaredLength() : nil })

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { ["q"] }

    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        var s = 0.0
        for a in 0..<b { s += g[a * b + a] }
        return [s / Double(b) * scale]
    }

    /// `E q̂ = B^{−1} Σ_a (K_aa + μ_aa)` to order 1/N (``KernelFluctuations/scaledMeanShifts``).
    public func predict(_ theory: TheoryContext) -> Prediction {
        var prediction = gramPrediction(theory)
        guard theory.kernelFluctuations != nil else { return prediction }
        let b = theory.batch
        prediction.corrected = [(1...theory.network.depth).map { l -> Double? in
            var total = 0.0
            for a in 0..<b {
                guard let length = theory.correctedKernel(a, a, layer: l) else { return nil }
                total += length
            }
            return total / Double(b)
        }]
        return prediction
    }

    /// `Var q̂ = B^{−2} Σ_ab Cov(K̂_aa, K̂_bb)` (``KernelFluctuations``), with its next order
    /// where every pair has one.
    public func standardDeviations(_ theory: TheoryContext) -> [[Double?]] {
        let b = theory.batch
        return standardDeviations(theory, quantities: 1) { _, l in
            var total = 0.0, next: Double? = 0
            for a in 0..<b {
                for c in 0..<b {
                    guard let v = theory.scaledKernelCovariance(a, a, c, c, layer: l) else { return nil }
                    total += v
                    if let n = next, let w = theory.secondOrderKernelCovariance(a, a, c, c, layer: l) { next = n + w } else { next = nil }
                }
            }
            return (total / Double(b * b), next.map { $0 / Double(b * b) })
        }
    }
}
