import LinearAlgebra
import Randomness

/// The implicit backend's layer map (`Backend.implicit`, DESIGN §5): `output ← W source`
/// without W, from the exact law of W X given X = source[..<N_{l−1}, :] (all C columns,
/// batch and tangents alike, so JVPs ride along).
///
/// Both weight laws go through R of the thin QR `X = QR` (Householder, float64; X padded
/// with zero rows when N_{l−1} < C), which keeps each column's relative accuracy whatever
/// the columns' sizes (2^±256-rescaled batch beside unit tangents) or angles (nearly equal
/// inputs) — a Gram matrix XᵀX and its eigen-factor would lose them to ε·λ_max — and
/// changes smoothly with X, so results do not hinge on rounding-level differences.
extension NetworkSampler {
    /// R of X, or nil when X holds a non-finite value (a diverged network: the layer's
    /// output is then NaN, reported as diverged, as the dense GEMM would make it).
    private mutating func layerFactor(fanIn: Int) throws(LAPACKError) -> Matrix<Double>? {
        let c = source.columns, ld = source.rows, rows = Swift.max(fanIn, c)
        // X in float64, in a buffer kept from layer to layer (a fresh 10⁶×C one per layer
        // would cost more in page faults than the QR itself).
        if implicitX.rows != rows || implicitX.columns != c { implicitX = Matrix(rows: rows, columns: c) }
        let finite = implicitX.elements.withUnsafeMutableBufferPointer { px in
            source.elements.withUnsafeBufferPointer { ps in
                var finite = true
                for j in 0..<c {
                    for i in 0..<fanIn {
                        let v = Double(ps[j * ld + i])
                        finite = finite && v.isFinite
                        px[j * rows + i] = v
                    }
                }
                return finite
            }
        }
        guard finite else { return nil }
        return try implicitX.formTriangularFactor()
    }

    /// Gaussian W (entries N(0, scale²)): the rows of W X are iid N(0, scale² XᵀX) =
    /// N(0, scale² RᵀR), drawn as scale·Z R with Z the N×C standard normals of stream `weights`.
    mutating func implicitGaussian(fanIn: Int, weights: RandomStream, scale: Double) throws(LAPACKError) {
        let n = spec.width, c = source.columns
        guard let r = try layerFactor(fanIn: fanIn) else {
            output.elements.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) }
            return
        }
        let factor = Matrix<T>(rows: c, columns: c, elements: r.elements.map { T($0) })
        panel.elements.withUnsafeMutableBufferPointer { T.fillStandardNormal(weights, $0, from: 0, scale: 1) }
        panel.elements.withUnsafeBufferPointer { pz in
            factor.elements.withUnsafeBufferPointer { pr in
                output.elements.withUnsafeMutableBufferPointer { ph in
                    T.multiply(.none, .none, m: n, n: c, k: c, alpha: T(scale), a: pz.baseAddress!, lda: n,
                               b: pr.baseAddress!, ldb: c, beta: 0, c: ph.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// Orthogonal W = alpha·O, O a Haar N×N₀ isometry (N ≥ N₀ ≥ C): O Q is a Haar N×C frame
    /// V, independent of X, so W X = alpha·V R; V is the sign-fixed Q factor of an N×C
    /// Gaussian matrix from stream `weights`.
    mutating func implicitOrthogonal(fanIn: Int, weights: RandomStream, alpha: Double) throws(LAPACKError) {
        let n = spec.width, c = source.columns
        guard let r = try layerFactor(fanIn: fanIn) else {
            output.elements.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) }
            return
        }
        let v = try Matrix<Double>.haarOrthogonal(rows: n, columns: c, stream: weights)
        let h = Matrix<Double>.product(v, r)
        for i in 0..<(n * c) { output.elements[i] = T(alpha * h.elements[i]) }
    }
}
