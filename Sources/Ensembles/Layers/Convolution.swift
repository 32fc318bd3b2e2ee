#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField
import Randomness

/// A convolution over one or two spatial dimensions with circular padding and stride 1,
/// `h_{c,p} = Σ_{t} Σ_{c′} ω^t_{c c′} x_{c′, p+t}` (positions modulo the shape), the taps t
/// running over the k^d offsets of a centred k × … × k footprint (k odd): the layer of
/// Xiao et al. (2018), "Dynamical Isometry and a Mean Field Theory of CNNs", §2.
///
/// A signal of C channels at P positions is stored as C·P rows, channel fastest:
/// row `c + C·p`, position `p = x + W·y` in two dimensions (x the last axis). Read as a
/// C × (P·columns) column-major matrix, every tap is then one GEMM on a circularly shifted
/// copy of the input.
///
/// Kernels:
/// - ``Kernel/gaussian``: every tap's entries iid N(0, σ_w²/(C_in k^d));
/// - ``Kernel/deltaOrthogonal``: the centre tap a Haar-distributed C_out × C_in matrix with
///   orthonormal columns (rows when C_out < C_in) scaled as ``Affine``'s orthogonal weights,
///   by σ_w·√(C_out/C_in) (tall) or σ_w (wide), so that q has the Gaussian kernel's mean;
///   every other tap zero (Xiao et al. 2018, Algorithm 2).
///
/// Mean field (Xiao et al. 2018, §2, their operator 𝒜): the covariance of the pre-activations over
/// (input, position) pairs propagates as `Σ^l = σ_w² 𝒜(E[φ(u)φ(u)ᵀ]) + σ_b²`, u ~ N(0, Σ^{l−1}),
/// where `𝒜(K)_{(a,p),(b,p′)} = k^{−d} Σ_t K_{(a,p+t),(b,p′+t)}` averages over the footprint
/// (and is the identity for delta-orthogonal kernels, whose only tap is the centre).
public struct Convolution: LayerMap, Hashable {
    /// How the taps are drawn.
    public enum Kernel: String, Sendable, Hashable {
        case gaussian
        case deltaOrthogonal = "delta-orthogonal"
    }

    /// The spatial extent, one or two axes (`[L]` or `[H, W]`).
    public let shape: [Int]
    /// k, odd, at most every axis's extent.
    public let size: Int
    public let sigmaW: Double
    public let kernel: Kernel
    /// The taps' offsets, one per axis, in row-major order of the footprint (the centre is
    /// tap `(k^d − 1)/2`).
    public let taps: [[Int]]

    /// Refused with the offending key: a shape of 0 or more than 2 axes or a non-positive
    /// extent (`inputs.shape`), an even kernel size or one wider than an axis
    /// (`network.kernel_size`).
    public init(shape: [Int], size: Int, sigmaW: Double, kernel: Kernel) throws(ConfigError) {
        guard (1...2).contains(shape.count), shape.allSatisfy({ $0 >= 1 }) else {
            throw ConfigError(key: "inputs.shape", "the spatial shape must have one or two axes of positive extent, got \(shape)")
        }
        guard size >= 1, size % 2 == 1 else {
            throw ConfigError(key: "network.kernel_size", "must be an odd positive integer (a centred footprint), got \(size)")
        }
        guard let narrowest = shape.min(), size <= narrowest else {
            throw ConfigError(key: "network.kernel_size",
                              "\(size) is wider than the input's spatial shape \(shape): the circular footprint would wrap onto itself")
        }
        self.shape = shape
        self.size = size
        self.sigmaW = sigmaW
        self.kernel = kernel
        let half = (size - 1) / 2, range = Array(-half...half)
        taps = shape.count == 1 ? range.map { [$0] } : range.flatMap { dy in range.map { dx in [dy, dx] } }
    }

    /// P, the number of positions.
    public var positions: Int { shape.reduce(1, *) }

    /// The index of the centre tap in ``taps``.
    public var centreTap: Int { (taps.count - 1) / 2 }

    /// `p + t` modulo the shape, for position p and tap offset t.
    public func shifted(_ p: Int, by t: [Int]) -> Int { Self.shifted(p, by: t, shape: shape) }

    /// `p + t` modulo `shape` (`[L]` or `[H, W]`, position `x + W·y`), for an offset t per axis.
    public static func shifted(_ p: Int, by t: [Int], shape: [Int]) -> Int {
        if shape.count == 1 { return ((p + t[0]) % shape[0] + shape[0]) % shape[0] }
        let w = shape[1], h = shape[0]
        let y = ((p / w + t[0]) % h + h) % h, x = ((p % w + t[1]) % w + w) % w
        return x + w * y
    }

