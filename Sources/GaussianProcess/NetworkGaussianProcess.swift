import Ensembles
import LinearAlgebra
import MeanField

/// Why a posterior could not be computed.
public struct GaussianProcessError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// The inputs or targets do not fit together (shapes, counts, jitter).
        case input
        /// The kernels cannot be solved: singular, or beyond Double's range.
        case numerical
    }
    public let kind: Kind
    public let description: String

    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// The posterior of a prediction at each test input: one mean per target column, one
/// variance (shared by the columns, which are independent with the same kernel).
public struct Posterior: Sendable {
    /// `means[i][k]`: test input i, target column k.
    public let means: [[Double]]
    public let variances: [Double]
}

/// Exact Bayesian prediction with the infinite-width kernels of a random feedforward net
/// (Lee et al. 2019, eq. 16): the NNGP posterior (Neal 1996; Lee et al. 2018),
///
///     μ = K_{*X} K_{XX}⁻¹ Y,   σ²_i = K_{**,ii} − k_iᵀ K_{XX}⁻¹ k_i,
///
/// and the mean and variance of the infinitely wide net trained to convergence by gradient
/// flow on the squared loss, over its random initialisation (Lee et al. 2019, eq. 16;
/// Θ the NTK):
///
///     μ = Θ_{*X} Θ_{XX}⁻¹ Y,
///     σ²_i = K_{**,ii} + t_iᵀ K_{XX} t_i − 2 t_iᵀ k_i,   t_i = Θ_{XX}⁻¹ θ_i,
///
/// θ_i, k_i the i-th test column of Θ_{X*}, K_{X*}. Kernels of the output h^L of a
/// feedforward net (`NetworkSpec.meanField` and `MeanFieldMaps.neuralTangentKernel`) on the
/// joint Gram `x_a·x_b/N₀` of train and test inputs; solves by Cholesky (`?potrf`, `?potrs`), with `jitter` added to the diagonal of
/// the training kernels.
public struct NetworkGaussianProcess: Sendable {
    public let maps: MeanFieldMaps
    public let depth: Int

    public init(activation: Activation, sigmaW: Double, sigmaB: Double, depth: Int) {
        precondition(depth >= 1, "depth must be ≥ 1")
        maps = MeanFieldMaps(activation: activation, sigmaW: sigmaW, sigmaB: sigmaB)
        self.depth = depth
    }

    /// The NNGP kernels K^1 … K^L and the NTKs Θ^1 … Θ^L of the feedforward net on inputs of
    /// Gram `gram` (B×B row-major), each B×B row-major.
    public func kernelsByLayer(gram: [Double], count b: Int) -> (nngp: [[Double]], ntk: [[Double]]) {
        let spec = NetworkSpec(width: max(b, 1), depth: depth, sigmaW: maps.sigmaW, sigmaB: maps.sigmaB,
                               activation: maps.activation)
        let nngp = spec.meanField(inputGram: gram, count: b).map(\.covariance)
        return (nngp, maps.neuralTangentKernel(nngp: nngp, count: b))
    }

    /// The NNGP and NTK of the output on `inputs` (rows), B×B each.
    public func kernels(_ inputs: [[Double]]) -> (nngp: Matrix<Double>, ntk: Matrix<Double>) {
        let b = inputs.count, d = inputs.first?.count ?? 0
        var gram = [Double](repeating: 0, count: b * b)
        for a in 0..<b {
            for c in a..<b {
                var s = 0.0
                for k in 0..<d { s += inputs[a][k] * inputs[c][k] }
                gram[a * b + c] = s / Double(d)
                gram[c * b + a] = gram[a * b + c]
            }
        }
        let (nngp, ntk) = kernelsByLayer(gram: gram, count: b)
        // Row-major symmetric: the same elements column-major.
        return (Matrix(rows: b, columns: b, elements: nngp[depth - 1]), Matrix(rows: b, columns: b, elements: ntk[depth - 1]))
    }

