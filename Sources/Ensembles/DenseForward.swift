import LinearAlgebra
import MeanField
import Randomness

/// Samples dense networks of one ``NetworkSpec`` and measures the forward observables
/// layer by layer, reusing its buffers from one network to the next.
///
/// Per layer and network: `h^l = W^l x^{l-1} + b^l`; the Gram matrix `Q^l = (h^l)ᵀh^l/N`
/// (BLAS `syrk`) gives `q^l_a = Q_aa`, `c^l_ab = Q_ab/√(Q_aa Q_bb)`; then `x^l = φ(h^l)`.
/// Gaussian `W` is generated one panel of columns at a time straight into the GEMM
/// (`H += W[:, j₀..<j₁] X[j₀..<j₁, :]`), so it is never held whole: the panel stays in
/// cache and memory is `O(N·panel)` instead of `O(N²)`. Orthogonal `W` needs the whole
/// Haar matrix (one QR per layer).
///
/// Randomness: network `sample` of grid point `point` draws layer `l`'s weights from
/// stream `(seed, point, sample, l, weights)` and its biases from `(…, l, biases)`, so
/// results never depend on which worker ran which sample.
public struct DenseForwardSampler<T: BLASScalar & GaussianFillable> {
    public let spec: NetworkSpec
    public let seed: UInt64
    public let point: Int
    let input: Matrix<T>
    let names: [String]
    let observables: Set<ForwardObservable>
    private var h: Matrix<T>
    private var x: Matrix<T>
    private var panel: Matrix<T>
    private var gram: Matrix<T>
    private var bias: [T]

    /// Columns of `W` generated per panel: about 256 KiB of weights, within L2.
    public static func panelWidth(rows: Int) -> Int { max(8, min(rows, 32_768 / max(rows, 1))) }

    /// Peak memory of one sampler, in bytes: activations `h`, `x` (N×B each), the weight
    /// panel, the Gram matrix, the bias, the input batch (in float64 and in `T`), and for
    /// orthogonal weights the Gaussian matrix and its Q factor (N × fan-in each).
    public static func estimatedBytes(spec: NetworkSpec, inputDimension: Int, batch: Int) -> Int {
        let n = spec.width, scalar = MemoryLayout<T>.size
        var elements = 2 * n * batch + n * panelWidth(rows: n) + batch * batch + n + inputDimension * batch
        if spec.weightInit == .orthogonal { elements += 2 * n * max(n, inputDimension) + n }
        return elements * scalar + inputDimension * batch * 8
    }

    public init(spec: NetworkSpec, inputs: InputBatch, observables: [ForwardObservable],
                seed: UInt64, point: Int) {
        self.spec = spec
        self.seed = seed
        self.point = point
        input = Matrix(rows: inputs.dimension, columns: inputs.count, elements: inputs.matrix.elements.map { T($0) })
        names = EnsembleStatistics.names(for: observables, batch: inputs.count)
        self.observables = Set(observables)
        let n = spec.width, b = inputs.count
        h = Matrix(rows: n, columns: b)
        x = Matrix(rows: n, columns: b)
        panel = Matrix(rows: n, columns: Self.panelWidth(rows: n))
        gram = Matrix(rows: b, columns: b)
        bias = [T](repeating: 0, count: n)
    }

    /// An empty accumulator shaped for this sampler's quantities.
    public func makeStatistics() -> EnsembleStatistics {
        EnsembleStatistics(names: names, depth: spec.depth)
    }