    /// The offsets 𝒜 averages over: every tap, or only the centre for a delta-orthogonal
    /// kernel (whose other taps are zero).
    public var footprint: [[Int]] { kernel == .deltaOrthogonal ? [taps[centreTap]] : taps }

    /// The taps' weights `ω^t` (C_out × C_in each), from `stream`; nil for a tap that is zero
    /// (all but the centre of a delta-orthogonal kernel).
    public func weights<T: BLASScalar & GaussianFillable>(channelsIn: Int, channelsOut: Int, stream: RandomStream)
        throws(LAPACKError) -> [Matrix<T>?] {
        switch kernel {
        case .gaussian:
            let scale = T(sigmaW / Double(channelsIn * taps.count).squareRoot())
            let all = Matrix<T>.gaussian(rows: channelsOut, columns: channelsIn * taps.count, scale: scale, stream: stream)
            return (0..<taps.count).map { t in
                Matrix(rows: channelsOut, columns: channelsIn,
                       elements: Array(all.elements[(t * channelsIn * channelsOut)..<((t + 1) * channelsIn * channelsOut)]))
            }
        case .deltaOrthogonal:
            let centre: Matrix<T> = try Affine.orthogonalWeights(rows: channelsOut, columns: channelsIn, sigmaW: sigmaW,
                                                                 stream: stream)
            return (0..<taps.count).map { $0 == centreTap ? centre : nil }
        }
    }

    /// `h = ω ⋆ x` for every column of `x` (C_in·P rows, channel fastest): C_out·P rows.
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public func apply<T: BLASScalar>(_ weights: [Matrix<T>?], to x: Matrix<T>) -> Matrix<T> {
        let p = positions, columns = x.columns
        precondition(weights.count == taps.count, "one weight matrix (or nil) per tap")
        guard let first = weights.compactMap({ $0 }).first else { preconditionFailure("a kernel with no tap") }
        let cIn = first.columns, cOut = first.rows
        precondition(x.rows == cIn * p, "the input has \(x.rows) rows, not C_in·P = \(cIn)·\(p)")
        var out = Matrix<T>(rows: cOut, columns: p * columns)
        var shiftedInput = Matrix<T>(rows: cIn, columns: p * columns)
        for (t, offset) in taps.enumerated() {
            guard let w = weights[t] else { continue }
            shiftedInput.elements.withUnsafeMutableBufferPointer { ps in
                x.elements.withUnsafeBufferPointer { px in
                    for column in 0..<columns {
                        for q in 0..<p {
                            let source = (shifted(q, by: offset) + p * column) * cIn, target = (q + p * column) * cIn
                            for c in 0..<cIn { ps[target + c] = px[source + c] }
                        }
                    }
                }
            }
            out.multiply(w, shiftedInput, alpha: 1, beta: 1)
        }
        return Matrix(rows: cOut * p, columns: columns, elements: out.elements)
    }

    /// The same law as ``apply(_:to:)`` with weights from ``weights(channelsIn:channelsOut:stream:)``,
    /// drawn without forming ω: given x, the output channels are iid, each a Gaussian vector
    /// over the n = P·B (position, input) pairs. Gaussian kernel: its covariance is
    /// `σ_w²/(C_in k^d) Σ_t X_tᵀ X_t = Rᵀ R`, X_t the input shifted by tap t (C_in × n) and R
    /// the triangular factor of the taps' stacked copies (``Matrix/streamedTriangularFactor(of:rows:columns:leadingDimension:)``,
    /// zero rows where C_in k^d < n), so `H = Z R` with Z a C_out × n matrix of standard
    /// normals. Delta-orthogonal kernel (C_out ≥ C_in): `H = α O X_c = α (O Q) R`, X_c = Q R,
    /// and O Q is a Haar C_out × r frame, r = min(C_in, n) (as ``Affine``'s implicit
    /// orthogonal layer). Returns C_out·P rows; nil when x holds a non-finite value.
    public func sampleImplicitly(_ x: Matrix<Double>, channelsOut: Int, stream: RandomStream)
        throws(LAPACKError) -> Matrix<Double>? {
        let p = positions, b = x.columns, n = p * b
        precondition(x.rows % p == 0, "the input's \(x.rows) rows are not C_in·P with P = \(p)")
        let cIn = x.rows / p
        let used = kernel == .deltaOrthogonal ? [taps[centreTap]] : taps
        let rows = cIn * used.count
        var stacked = [Double](repeating: 0, count: rows * n)
        stacked.withUnsafeMutableBufferPointer { ps in
            x.elements.withUnsafeBufferPointer { px in
                for (k, offset) in used.enumerated() {
                    for a in 0..<b {
                        for q in 0..<p {
                            let source = cIn * shifted(q, by: offset) + x.rows * a, target = k * cIn + rows * (q + p * a)
                            for c in 0..<cIn { ps[target + c] = px[source + c] }
                        }
                    }
                }
            }
        }
        guard var r = stacked.withUnsafeBufferPointer({ ps in
            Matrix<Double>.streamedTriangularFactor(of: ps.baseAddress!, rows: rows, columns: n, leadingDimension: rows)
        }) else { return nil }
        var h = Matrix<Double>(rows: channelsOut, columns: n)
        switch kernel {
        case .gaussian:
            let scale = sigmaW / Double(cIn * used.count).squareRoot()
            for k in r.elements.indices { r.elements[k] *= scale }
            h.multiply(Matrix<Double>.gaussian(rows: channelsOut, columns: n, stream: stream), r)
        case .deltaOrthogonal:
            precondition(channelsOut >= cIn, "the implicit delta-orthogonal layer needs C_out ≥ C_in")
            let rank = min(cIn, n), alpha = sigmaW * (Double(channelsOut) / Double(cIn)).squareRoot()
            let frame = try Matrix<Double>.haarOrthogonal(rows: channelsOut, columns: rank, stream: stream)
            var top = Matrix<Double>(rows: rank, columns: n)
            for j in 0..<n { for i in 0..<rank { top[i, j] = alpha * r[i, j] } }
            h.multiply(frame, top)
        }
        return Matrix(rows: channelsOut * p, columns: b, elements: h.elements)
    }

