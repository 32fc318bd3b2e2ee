#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField
import Randomness

/// The batch of inputs `x^0_1 … x^0_B` pushed through every sampled network: a campaign's
/// `[inputs]`.
public enum InputSpec: Sendable, Hashable {
    /// `count` inputs of dimension `dimension` with `|x_a|²/N₀ = q0` and pairwise
    /// correlation `c0` exactly, built without randomness (see ``InputBatch/init(spec:stream:)``).
    case gram(count: Int, q0: Double, c0: Double)
    /// `count` Gaussian inputs, each rescaled to `|x_a|²/N₀ = q0` exactly; drawn once
    /// per grid point from the `inputs` stream, so every network of a point sees the same batch.
    case gaussian(count: Int, q0: Double)
    /// Inputs read from a `.npy` or `.csv` file (one per row; `path` as the campaign wrote
    /// it, resolved against the campaign file's folder, read at validation time),
    /// optionally rescaled to `|x_a|²/N₀ = q0`.
    case file(path: String, rows: [[Double]], q0: Double?)
    /// `count` points on a great circle, `x_k = √(N₀ q0) (cos θ_k e_0 + sin θ_k e_1)`,
    /// θ_k = 2πk/count (Raghu et al. 2017; trajectory length); needs N₀ ≥ 2.
    case circle(count: Int, q0: Double)
    /// `count` Gaussian signals of C₀ channels over a spatial shape, `shape = [C₀, L]` or
    /// `[C₀, H, W]`: N₀ = C₀·P rows, channel fastest (``Convolution``), each rescaled to
    /// `|x_a|²/N₀ = q0` exactly; drawn as `.gaussian` is.
    case gaussianSignal(count: Int, q0: Double, shape: [Int])
    /// Signals read from a `.npy` array of shape (B, C₀, L) or (B, C₀, H, W)
    /// (``InputFile/readSignals(path:)``): each row C₀·P values, channel fastest; `shape`
    /// `[C₀, L]` or `[C₀, H, W]`; optionally rescaled to `|x_a|²/N₀ = q0`.
    case signalFile(path: String, rows: [[Double]], q0: Double?, shape: [Int])

    public var count: Int {
        switch self {
        case .gram(let count, _, _), .gaussian(let count, _), .circle(let count, _), .gaussianSignal(let count, _, _):
            return count
        case .file(_, let rows, _), .signalFile(_, let rows, _, _): return rows.count
        }
    }

    /// The input dimension N₀ at a point of width `width`: the file's, or the width.
    public func dimension(width: Int) -> Int {
        if case .file(_, let rows, _) = self { return rows.first?.count ?? 0 }
        switch self {
        case .gaussianSignal(_, _, let shape), .signalFile(_, _, _, let shape): return shape.reduce(1, *)
        default: return width
        }
    }

    /// The spatial shape of signal inputs (`[L]` or `[H, W]`); empty for vectors.
    public var spatialShape: [Int] {
        switch self {
        case .gaussianSignal(_, _, let shape), .signalFile(_, _, _, let shape): return Array(shape.dropFirst())
        default: return []
        }
    }
}

/// Inputs as the columns of an `N₀ × B` matrix, with their Gram matrix `G0 = XᵀX/N₀`.
public struct InputBatch: Sendable {
    /// `N₀ × B`, column `a` is input `x_a`.
    public let matrix: Matrix<Double>
    /// `G0_ab = x_a·x_b / N₀` and `μ0_a = (1/N₀) Σ_i x_{a,i}`, each input with its own power of
    /// two, so that inputs whose `|x|²/N₀` leaves Double's range still start the mean-field
    /// recursion exactly.
    public let moments: ScaledMoments
    /// G0, rounded to Double (±∞ beyond its range).
    public let gram: Matrix<Double>
    /// μ0, the start of the residual recursion's means.
    public let means: [Double]

    public var dimension: Int { matrix.rows }
    public var count: Int { matrix.columns }

