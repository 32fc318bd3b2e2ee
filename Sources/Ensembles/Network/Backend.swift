/// How a layer's `W [x | T]` is realised (``Affine``); ``Observables/implicitUnsupported(_:)``
/// says where the implicit one cannot serve.
public enum Backend: String, Sendable, Hashable, CaseIterable {
    /// W is drawn and multiplied: O(N²) normals and 2N²C flops per layer.
    case dense
    /// W is never formed. Given the layer input X (the batch and its C − B tangent columns),
    /// the rows of `W X` are iid `N(0, σ_w²/(s N_{l−1}) · XᵀX)` for Gaussian W, independent
    /// of X's rows — drawn as `(σ_w/√(s N_{l−1})) Z R` with X = QR — and `O X` has the law
    /// of `V R` (V a Haar N×C frame) for orthogonal W; biases are added to the batch
    /// columns. Exactly the dense network's law, at O(N C²) per layer: widths of 10⁶–10⁷.
    case implicit
}
