#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField
import Randomness

/// Tangent columns an observable rides on: vectors pushed forward beside the batch through
/// every layer's linearisation (a JVP), `T ← D (W T)` and `+ a T` across a skip.
public struct TangentColumns: Sendable, Hashable {
    /// Where φ′ is taken when the columns cross the nonlinearity.
    public enum Derivative: Sendable, Hashable {
        /// At the batch's first input: the Jacobian `∂x^l/∂x^0_1` and frames pushed by it.
        case firstInput
        /// Column b at input b: one perturbation per input.
        case ownInput
    }

    public let count: Int
    public let derivative: Derivative

    public init(count: Int, derivative: Derivative) {
        self.count = count
        self.derivative = derivative
    }
}

/// One network being sampled, as its layer maps and observables see it: the columns
/// `[x | T]` entering the layer (`source`: the batch, then every observable's tangent
/// columns) and `W [x | T]` leaving its affine map (`output`, where the later maps turn
/// the batch columns into the pre-activations `h^l`), with the buffers the maps reuse from
/// one network to the next.
///
/// Randomness: network `sample` of grid point `point` draws layer `l`'s weights from
/// stream `(seed, point, sample, l, weights)` and its biases from `(…, l, biases)`, so
/// results never depend on which worker ran which sample.
public struct SampledNetwork<T: BLASScalar & GaussianFillable> {
    public let spec: NetworkSpec
    public let backend: Backend
    public let seed: UInt64
    public let point: Int
    /// B, the inputs pushed through the network.
    public let batch: Int
    /// N₀.
    public let inputDimension: Int
    /// `G0_ab = x_a·x_b/N₀` of the inputs.
    public let inputGram: [Double]
    /// Where φ′ is taken for every tangent column (index `c − batch`), and at which input.
    let tangentDerivative: [TangentColumns.Derivative]
    let tangentInput: [Int]
    public internal(set) var sample = 0
    /// The layer being sampled, 1-based (0 before the first).
    public internal(set) var layer = 0
    /// `[x | T]` entering the layer: `max(N, N₀)` rows (rows past N are zero after layer 1).
    public internal(set) var source: Matrix<T>
    /// `W [x | T]`, then `h` in the batch columns: N rows.
    public internal(set) var output: Matrix<T>
    /// ln of the factor the stored batch columns are divided by (``Nonlinearity`` keeps the
    /// activations of a positively homogeneous φ inside 2^±256).
    public internal(set) var forwardLogScale = 0.0
    /// `G_ab = h_a·h_b/N` of the stored pre-activations, B×B row-major (multiply by
    /// `e^{2·forwardLogScale}` for the true scale).
    public internal(set) var gram: [Double]
    /// The R of `x^{l−1}`'s thin QR as ``StreamedGaussianLayer`` carries the network between
    /// layers (nil before the first and once diverged), already divided by the power of two
    /// whose log waits in `pendingLogScale` until the observables have seen h^l.
    var factor: Matrix<Double>?
    var pendingLogScale = 0.0
    /// The input batch, `N₀ × B`, copied into `source` at the start of every network.
    let input: Matrix<T>
    /// Dense: a panel of W. Implicit: a block of rows of the standard normals Z of `W X = Z R`.
    var panel: Matrix<T>
    var syrkTarget: Matrix<T>
    var bias: [T]
    /// Scratch of N: φ(h) of one column, or φ′ at the first input.
    var scratch: [T]
    /// Scratch of N for φ′ at one input.
    var ownDerivative: [T]

    public var width: Int { spec.width }
    /// The rows of a layer's signal: N·P, channels × positions (``NetworkSpec/units``).
    public var units: Int { spec.units }
    /// `N_{l−1}`: the rows of `source` the layer reads.
    public var fanIn: Int { layer == 1 ? inputDimension : spec.width }
    public var isLastLayer: Bool { layer == spec.depth }
    /// All columns, batch and tangents.
    public var columns: Int { source.columns }

