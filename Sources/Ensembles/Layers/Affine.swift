import LinearAlgebra
import MeanField
import Randomness

/// The affine map without its bias, `W^l [x | T]` on every column (batch and tangents), with
/// `W_ij ~ N(0, σ_w²/(s N_{l−1}))` or `W = (σ_w/√s)·√max(1, N_l/N_{l−1})·O` (``WeightLaw``),
/// s = 1 or L (``WeightScaling``).
///
/// Mean field: `q_ab = (σ_w²/s) x_a·x_b/N_{l−1}` (Poole et al. 2016, eq. 3 without its bias;
/// the same for both weight laws, whose rows have the same second moments).
///
/// Two realisations of the same law (``Backend``):
/// - dense: W is drawn and multiplied. Gaussian `W` without tangents is generated one panel
///   of columns at a time straight into the GEMM (`H += W[:, j₀..<j₁] X[j₀..<j₁, :]`), so it
///   is never held whole: the panel stays in cache. With tangents the whole `W` is drawn
///   first, so the N³ GEMM runs at full BLAS speed. Orthogonal `W` needs the whole Haar
///   matrix (one QR per layer).
/// - implicit: W is never formed. Given X = source (all C columns), the rows of W X are iid
///   `N(0, σ²XᵀX)` for Gaussian W, independent of X's rows, drawn as `σ Z R` with R from the
///   thin QR `X = QR` (Householder, float64, one streamed pass over X; X padded with zero
///   rows when N_{l−1} < C), Z drawn and multiplied a cache-sized block of rows at a time; and
///   `O X` has the law of `V R`, V a Haar N×C frame. R keeps each column's relative
///   accuracy whatever the columns' sizes (a 2^±256-rescaled batch beside unit tangents) or
///   angles (nearly equal inputs) — a Gram matrix XᵀX and its eigen-factor would lose them
///   to ε·λ_max — and changes smoothly with X, so results do not hinge on rounding.
///
/// Weights come from stream `(…, sample, l, weights)`, so ``weightMatrix(_:layer:)`` can
/// regenerate any layer's W (the empirical NTK's backward pass).
public struct Affine: LayerMap {
    public let spec: NetworkSpec

    public init(spec: NetworkSpec) { self.spec = spec }

    /// `σ_w/√s`: the weight scale of the maps.
    var sigmaW: Double { spec.sigmaW / spec.varianceDivisor.squareRoot() }

    /// Columns of `W` generated per panel: about 256 KiB of weights, within L2; the whole
    /// matrix when tangent columns make the GEMM large enough to want it.
    public static func panelWidth(rows: Int, columns: Int = 8) -> Int {
        columns > 64 ? Int.max : max(8, min(rows, 32_768 / max(rows, 1)))
    }

    /// The work panel a sampler keeps for this layer map (rows × columns): dense, a panel of
    /// W's columns (``panelWidth(rows:columns:)``); implicit Gaussian, a block of rows of Z
    /// (``Matrix/streamedBlockRows(columns:)``); implicit orthogonal, none.
    public static func panelShape(width n: Int, inputDimension: Int, columns: Int, backend: Backend,
                                  weightInit: WeightLaw) -> (rows: Int, columns: Int) {
        switch (backend, weightInit) {
        case (.dense, _): (n, min(panelWidth(rows: n, columns: columns), max(n, inputDimension)))
        case (.implicit, .gaussian): (min(n, Matrix<Double>.streamedBlockRows(columns: columns)), columns)
        case (.implicit, .orthogonal), (.implicit, .deltaOrthogonal): (n, 0)
        }
    }