    /// Samples network number `sample` and adds its per-layer quantities to `statistics`.
    public mutating func run(sample: Int, into statistics: inout EnsembleStatistics) throws(LAPACKError) {
        let n = spec.width, batch = input.columns
        var values = [Double](repeating: 0, count: names.count)
        for layer in 1...spec.depth {
            let fanIn = layer == 1 ? input.rows : n
            let (seed, point) = (self.seed, UInt32(self.point))
            func stream(_ purpose: StreamID.Purpose) -> RandomStream {
                RandomStream(StreamID(seed: seed, point: point, sample: UInt32(sample), layer: UInt32(layer),
                                      purpose: purpose))
            }
            if layer == 1 {
                try affine(source: input, fanIn: fanIn, weights: stream(.weights), biases: stream(.biases))
            } else {
                try affine(source: x, fanIn: fanIn, weights: stream(.weights), biases: stream(.biases))
            }
            measure(into: &values, batch: batch)
            statistics.add(layer: layer, values)
            if layer < spec.depth { activate() }
        }
        statistics.finishNetwork()
    }

    /// `h ← W source + b 1ᵀ`.
    private mutating func affine(source: Matrix<T>, fanIn: Int, weights: RandomStream,
                                 biases: RandomStream) throws(LAPACKError) {
        let n = spec.width, batch = source.columns
        let sigmaW = spec.sigmaW
        switch spec.weightInit {
        case .gaussian:
            let scale = T(sigmaW / Double(fanIn).squareRoot())
            let width = panel.columns
            var j0 = 0
            while j0 < fanIn {
                let cols = min(width, fanIn - j0)
                panel.elements.withUnsafeMutableBufferPointer { p in
                    T.fillStandardNormal(weights, UnsafeMutableBufferPointer(rebasing: p[0..<(n * cols)]),
                                         from: j0 * n, scale: scale)
                }
                let beta: T = j0 == 0 ? 0 : 1
                panel.elements.withUnsafeBufferPointer { pw in
                    source.elements.withUnsafeBufferPointer { px in
                        h.elements.withUnsafeMutableBufferPointer { ph in
                            T.multiply(.none, .none, m: n, n: batch, k: cols, alpha: 1,
                                       a: pw.baseAddress!, lda: n, b: px.baseAddress! + j0, ldb: fanIn,
                                       beta: beta, c: ph.baseAddress!, ldc: n)
                        }
                    }
                }
                j0 += cols
            }
        case .orthogonal:
            if n >= fanIn {
                let o = try Matrix<T>.haarOrthogonal(rows: n, columns: fanIn, stream: weights)
                h.multiply(o, source, alpha: T(sigmaW * (Double(n) / Double(fanIn)).squareRoot()))
            } else {
                let o = try Matrix<T>.haarOrthogonal(rows: fanIn, columns: n, stream: weights)
                h.multiply(o, source, transA: .transposed, alpha: T(sigmaW))
            }
        }
        if spec.sigmaB > 0 {
            bias.withUnsafeMutableBufferPointer { T.fillStandardNormal(biases, $0, from: 0, scale: T(spec.sigmaB)) }
            for a in 0..<batch { for i in 0..<n { h.elements[i + a * n] += bias[i] } }
        }
    }

    /// Fills `values` (in the order of `names`) from the Gram matrix of `h`.
    private mutating func measure(into values: inout [Double], batch: Int) {
        h.gram(into: &gram, alpha: T(1 / Double(spec.width)))
        var k = 0
        if observables.contains(.q) {
            var s = 0.0
            for a in 0..<batch { s += Double(gram[a, a]) }
            values[k] = s / Double(batch); k += 1
        }
        if observables.contains(.c), batch > 1 {
            var s = 0.0
            for b in 1..<batch {
                for a in 0..<b { s += Double(gram[a, b]) / (Double(gram[a, a]) * Double(gram[b, b])).squareRoot() }
            }
            values[k] = s / Double(batch * (batch - 1) / 2); k += 1
        }
        if observables.contains(.gram) {
            for a in 0..<batch { for b in a..<batch { values[k] = Double(gram[a, b]); k += 1 } }
        }
    }

    /// `x ← φ(h)` element-wise.
    private mutating func activate() {
        let phi = spec.activation
        h.elements.withUnsafeBufferPointer { ph in
            x.elements.withUnsafeMutableBufferPointer { px in
                for i in 0..<ph.count { px[i] = T(phi.value(Double(ph[i]))) }
            }
        }
    }
}