    /// `streamed`: the layers run as one streamed pass (``StreamedGaussianLayer``), which
    /// reads only the inputs from `source` and never `output`, the panel or `scratch`: they
    /// are not allocated at width N.
    init(spec: NetworkSpec, backend: Backend, inputs: InputBatch, slots: [Slot], seed: UInt64, point: Int,
         streamed: Bool) {
        self.spec = spec
        self.backend = backend
        self.seed = seed
        self.point = point
        batch = inputs.count
        inputDimension = inputs.dimension
        inputGram = inputs.gram.elements
        let columns = slots.reduce(batch) { max($0, $1.tangents.upperBound) }
        var derivative = [TangentColumns.Derivative](repeating: .firstInput, count: columns - batch)
        var own = [Int](repeating: 0, count: columns - batch)
        for slot in slots {
            for (k, c) in slot.tangents.enumerated() {
                derivative[c - batch] = slot.derivative
                own[c - batch] = slot.derivative == .ownInput ? k : 0
            }
        }
        tangentDerivative = derivative
        tangentInput = own
        let n = spec.units
        source = Matrix(rows: streamed ? inputDimension : max(n, inputDimension), columns: columns)
        output = Matrix(rows: streamed ? 0 : n, columns: streamed ? 0 : columns)
        // float64 inputs are shared as they are (a generic element-wise conversion of a
        // 10⁶×B batch costs more than a layer).
        input = Matrix(rows: inputDimension, columns: batch,
                       elements: T.self == Double.self ? unsafeBitCast(inputs.matrix.elements, to: [T].self)
                                                       : inputs.matrix.elements.map { T($0) })
        let panelShape = Affine.panelShape(width: spec.width, inputDimension: inputDimension, columns: columns, backend: backend,
                                           weightInit: spec.weightInit)
        panel = streamed ? Matrix(rows: 0, columns: 0) : Matrix(rows: panelShape.rows, columns: panelShape.columns)
        syrkTarget = Matrix(rows: batch, columns: batch)
        gram = [Double](repeating: 0, count: batch * batch)
        bias = [T](repeating: 0, count: spec.width)
        scratch = [T](repeating: 0, count: streamed ? 0 : n)
        ownDerivative = [T](repeating: 0, count: derivative.contains(.ownInput) ? n : 0)
    }

    /// Network `sample` starts: `source = [x^0 | 0]`, no carried scale.
    mutating func begin(sample: Int) {
        self.sample = sample
        layer = 0
        let rows = source.rows, dimension = inputDimension, batch = batch
        source.elements.withUnsafeMutableBufferPointer { ps in
            ps.update(repeating: 0)
            input.elements.withUnsafeBufferPointer { px in
                for a in 0..<batch { for i in 0..<dimension { ps[a * rows + i] = px[a * dimension + i] } }
            }
        }
        forwardLogScale = 0
        factor = nil
        pendingLogScale = 0
    }

    /// The random stream of this network for `purpose` at `layer` (default: the current one).
    public func stream(_ purpose: StreamID.Purpose, layer: Int? = nil) -> RandomStream {
        RandomStream(StreamID(seed: seed, point: UInt32(point), sample: UInt32(sample), layer: UInt32(layer ?? self.layer),
                              purpose: purpose))
    }

    /// `G = hᵀh/N` of the batch columns of `output`, upper triangle mirrored: float64 with at
    /// most 16 inputs by ``Matrix/gramUpper(_:rows:columns:leadingDimension:into:accumulating:)``
    /// (``addToGram(_:rows:leadingDimension:first:)``, ``finishGram()``), else BLAS `syrk`.
    mutating func measureGram() {
        let n = spec.units, batch = batch
        if T.self == Double.self && batch <= 16 {
            output.elements.withUnsafeBufferPointer { ph in
                addToGram(UnsafeRawPointer(ph.baseAddress!).assumingMemoryBound(to: Double.self), rows: n,
                          leadingDimension: n, first: true)
            }
            finishGram()
            return
        }
        output.elements.withUnsafeBufferPointer { ph in
            syrkTarget.elements.withUnsafeMutableBufferPointer { pg in
                T.syrkTransposed(n: batch, k: n, alpha: T(1 / Double(n)), a: ph.baseAddress!, lda: n, c: pg.baseAddress!)
            }
        }
        mirrorGram()
    }