    /// The NNGP and NTK-GP posteriors at `test` given `train` inputs and their `targets`
    /// (one row per training input, one column per output).
    public func posterior(train: [[Double]], targets: [[Double]], test: [[Double]], jitter: Double = 0)
        throws(GaussianProcessError) -> (nngp: Posterior, ntk: Posterior) {
        let n = train.count, m = test.count
        guard n >= 1, m >= 1 else { throw GaussianProcessError(.input, "need at least one training and one test input") }
        guard targets.count == n, let outputs = targets.first?.count, outputs >= 1, targets.allSatisfy({ $0.count == outputs }) else {
            throw GaussianProcessError(.input, "targets have \(targets.count) rows for \(n) training inputs; give one row per input")
        }
        guard let d = train.first?.count, d >= 1, (train + test).allSatisfy({ $0.count == d }) else {
            throw GaussianProcessError(.input, "training and test inputs must have the same number (≥ 1) of features")
        }
        guard jitter >= 0, jitter.isFinite else { throw GaussianProcessError(.input, "jitter must be finite and ≥ 0") }
        let (k, theta) = kernels(train + test)
        // Out of range, the Cholesky test below would blame the inputs for what is the kernels' size.
        for (name, kernel) in [("K", k), ("Θ", theta)] {
            let diagonal = (0..<(n + m)).map { kernel[$0, $0] }
            if let bad = diagonal.firstIndex(where: { !$0.isFinite }) {
                throw GaussianProcessError(.numerical, "\(name) at depth \(depth) is beyond Double's range (input \(bad): "
                                           + "\(diagonal[bad])); the kernel grows like (σ_w² E φ′²)^L with the inputs' "
                                           + "|x|²/N₀: use smaller inputs, σ_w or depth")
            }
            if let bad = diagonal.firstIndex(where: { $0 > 0 && !$0.isNormal }) {
                throw GaussianProcessError(.numerical, "\(name) at depth \(depth) is below Double's normal range (input "
                                           + "\(bad): \(diagonal[bad])); the kernel shrinks like (σ_w² E φ′²)^L with the "
                                           + "inputs' |x|²/N₀: use larger inputs, σ_w or σ_b, or fewer layers")
            }
        }
        func block(_ a: Matrix<Double>, rows: Range<Int>, columns: Range<Int>) -> Matrix<Double> {
            var out = Matrix<Double>(rows: rows.count, columns: columns.count)
            for (j, c) in columns.enumerated() { for (i, r) in rows.enumerated() { out[i, j] = a[r, c] } }
            return out
        }
        let x = 0..<n, star = n..<(n + m)
        var y = Matrix<Double>(rows: n, columns: outputs)
        for i in 0..<n { for j in 0..<outputs { y[i, j] = targets[i][j] } }
        /// Cholesky of a training kernel; refused when it is not positive definite in floating
        /// point: potrf fails, or a pivot L_ii² falls below n·ε of the largest diagonal
        /// entry (rounding alone makes pivots of that size, so the solve would be noise).
        func factor(_ a: Matrix<Double>, _ name: String) throws(GaussianProcessError) -> Matrix<Double> {
            var a = a
            for i in 0..<n { a[i, i] += jitter }
            let remedy = "duplicate or nearly collinear training inputs? add --jitter, e.g. 1e-10 × its mean diagonal"
            let l: Matrix<Double>
            do { l = try a.cholesky() } catch {
                throw GaussianProcessError(.numerical, "\(name)(X, X) is not numerically positive definite (\(error)); \(remedy)")
            }
            let largest = (0..<n).map { a[$0, $0] }.max() ?? 0
            let smallest = (0..<n).map { l[$0, $0] * l[$0, $0] }.min() ?? 0
            if smallest < Double(n) * Double.ulpOfOne * largest {
                throw GaussianProcessError(.numerical, "\(name)(X, X) is numerically singular: its smallest Cholesky pivot² is "
                                           + "\(smallest / largest) of its largest diagonal entry, below n·ε; \(remedy)")
            }
            return l
        }
        do {
            let kxx = block(k, rows: x, columns: x), kxs = block(k, rows: x, columns: star)
            let txs = block(theta, rows: x, columns: star)
            let lk = try factor(kxx, "K"), lt = try factor(block(theta, rows: x, columns: x), "Θ")
            let alpha = try lk.choleskySolve(y), beta = try lt.choleskySolve(y)
            let ki = try lk.choleskySolve(kxs)          // K⁻¹ k_i
            let t = try lt.choleskySolve(txs)           // t_i = Θ⁻¹ θ_i
            var nngpMeans: [[Double]] = [], ntkMeans: [[Double]] = [], nngpVar: [Double] = [], ntkVar: [Double] = []
            for i in 0..<m {
                nngpMeans.append((0..<outputs).map { j in (0..<n).reduce(0) { $0 + kxs[$1, i] * alpha[$1, j] } })
                ntkMeans.append((0..<outputs).map { j in (0..<n).reduce(0) { $0 + txs[$1, i] * beta[$1, j] } })
                let prior = k[n + i, n + i]
                nngpVar.append(prior - (0..<n).reduce(0) { $0 + kxs[$1, i] * ki[$1, i] })
                var quadratic = 0.0, cross = 0.0
                for a in 0..<n {
                    cross += t[a, i] * kxs[a, i]
                    for b in 0..<n { quadratic += t[a, i] * kxx[a, b] * t[b, i] }
                }
                ntkVar.append(prior + quadratic - 2 * cross)
            }
            // A variance that is zero up to rounding (at a training input) can come out a few
            // ulps of the prior below 0: reported as 0. Anything more negative is left visible.
            func clean(_ v: [Double]) -> [Double] {
                v.enumerated().map { i, x in x < 0 && -x <= 1e-10 * Swift.max(k[n + i, n + i], 0) ? 0 : x }
            }
            return (Posterior(means: nngpMeans, variances: clean(nngpVar)), Posterior(means: ntkMeans, variances: clean(ntkVar)))
        } catch let error as GaussianProcessError {
            throw error
        } catch {
            throw GaussianProcessError(.numerical, "LAPACK: \(error)")
        }
    }
}
