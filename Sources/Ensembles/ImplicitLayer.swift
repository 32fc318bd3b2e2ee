import LinearAlgebra
import Randomness

/// The implicit backend's layer map (`Backend.implicit`, DESIGN §5): `output ← W source`
/// without W, from the exact law of W X given X = source[..<N_{l−1}, :] (all C columns,
/// batch and tangents alike, so JVPs ride along). Grams are taken in float64.
extension NetworkSampler {
    /// Gaussian W (entries N(0, scale²)): the rows of W X are iid N(0, Σ), Σ = scale² XᵀX,
    /// drawn as Z Lᵀ with Z the N×C standard normals of stream `weights` and L = U Λ^{1/2}
    /// from Σ = U Λ Uᵀ — a factor that stays exact when Σ is singular (B > N₀, collapsed
    /// representations), negative rounding in Λ clipped to 0.
    mutating func implicitGaussian(fanIn: Int, weights: RandomStream, scale: Double) throws(LAPACKError) {
        let n = spec.width, c = source.columns, ld = source.rows
        let sigma = source.elements.withUnsafeBufferPointer { px in
            Matrix<Double>.gram(of: px.baseAddress!, rows: fanIn, columns: c, ld: ld)
        }
        let (values, vectors) = try sigma.symmetricEigen()
        var factor = Matrix<T>(rows: c, columns: c)
        for k in 0..<c {
            let root = scale * Swift.max(0, values[k]).squareRoot()
            for i in 0..<c { factor[i, k] = T(vectors[i, k] * root) }
        }
        panel.elements.withUnsafeMutableBufferPointer { T.fillStandardNormal(weights, $0, from: 0, scale: 1) }
        panel.elements.withUnsafeBufferPointer { pz in
            factor.elements.withUnsafeBufferPointer { pl in
                output.elements.withUnsafeMutableBufferPointer { ph in
                    T.multiply(.none, .transposed, m: n, n: c, k: c, alpha: 1, a: pz.baseAddress!, lda: n,
                               b: pl.baseAddress!, ldb: c, beta: 0, c: ph.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// Orthogonal W = alpha·O, O a Haar N×N₀ isometry (N ≥ N₀): with X = QR (thin), O Q is
    /// a Haar N×C frame V, independent of X, so W X = alpha·V R; V is the sign-fixed Q factor
    /// of an N×C Gaussian matrix from stream `weights`.
    mutating func implicitOrthogonal(fanIn: Int, weights: RandomStream, alpha: Double) throws(LAPACKError) {
        let n = spec.width, c = source.columns, ld = source.rows
        var x = Matrix<Double>(rows: fanIn, columns: c)
        for j in 0..<c { for i in 0..<fanIn { x[i, j] = Double(source.elements[j * ld + i]) } }
        let r = try x.qr().r
        let v = try Matrix<Double>.haarOrthogonal(rows: n, columns: c, stream: weights)
        let h = Matrix<Double>.product(v, r)
        for i in 0..<(n * c) { output.elements[i] = T(alpha * h.elements[i]) }
    }
}