    /// Builds the batch. For `.gram` and `.gaussian` the dimension is `dimension`
    /// (the network width); `.file` keeps the file's dimension.
    ///
    /// `.gram` with `c0 ≥ 0`: `x_a = √(N₀ q0) (√c0 e_0 + √(1−c0) e_{a+1})`, needing
    /// `N₀ ≥ B + 1`; with `c0 < 0`: `X = √N₀ [Lᵀ; 0]` with `L Lᵀ = q0((1−c0)I + c0 11ᵀ)`,
    /// needing `c0 > −1/(B−1)` and `N₀ ≥ B`. Rotation invariance of Gaussian and Haar
    /// weights makes the network's law depend on the inputs only through `G0`.
    public init(spec: InputSpec, dimension: Int, stream: RandomStream) throws(LAPACKError) {
        var x: Matrix<Double>
        switch spec {
        case .gram(let count, let q0, let c0):
            x = Matrix(rows: dimension, columns: count)
            if c0 >= 0 {
                let shared = rootOfProduct(Double(dimension), q0 * c0)
                let own = rootOfProduct(Double(dimension), q0 * (1 - c0))
                for a in 0..<count {
                    x[0, a] = shared
                    x[a + 1, a] = own
                }
            } else {
                var g = Matrix<Double>(rows: count, columns: count)
                for a in 0..<count { for b in 0..<count { g[a, b] = q0 * (a == b ? 1 : c0) } }
                let l = try g.cholesky()
                let s = Double(dimension).squareRoot()
                for a in 0..<count { for i in 0...a { x[i, a] = s * l[a, i] } }
            }
        case .gaussian(let count, let q0), .gaussianSignal(let count, let q0, _):
            // Signals have C₀·P rows whatever `dimension` says (the width, for vectors).
            x = Matrix.gaussian(rows: spec.dimension(width: dimension), columns: count, stream: stream)
            x.normalizeColumns(q0: q0)
        case .circle(let count, let q0):
            precondition(dimension >= 2, "a circle of inputs needs dimension ≥ 2")
            x = Matrix(rows: dimension, columns: count)
            let radius = rootOfProduct(Double(dimension), q0)
            for k in 0..<count {
                let theta = 2 * Double.pi * Double(k) / Double(count)
                x[0, k] = radius * cos(theta)
                x[1, k] = radius * sin(theta)
            }
        case .file(_, let rows, let q0), .signalFile(_, let rows, let q0, _):
            let d = rows.first?.count ?? 0
            x = Matrix(rows: d, columns: rows.count)
            for (a, row) in rows.enumerated() { for (i, v) in row.enumerated() { x[i, a] = v } }
            if let q0 { x.normalizeColumns(q0: q0) }
        }
        matrix = x
        let moments = Self.moments(of: x)
        self.moments = moments
        gram = Matrix(rows: x.columns, columns: x.columns, elements: moments.covariance)
        means = moments.means ?? []
    }

    /// The second moments of a convolutional net's inputs over (input, position) pairs:
    /// `x_{(a,p)}·x_{(b,r)}/C₀`, vector `a·P + p` being input a's C₀ channels at position p
    /// (rows channel fastest), as ``Convolution/propagate(_:)`` starts from them.
    public func moments(positions p: Int) -> ScaledMoments {
        precondition(dimension % p == 0, "\(dimension) rows are not C₀·P with P = \(p)")
        let channels = dimension / p
        // Column a·P + p of the C₀ × (B·P) view is input a at position p: the same elements.
        return Self.moments(of: Matrix(rows: channels, columns: count * p, elements: matrix.elements))
    }

    /// G0 and μ0 of the columns of x: column a divided by `2^(e_a)`, its largest entry's power of
    /// two (exact), the Gram of the scaled columns (BLAS `?syrk`) and their means; the same
    /// doubles as the plain `XᵀX/N₀` wherever no intermediate leaves Double's normal range.
    static func moments(of x: Matrix<Double>) -> ScaledMoments {
        let (n, b) = (x.rows, x.columns)
        var scaled = x
        var exponents = [Int](repeating: 0, count: b)
        for a in 0..<b {
            let largest = (0..<n).reduce(0.0) { max($0, abs(x[$1, a])) }
            guard largest.isNormal else { continue }
            exponents[a] = Int(largest.exponent)
            for i in 0..<n { scaled[i, a] = Double(sign: .plus, exponent: -exponents[a], significand: x[i, a]) }
        }
        let k = scaled.gram(alpha: 1 / Double(n))
        let means = (0..<b).map { a in (0..<n).reduce(0) { $0 + scaled[$1, a] } / Double(n) }
        return ScaledMoments(exponents: exponents, normalized: k.elements, means: means, count: b)
    }
}

extension Matrix where T == Double {
    /// Rescales every column to `|x|²/rows = q0`; an all-zero column stays zero.
    mutating func normalizeColumns(q0: Double) {
        for a in 0..<columns {
            var s = 0.0
            for i in 0..<rows { s += self[i, a] * self[i, a] }
            guard s > 0 else { continue }
            let f = rootOfProduct(q0, Double(rows) / s)
            for i in 0..<rows { self[i, a] *= f }
        }
    }
}

/// `√(u v)`, as `√u·√v` where the product would overflow (an input's `N₀·q0` beyond Double's
/// range), else as written, so that inputs in range keep their bits.
func rootOfProduct(_ u: Double, _ v: Double) -> Double {
    let product = u * v
    return product.isFinite ? product.squareRoot() : u.squareRoot() * v.squareRoot()
}