    public func propagate(_ state: MeanFieldState) -> MeanFieldState? {
        var next = state
        next.input = state.moments
        next.moments = state.moments.scaled(by: sigmaW * sigmaW).centred
        return next
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) throws(LAPACKError) {
        let fanIn = network.fanIn, n = spec.width, weights = network.stream(.weights)
        switch (network.backend, spec.weightInit) {
        case (.implicit, .gaussian):
            implicitGaussian(&network, weights: weights, scale: sigmaW / Double(fanIn).squareRoot())
        case (.implicit, .orthogonal), (.implicit, .deltaOrthogonal):
            try implicitOrthogonal(&network, weights: weights, alpha: sigmaW * (Double(n) / Double(fanIn)).squareRoot())
        case (.dense, .gaussian):
            denseGaussian(&network, weights: weights, scale: T(sigmaW / Double(fanIn).squareRoot()))
        case (.dense, .orthogonal), (.dense, .deltaOrthogonal):
            let tall = n >= fanIn, columns = network.columns, ld = network.source.rows
            let o = try Matrix<T>.haarOrthogonal(rows: max(n, fanIn), columns: min(n, fanIn), stream: weights)
            let alpha = T(sigmaW * (tall ? (Double(n) / Double(fanIn)).squareRoot() : 1))
            o.elements.withUnsafeBufferPointer { po in
                network.source.elements.withUnsafeBufferPointer { px in
                    network.output.elements.withUnsafeMutableBufferPointer { ph in
                        T.multiply(tall ? .none : .transposed, .none, m: n, n: columns, k: fanIn, alpha: alpha,
                                   a: po.baseAddress!, lda: o.rows, b: px.baseAddress!, ldb: ld,
                                   beta: 0, c: ph.baseAddress!, ldc: n)
                    }
                }
            }
        }
    }

    /// W^l as `sample` applies it (N × N_{l−1}), regenerated in float64 from `stream`.
    public func weightMatrix(_ stream: RandomStream, fanIn: Int) throws(LAPACKError) -> Matrix<Double> {
        let n = spec.width
        switch spec.weightInit {
        case .gaussian:
            return Matrix<Double>.gaussian(rows: n, columns: fanIn, scale: sigmaW / Double(fanIn).squareRoot(), stream: stream)
        case .orthogonal, .deltaOrthogonal:
            return try Self.orthogonalWeights(rows: n, columns: fanIn, sigmaW: sigmaW, stream: stream)
        }
    }

    /// The orthogonal law's rows × columns weight matrix (``WeightLaw/orthogonal``): a Haar
    /// matrix with orthonormal columns (rows when rows < columns) from `stream`, scaled by
    /// `σ_w·√max(1, rows/columns)`. Also a delta-orthogonal kernel's centre tap (``Convolution``).
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    static func orthogonalWeights<T: BLASScalar & GaussianFillable>(rows n: Int, columns fanIn: Int, sigmaW: Double,
                                                                     stream: RandomStream) throws(LAPACKError) -> Matrix<T> {
        let tall = n >= fanIn
        let o = try Matrix<T>.haarOrthogonal(rows: max(n, fanIn), columns: min(n, fanIn), stream: stream)
        let alpha = T(sigmaW * (tall ? (Double(n) / Double(fanIn)).squareRoot() : 1))
        var w = Matrix<T>(rows: n, columns: fanIn)
        for j in 0..<fanIn { for i in 0..<n { w[i, j] = alpha * (tall ? o[i, j] : o[j, i]) } }
        return w
    }

