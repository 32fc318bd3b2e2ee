/// How a layer's `W [x | T]` is realised (DESIGN §5).
public enum Backend: String, Sendable, Hashable, CaseIterable {
    /// W is drawn and multiplied: O(N²) normals and 2N²C flops per layer.
    case dense
    /// W is never formed. Given the layer input X (the batch and its C − B tangent columns),
    /// the rows of `W X` are iid `N(0, σ_w²/(s N_{l−1}) · XᵀX)` for Gaussian W, independent
    /// of X's rows — drawn as `(σ_w/√(s N_{l−1})) Z R` with X = QR — and `O X` has the law
    /// of `V R` (V a Haar N×C frame) for orthogonal W; biases are added to the batch
    /// columns. Exactly the dense network's law, at O(N C²) per layer: widths of 10⁶–10⁷.
    case implicit

    /// Why the implicit backend cannot serve this network and these observables, or nil
    /// when it can: the full Jacobian and the empirical NTK need W itself; the layer must be
    /// wider than its columns (C = B + tangents) for the row law to be sampled as N×C
    /// normals times a C×C factor; orthogonal weights need N ≥ N₀ (a tall first layer).
    public static func implicitUnsupported(spec: NetworkSpec, observables: Observables, inputDimension: Int,
                                           batch: Int) -> String? {
        if observables.jacobian != nil { return "the full Jacobian spectrum (observe.jacobian) needs the dense backend" }
        if observables.ntk { return "the empirical NTK (observe.ntk) needs the dense backend" }
        let columns = batch + NetworkSampler<Double>.tangentColumns(observables, inputDimension: inputDimension,
                                                                  width: spec.width, batch: batch).total
        if spec.width <= columns {
            return "width \(spec.width) is not wider than the \(columns) columns (inputs and tangents) of a layer"
        }
        if spec.weightInit == .orthogonal, spec.width < inputDimension {
            return "orthogonal weights with width \(spec.width) < input dimension \(inputDimension) (a wide first layer)"
        }
        if spec.weightInit == .orthogonal, inputDimension < columns {
            return "orthogonal weights need the input dimension \(inputDimension) ≥ the \(columns) columns of a layer"
        }
        return nil
    }
}
