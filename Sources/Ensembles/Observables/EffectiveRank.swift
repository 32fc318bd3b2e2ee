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

    /// Fully connected nets, B ≤ 8: theory_sd and theory_1n by the delta method over the whole
    /// kernel (``deltaMethodPrediction(_:frame:smooth:)``), differentiated in the
    /// centred kernel C's coordinates on the scale of its gap λ₁ − λ₂ (``DifferenceFrame``).
    /// Silent where λ_max of C is not smooth on the scale of the fluctuations: where the coupling
    /// of its top two eigenvectors, `v₁ᵀ δC v₂` (its spread by the same delta method), reaches a
    /// tenth of their gap: λ_max's second-order term `(v₁ᵀ δC v₂)²/(λ₁ − λ₂)` is then up to a
    /// tenth of the first (the terms of the lower eigenvectors, over larger gaps, are smaller; at
    /// a quarter, the tests measured eff_rank's spread up to 15 % below the delta method's at
    /// N = 128 and 11 % at N = 512). Silent also where the kernel's size passes 10³ gaps: C's
    /// covariance is the kernel's with its common part cancelled, which loses (K/gap)² of the
    /// kernel covariance's ~10⁻⁸ accuracy (c's own limit at 1 − |c| = 10⁻³). A Gram batch's
    /// λ_max is (B − 1)-fold degenerate: eff_rank's law is then that of the largest eigenvalue of
    /// a random matrix, its bias of the order of its spread and not 1/N (the collapse of a deep
    /// critical relu net's eff_rank at N = 512).
    public func predict(_ theory: TheoryContext) -> Prediction {
        let b = theory.batch
        guard b >= 2 else { return gramPrediction(theory) }
        let spectra = theory.layers.map { layer in
            try? Matrix(rows: b, columns: b, elements: GramGeometry.centred(layer.covariance, count: b)).symmetricEigen()
        }
        func frame(_ l: Int) -> DifferenceFrame? {
            guard l <= spectra.count, let (values, _) = spectra[l - 1] else { return nil }
            let gap = values[b - 1] - values[b - 2], size = (0..<b).map { theory.layers[l - 1].covariance[$0 * b + $0] }.max() ?? 0
            guard gap > 0, size <= 1e3 * gap else { return nil }
            return DifferenceFrame(scale: gap) { GramGeometry.centred($0, count: b) }
        }
        return deltaMethodPrediction(theory, frame: frame) { l in
            guard let frame = frame(l), let (_, vectors) = spectra[l - 1],
                  let coupling = theory.deltaMethodVariance(layer: l, frame: frame, { c in
                      var total = 0.0
                      for i in 0..<b { for j in 0..<b { total += vectors[i, b - 1] * c[i * b + j] * vectors[j, b - 2] } }
                      return total
                  }) else { return false }
            return frame.scale >= 10 * (coupling / Double(theory.network.width)).squareRoot()
        }
    }
}