    /// Gaussian W drawn panel by panel into `output ← W source`.
    private func denseGaussian<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>, weights: RandomStream,
                                                                   scale: T) {
        let n = spec.width, fanIn = network.fanIn, columns = network.columns, ld = network.source.rows
        let width = min(network.panel.columns, fanIn)
        var j0 = 0
        while j0 < fanIn {
            let cols = min(width, fanIn - j0)
            network.panel.elements.withUnsafeMutableBufferPointer { p in
                T.fillStandardNormal(weights, UnsafeMutableBufferPointer(rebasing: p[0..<(n * cols)]), from: j0 * n, scale: scale)
            }
            let beta: T = j0 == 0 ? 0 : 1
            network.panel.elements.withUnsafeBufferPointer { pw in
                network.source.elements.withUnsafeBufferPointer { px in
                    network.output.elements.withUnsafeMutableBufferPointer { ph in
                        T.multiply(.none, .none, m: n, n: columns, k: cols, alpha: 1,
                                   a: pw.baseAddress!, lda: n, b: px.baseAddress! + j0, ldb: ld,
                                   beta: beta, c: ph.baseAddress!, ldc: n)
                    }
                }
            }
            j0 += cols
        }
    }

    /// R of X = source[..<N_{l−1}, :] (``Matrix/streamedTriangularFactor(of:rows:columns:leadingDimension:)``:
    /// one pass over X, in float64), or nil when X holds a non-finite value: a diverged
    /// network, whose layer output is then set to NaN (reported as diverged), as the dense
    /// GEMM would make it.
    private func layerFactor<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) -> Matrix<Double>? {
        let c = network.columns, ld = network.source.rows, fanIn = network.fanIn
        let r = network.source.elements.withUnsafeBufferPointer { ps in
            Matrix<Double>.streamedTriangularFactor(of: ps.baseAddress!, rows: fanIn, columns: c, leadingDimension: ld)
        }
        if r == nil { network.output.elements.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) } }
        return r
    }

    /// Gaussian W (entries N(0, scale²)): `W X = scale·Z R`, Z the N×C standard normals of
    /// stream `weights` (Z_ij is element j·N + i). Z is drawn and multiplied a block of rows
    /// at a time in `panel`, which stays in cache: each row block of H is written once.
    private func implicitGaussian<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                      weights: RandomStream, scale: Double) {
        let n = spec.width, c = network.columns
        guard let r = layerFactor(&network) else { return }
        // float64 with few columns: scale·R for the triangular kernel; otherwise R for BLAS.
        let kernel = T.self == Double.self && c <= 32
        let scaledR = kernel ? r.elements.map { scale * $0 } : []
        let factor = kernel ? Matrix<T>(rows: 0, columns: 0) : Matrix<T>(rows: c, columns: c, elements: r.elements.map { T($0) })
        let block = network.panel.rows
        var first = 0
        while first < n {
            let rows = Swift.min(block, n - first)
            network.panel.elements.withUnsafeMutableBufferPointer { pz in
                for j in 0..<c {
                    T.fillStandardNormal(weights, UnsafeMutableBufferPointer(rebasing: pz[(j * rows)..<((j + 1) * rows)]),
                                         from: j * n + first, scale: 1)
                }
            }
            network.panel.elements.withUnsafeBufferPointer { pz in
                factor.elements.withUnsafeBufferPointer { pr in
                    network.output.elements.withUnsafeMutableBufferPointer { ph in
                        if kernel {
                            Self.triangularProduct(UnsafeRawPointer(pz.baseAddress!).assumingMemoryBound(to: Double.self),
                                                   leadingDimension: rows, rows: rows, columns: c, scaledR: scaledR,
                                                   into: UnsafeMutableRawPointer(ph.baseAddress! + first)
                                                       .assumingMemoryBound(to: Double.self), ld: n)
                        } else {
                            T.multiply(.none, .none, m: rows, n: c, k: c, alpha: T(scale), a: pz.baseAddress!, lda: rows,
                                       b: pr.baseAddress!, ldb: c, beta: 0, c: ph.baseAddress! + first, ldc: n)
                        }
                    }
                }
            }
            first += rows
        }
    }

    /// `H = Z (scale R)` for a block of `rows` rows: Z rows×C (leading dimension `zld`), scale·R
    /// C×C upper triangular (column-major), H with leading dimension `ld`. Sixteen rows at a
    /// time, `h_j = Σ_{k ≤ j} z_k (scale R_kj)` in k's order: C(C+1)/2 fused multiply–adds
    /// per row, about half a GEMM's, and no packing or β pass (a few C: BLAS's overheads
    /// dominate); four independent SIMD4 sums, so the adds do not wait on one another's
    /// latency. Each element's sum is the same in the four-row and one-row remainders.
    /// The columns go last to first, so H may be Z itself (`h == z`, `ld == zld`): h_j
    /// overwrites z_j once no later column needs it. With `bias` (rows doubles), each h_ij is
    /// then `fl(fl(Σ_k …) + b_i)`: the sum, rounded, plus the bias, as ``Bias`` adds it after.
    static func triangularProduct(_ z: UnsafePointer<Double>, leadingDimension zld: Int, rows: Int, columns c: Int,
                                  scaledR: [Double], into h: UnsafeMutablePointer<Double>, ld: Int,
                                  bias: UnsafePointer<Double>? = nil) {
        scaledR.withUnsafeBufferPointer { sr in
            var i = 0
            while i + 16 <= rows {
                for j in (0..<c).reversed() {
                    var a0 = SIMD4<Double>(), a1 = SIMD4<Double>(), a2 = SIMD4<Double>(), a3 = SIMD4<Double>()
                    for k in 0...j {
                        let zk = UnsafeRawPointer(z + k * zld + i), r = SIMD4(repeating: sr[j * c + k])
                        a0.addProduct(zk.loadUnaligned(as: SIMD4<Double>.self), r)
                        a1.addProduct(zk.loadUnaligned(fromByteOffset: 32, as: SIMD4<Double>.self), r)
                        a2.addProduct(zk.loadUnaligned(fromByteOffset: 64, as: SIMD4<Double>.self), r)
                        a3.addProduct(zk.loadUnaligned(fromByteOffset: 96, as: SIMD4<Double>.self), r)
                    }
                    if let bias {
                        let b = UnsafeRawPointer(bias + i)
                        a0 += b.loadUnaligned(as: SIMD4<Double>.self)
                        a1 += b.loadUnaligned(fromByteOffset: 32, as: SIMD4<Double>.self)
                        a2 += b.loadUnaligned(fromByteOffset: 64, as: SIMD4<Double>.self)
                        a3 += b.loadUnaligned(fromByteOffset: 96, as: SIMD4<Double>.self)
                    }
                    let hj = UnsafeMutableRawPointer(h + j * ld + i)
                    hj.storeBytes(of: a0, as: SIMD4<Double>.self)
                    hj.storeBytes(of: a1, toByteOffset: 32, as: SIMD4<Double>.self)
                    hj.storeBytes(of: a2, toByteOffset: 64, as: SIMD4<Double>.self)
                    hj.storeBytes(of: a3, toByteOffset: 96, as: SIMD4<Double>.self)
                }
                i += 16
            }
            while i + 4 <= rows {
                for j in (0..<c).reversed() {
                    var acc = SIMD4<Double>(repeating: 0)
                    for k in 0...j {
                        let zk = UnsafeRawPointer(z + k * zld + i).loadUnaligned(as: SIMD4<Double>.self)
                        acc.addProduct(zk, SIMD4(repeating: sr[j * c + k]))
                    }
                    if let bias { acc += UnsafeRawPointer(bias + i).loadUnaligned(as: SIMD4<Double>.self) }
                    UnsafeMutableRawPointer(h + j * ld + i).storeBytes(of: acc, as: SIMD4<Double>.self)
                }
                i += 4
            }
            while i < rows {
                for j in (0..<c).reversed() {
                    var acc = 0.0
                    for k in 0...j { acc.addProduct(z[k * zld + i], sr[j * c + k]) }
                    if let bias { acc += bias[i] }
                    h[j * ld + i] = acc
                }
                i += 1
            }
        }
    }

    /// Orthogonal W = alpha·O, O a Haar N×N₀ isometry (N ≥ N₀ ≥ C): O Q is a Haar N×C frame
    /// V, independent of X, so W X = alpha·V R; V is the sign-fixed Q factor of an N×C
    /// Gaussian matrix from stream `weights`.
    private func implicitOrthogonal<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                        weights: RandomStream, alpha: Double)
        throws(LAPACKError) {
        let n = spec.width, c = network.columns
        guard let r = layerFactor(&network) else { return }
        let v = try Matrix<Double>.haarOrthogonal(rows: n, columns: c, stream: weights)
        let h = Matrix<Double>.product(v, r)
        for i in 0..<(n * c) { network.output.elements[i] = T(alpha * h.elements[i]) }
    }
}