    /// Adds `hᵀh` of `rows` rows of float64 pre-activations (the batch columns at `h`,
    /// leading dimension `ld`) to the Gram's running sums, which `first` resets; rows
    /// arriving in blocks of a multiple of 256 sum exactly as one ``measureGram()`` of them all.
    mutating func addToGram(_ h: UnsafePointer<Double>, rows: Int, leadingDimension ld: Int, first: Bool) {
        let batch = batch
        syrkTarget.elements.withUnsafeMutableBufferPointer { pg in
            Matrix<Double>.gramUpper(h, rows: rows, columns: batch, leadingDimension: ld,
                                     into: UnsafeMutableRawPointer(pg.baseAddress!).assumingMemoryBound(to: Double.self),
                                     accumulating: !first)
        }
    }

    /// `G` = the running sums over N, mirrored.
    mutating func finishGram() {
        let scale = T(1 / Double(spec.units))
        for k in syrkTarget.elements.indices { syrkTarget.elements[k] *= scale }
        mirrorGram()
    }

    /// `gram` from the upper triangle of `syrkTarget`.
    private mutating func mirrorGram() {
        let batch = batch
        for b in 0..<batch {
            for a in 0...b {
                gram[a * batch + b] = Double(syrkTarget[a, b])
                gram[b * batch + a] = gram[a * batch + b]
            }
        }
    }

    /// The `N × columns.count` block of `source` (the first N rows).
    public func sourceBlock(_ columns: Range<Int>) -> Matrix<T> {
        let n = spec.units, ld = source.rows
        var m = Matrix<T>(rows: n, columns: columns.count)
        for (k, c) in columns.enumerated() { for i in 0..<n { m.elements[k * n + i] = source.elements[c * ld + i] } }
        return m
    }

    /// Writes the N × k matrix `m` into `source` at `columns`.
    public mutating func setSourceBlock(_ columns: Range<Int>, _ m: Matrix<T>) {
        let n = spec.units, ld = source.rows
        for (k, c) in columns.enumerated() { for i in 0..<n { source.elements[c * ld + i] = m.elements[k * n + i] } }
    }

    /// Sets `source[i, c]` (the start of a network: an observable's initial tangents).
    public mutating func setSource(_ i: Int, _ c: Int, _ value: T) { source[i, c] = value }

    /// Divides `source`'s `columns` by `divisor` (`T(1/divisor)`, in place) and returns their
    /// mean squared entry per column, `Σ|t|²/count`, in the same pass: eight independent
    /// partial sums per column so the reduction does not wait on one add chain. The RMS
    /// renormalisation of tangents that would otherwise over- or underflow with depth.
    public mutating func rescaleSource(_ columns: Range<Int>, dividingBy divisor: Double) -> Double {
        let n = spec.units, ld = source.rows, scale = T(1 / divisor)
        var total = SIMD8<Double>()
        source.elements.withUnsafeMutableBufferPointer { ps in
            for c in columns {
                let s = c * ld
                for i in 0..<n { ps[s + i] = scale * ps[s + i] }
                var sums = SIMD8<Double>()
                var i = 0
                while i + 8 <= n {
                    var v = SIMD8<Double>()
                    for k in 0..<8 { v[k] = Double(ps[s + i + k]) }
                    sums.addProduct(v, v)
                    i += 8
                }
                while i < n { sums[0] += Double(ps[s + i]) * Double(ps[s + i]); i += 1 }
                total += sums
            }
        }
        return total.sum()
    }
}