    /// Layer `network.layer`: `output = ω ⋆ [x | T]`, ω drawn from stream `(…, l, weights)`;
    /// the implicit backend draws the batch's law instead (``sampleImplicitly(_:channelsOut:stream:)``,
    /// float64; a delta-orthogonal layer with fewer output than input channels goes dense).
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) throws(LAPACKError) {
        let rowsIn = network.layer == 1 ? network.inputDimension : network.units, ld = network.source.rows
        let cIn = rowsIn / positions, cOut = network.width, columns = network.columns
        var x = Matrix<T>(rows: rowsIn, columns: columns)
        x.elements.withUnsafeMutableBufferPointer { px in
            network.source.elements.withUnsafeBufferPointer { ps in
                for c in 0..<columns { for i in 0..<rowsIn { px[c * rowsIn + i] = ps[c * ld + i] } }
            }
        }
        let stream = network.stream(.weights)
        if network.backend == .implicit, kernel == .gaussian || cOut >= cIn {
            let input = Matrix<Double>(rows: rowsIn, columns: columns, elements: x.elements.map { Double($0) })
            guard let h = try sampleImplicitly(input, channelsOut: cOut, stream: stream) else {
                network.output = Matrix(rows: network.units, columns: columns, repeating: T.nan)
                return
            }
            network.output = Matrix(rows: h.rows, columns: columns, elements: h.elements.map { T($0) })
        } else {
            network.output = apply(try weights(channelsIn: cIn, channelsOut: cOut, stream: stream), to: x)
        }
    }

    /// Mean field: `Σ ← σ_w² 𝒜(K)` over the B·P vectors of the state, vector `a·P + p` being
    /// input a at position p (delta-orthogonal: `σ_w² K`). Summed with the exact powers of two
    /// of ``ScaledMoments``, so lengths beyond Double's range propagate as they do in ``Affine``.
    public func propagate(_ state: MeanFieldState) -> MeanFieldState? {
        let p = positions, n = state.count
        precondition(n % p == 0, "a convolution's state holds B·P vectors (P = \(p)), not \(n)")
        var next = state
        next.input = state.moments
        let footprint = self.footprint
        let averaged = Self.summing(state.moments, tracked: state.tracks) { i, j in
            let (a, q) = (i / p, i % p), (b, r) = (j / p, j % p)
            return footprint.map { t in (a * p + shifted(q, by: t), b * p + shifted(r, by: t)) }
        }
        // E ω = 0: every tracked mean of h is 0 (a residual conv net tracks them).
        let moments = averaged.scaled(by: sigmaW * sigmaW / Double(footprint.count))
        next.moments = state.moments.normalizedMeans == nil ? moments
            : ScaledMoments(exponents: moments.exponents, normalized: moments.normalized,
                            means: [Double](repeating: 0, count: n), count: n)
        return next
    }

    /// The eigenvalue of 𝒜 on the spatial Fourier mode `k` (one frequency per axis). For each
    /// offset δ, 𝒜 averages the entries (p, p + δ) of a covariance over p's footprint — a box
    /// filter along p — so the mode `e^{2πi k·p/n}` of their dependence on p is scaled by
    /// `λ_k = Π_i k^{−1} Σ_{t=−h}^{h} cos(2π k_i t/n_i)`, h = (k − 1)/2 (Xiao et al. 2018, §3);
    /// 1 for every mode of a delta-orthogonal kernel, and for k = 0 (a stationary covariance
    /// passes 𝒜 unchanged).
    public func footprintEigenvalue(mode k: [Int]) -> Double {
        precondition(k.count == shape.count, "a mode has one frequency per axis")
        guard kernel == .gaussian else { return 1 }
        let half = (size - 1) / 2
        return zip(k, shape).reduce(1.0) { product, axis in
            product * (-half...half).reduce(0.0) { $0 + cos(2 * Double.pi * Double(axis.0 * $1) / Double(axis.1)) }
                / Double(size)
        }
    }

    /// The spatial Fourier modes of `shape` (one frequency per axis, `0 ≤ k_i < n_i`), one of
    /// each pair k, −k (modulo the shape; they carry the same power in a real signal): the
    /// first of the two in row-major order.
    public static func fourierModes(_ shape: [Int]) -> [[Int]] {
        let all: [[Int]] = shape.count == 1 ? (0..<shape[0]).map { [$0] }
            : (0..<shape[0]).flatMap { ky in (0..<shape[1]).map { [ky, $0] } }
        func index(_ k: [Int]) -> Int { zip(k, shape).reduce(0) { $0 * $1.1 + $1.0 } }
        return all.filter { k in index(k) <= index(zip(k, shape).map { ($1 - $0) % $1 }) }
    }

    /// The depth scale of mode k of a covariance's deviation from a stationary fixed point:
    /// linearised there, φ's map scales a deviation of the lengths by V′(q*) and one of the
    /// cross terms by χ_c (their fully connected slopes), and 𝒜 scales mode k by λ_k, so the
    /// mode decays as `(χ λ_k)^l`, `ξ_k = −1/ln|χ λ_k|` (Xiao et al. 2018, §3); nil where
    /// `|χ λ_k| ≥ 1` (no decay), 0 where `λ_k = 0`.
    public static func modeDepthScale(slope chi: Double, eigenvalue lambda: Double) -> Double? {
        let rate = abs(chi * lambda)
        guard rate < 1 else { return nil }
        return rate == 0 ? 0 : -1 / log(rate)
    }

    /// The position average of a state over B·P vectors: the B×B moments
    /// `G_ab = P^{−1} Σ_p Σ_{(a,p),(b,p)}`, i.e. the expectation of `h_a·h_b/(C·P)` — what the
    /// Gram observables of a C·P-row signal measure.
    public static func positionAverage(_ moments: ScaledMoments, positions p: Int) -> ScaledMoments {
        precondition(moments.count % p == 0, "\(moments.count) vectors are not B·P with P = \(p)")
        let b = moments.count / p
        let summed = summing(moments, count: b) { a, c in (0..<p).map { (a * p + $0, c * p + $0) } }
        return summed.scaled(by: 1 / Double(p))
    }

    /// For every `tracked` output pair (i, j) of `count` vectors (default: as many as `m`
    /// has), the sum of m's entries `terms(i, j)`, each term taken at its own power of two and
    /// the sum carried at the largest of them; 0 for the pairs not tracked.
    static func summing(_ m: ScaledMoments, count: Int? = nil, tracked: (Int, Int) -> Bool = { _, _ in true },
                        terms: (Int, Int) -> [(Int, Int)]) -> ScaledMoments {
        let n = count ?? m.count
        var normalized = [Double](repeating: 0, count: n * n), top = [Int](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n where tracked(i, j) {
                let entries = terms(i, j)
                let largest = entries.map { m.exponents[$0.0] + m.exponents[$0.1] }.max() ?? 0
                let s = entries.reduce(0.0) { total, e in
                    total + ScaledMoments.scale(m.normalized(e.0, e.1), by: m.exponents[e.0] + m.exponents[e.1] - largest)
                }
                normalized[i * n + j] = s
                normalized[j * n + i] = s
                top[i * n + j] = largest
                top[j * n + i] = largest
            }
        }
        // Vector i at the half of its diagonal's power; each entry re-expressed against it.
        let exponents = (0..<n).map { top[$0 * n + $0] >> 1 }
        for i in 0..<n {
            for j in 0..<n {
                normalized[i * n + j] = ScaledMoments.scale(normalized[i * n + j], by: top[i * n + j] - exponents[i] - exponents[j])
            }
        }
        return ScaledMoments(exponents: exponents, normalized: normalized, means: nil, count: n)
    }
}
