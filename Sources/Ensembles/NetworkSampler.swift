#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField
import Randomness

/// Samples networks of one ``NetworkSpec`` and measures the observables layer by layer,
/// reusing its buffers from one network to the next. The layer map `W [x | T]` is either
/// drawn and multiplied (``Backend/dense``) or sampled from its exact law without W
/// (``Backend/implicit``, `ImplicitLayer.swift`); everything else is shared.
///
/// Per layer and network: `h^l = W^l x^{l-1} + b^l`; the Gram matrix `Q^l = (h^l)ᵀh^l/N`
/// (BLAS `syrk`) gives `q^l_a = Q_aa`, `c^l_ab = Q_ab/√(Q_aa Q_bb)`; then `x^l = φ(h^l)`
/// (`+ a x^{l−1}` for residual nets).
///
/// Tangent columns ride along in the same GEMM: `[h | W T] = W [x | T]`. The Jacobian of
/// the post-activations at the batch's first input, `J^l = ∂x^l/∂x^0 = D^l W^l ⋯ D^1 W^1`
/// (DESIGN §2; `Π (a·1 + D^l W^l)` for residual nets), starts as `T = I` (N₀ columns) and
/// follows `T ← D (W T)` (`+ a T`), `D = diag φ′(h^l)`, with the Frobenius norm divided out
/// every layer and its logarithm carried apart, so depth 1000 in either phase neither
/// overflows nor underflows. Lyapunov frames are re-orthonormalised by QR every layer
/// (Benettin et al. 1980), starting from a Haar-random frame. The sensitivity's noise
/// columns (one per input) follow `T ← D_b (W T)` with φ′ at their own input b.
///
/// Gaussian `W` without tangents is generated one panel of columns at a time straight into
/// the GEMM (`H += W[:, j₀..<j₁] X[j₀..<j₁, :]`), so it is never held whole: the panel stays
/// in cache. With tangents the whole `W` is drawn first, so the N³ GEMM runs at full BLAS
/// speed. Orthogonal `W` needs the whole Haar matrix (one QR per layer).
///
/// Randomness: network `sample` of grid point `point` draws layer `l`'s weights from
/// stream `(seed, point, sample, l, weights)` and its biases from `(…, l, biases)`, so
/// results never depend on which worker ran which sample.
public struct NetworkSampler<T: BLASScalar & GaussianFillable> {
    public let spec: NetworkSpec
    public let backend: Backend
    public let seed: UInt64
    public let point: Int
    let observables: Observables
    let names: [String]
    let forward: Set<ForwardObservable>
    let batch: Int
    let inputDimension: Int
    /// Tangent columns: N₀ for the Jacobian, then k for the Lyapunov frame, then B for the
    /// sensitivity noise (one per input).
    let jacobianColumns: Int
    let lyapunovColumns: Int
    let sensitivityColumns: Int
    /// `Tr C[x^0]`: the inputs' signal for the sensitivity.
    let inputSignal: Double
    let jacobianDepths: [Int]
    /// `[x | T]` before the layer (N₀ or N rows) and `W [x | T]` after it (N rows).
    var source: Matrix<T>
    var output: Matrix<T>
    var panel: Matrix<T>
    /// The implicit backend's float64 copy of a layer's input, for its QR.
    var implicitX = Matrix<Double>(rows: 0, columns: 0)
    private var gram: Matrix<T>
    private var bias: [T]
    private var derivative: [T]
    /// φ′ at one input, for a sensitivity noise column.
    private var noiseDerivative: [T]
    /// The input batch, `N₀ × B`, copied into `source` at the start of every network.
    private let input: Matrix<T>
    /// ln of the factor the stored activations are divided by (positively homogeneous φ only).
    var forwardLogScale = 0.0
    /// The RMS norm ‖J‖_F/√N₀ of the Jacobian columns as last updated, divided out at the next
    /// update (folded into that pass rather than a pass of its own).
    private var jacobianRMS = 1.0
    /// The same for the sensitivity noise columns; ln of the scale divided out of them so
    /// far; ln SNR^0 of this network's noise.
    private var sensitivityRMS = 1.0
    private var sensitivityLogScale = 0.0
    private var logInputSNR = 0.0
    /// For the empirical NTK, per layer l (index l − 1): φ′(h^l) at the batch's first input,
    /// and ln(σ_w²|x^{l−1}|²/(s N_{l−1}) + σ_b²), the weight of layer l's parameters.
    var ntkDerivatives: [[Double]] = []
    var ntkLogWeights: [Double] = []

    /// Columns of `W` generated per panel: about 256 KiB of weights, within L2; the whole
    /// matrix when tangent columns make the GEMM large enough to want it.
    public static func panelWidth(rows: Int, columns: Int = 8) -> Int {
        columns > 64 ? Int.max : max(8, min(rows, 32_768 / max(rows, 1)))
    }

    /// Peak memory of one sampler, in bytes: `[x | T]` before and after a layer, the weight
    /// panel (or all of W with tangents), the Gram matrix, bias and φ′, the input batch (in
    /// float64 and in `T`), and for orthogonal weights the Gaussian matrix and its Q factor.
    public static func estimatedBytes(spec: NetworkSpec, inputDimension: Int, batch: Int,
                                      observables: Observables = Observables(forward: [.q]), backend: Backend = .dense) -> Int {
        let n = spec.width, scalar = MemoryLayout<T>.size
        let columns = batch + tangentColumns(observables, inputDimension: inputDimension, width: n, batch: batch).total
        let panel = backend == .implicit ? (spec.weightInit == .gaussian ? columns : 0)
            : min(panelWidth(rows: n, columns: columns), max(n, inputDimension))
        var elements = 2 * max(n, inputDimension) * columns + n * panel + batch * batch + 2 * n + inputDimension * batch
        switch (backend, spec.weightInit) {
        case (.dense, .orthogonal): elements += 2 * n * max(n, inputDimension) + n
        // The Haar N×C frame, its Gaussian and V R in float64; X and R.
        case (.implicit, .orthogonal): elements += (3 * n * columns + max(n, inputDimension) * columns) * 8 / scalar
        // X in float64 for its QR.
        case (.implicit, .gaussian): elements += max(n, inputDimension) * columns * 8 / scalar
        case (.dense, .gaussian): break
        }
        if observables.jacobian != nil { elements += n * inputDimension + inputDimension * 8 }
        // The NTK's backward pass in float64: Θ, its eigen-solver copy, B, G, the next G, W and
        // (orthogonal) the Haar work matrix; the Gram spectrum's features.
        if observables.ntk { elements += (7 * n * n + n * spec.depth) * 8 / scalar }
        if observables.gramSpectrum != nil { elements += (n * batch + 2 * batch * batch) * 8 / scalar }
        return elements * scalar + inputDimension * batch * 8
    }

    /// The tangent columns beside the batch, in this order: the Jacobian (`N₀`), the
    /// Lyapunov frame (k) and the sensitivity noise (one per input, B > 1).
    static func tangentColumns(_ o: Observables, inputDimension: Int, width: Int, batch: Int)
        -> (jacobian: Int, lyapunov: Int, sensitivity: Int, total: Int) {
        let j = o.jacobian == nil ? 0 : inputDimension
        let l = o.lyapunov?.count(inputDimension: inputDimension, width: width) ?? 0
        let s = o.forward.contains(.sensitivity) && batch > 1 ? batch : 0
        return (j, l, s, j + l + s)
    }

    public init(spec: NetworkSpec, inputs: InputBatch, observables: Observables, seed: UInt64, point: Int,
                backend: Backend = .dense) {
        precondition(backend == .dense || Backend.implicitUnsupported(spec: spec, observables: observables,
                                                                        inputDimension: inputs.dimension,
                                                                        batch: inputs.count) == nil,
                     "the implicit backend cannot serve this network; choose dense")
        self.backend = backend
        self.spec = spec
        self.seed = seed
        self.point = point
        self.observables = observables
        batch = inputs.count
        inputDimension = inputs.dimension
        names = observables.names(batch: batch, inputDimension: inputDimension, width: spec.width)
        forward = Set(observables.forward)
        let tangents = Self.tangentColumns(observables, inputDimension: inputDimension, width: spec.width, batch: batch)
        jacobianColumns = tangents.jacobian
        lyapunovColumns = tangents.lyapunov
        sensitivityColumns = tangents.sensitivity
        inputSignal = GramGeometry.centredTrace(inputs.gram.elements, count: batch)
        jacobianDepths = observables.jacobian?.depths(for: spec.depth) ?? []
        let n = spec.width, columns = batch + tangents.total
        source = Matrix(rows: max(n, inputDimension), columns: columns)
        input = Matrix(rows: inputDimension, columns: batch, elements: inputs.matrix.elements.map { T($0) })
        output = Matrix(rows: n, columns: columns)
        // Dense: a panel of W. Implicit: the N×C standard normals Z of H = Z Lᵀ.
        panel = Matrix(rows: n, columns: backend == .implicit ? (spec.weightInit == .gaussian ? columns : 0)
                                         : min(Self.panelWidth(rows: n, columns: columns), max(n, inputDimension)))
        gram = Matrix(rows: batch, columns: batch)
        bias = [T](repeating: 0, count: n)
        derivative = [T](repeating: 0, count: n)
        noiseDerivative = [T](repeating: 0, count: sensitivityColumns > 0 ? n : 0)
    }

    /// Convenience for forward observables only.
    public init(spec: NetworkSpec, inputs: InputBatch, observables: [ForwardObservable], seed: UInt64, point: Int) {
        self.init(spec: spec, inputs: inputs, observables: Observables(forward: observables), seed: seed, point: point)
    }

    /// An empty accumulator shaped for this sampler's quantities.
    public func makeStatistics() -> EnsembleStatistics {
        observables.emptyStatistics(spec: spec, batch: batch, inputDimension: inputDimension)
    }

    /// Samples network number `sample` and adds its per-layer quantities to `statistics`.
    /// Specialised for both precisions: callers in other modules would otherwise run the
    /// element loops through generic witness tables, ~5× slower.
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func run(sample: Int, into statistics: inout EnsembleStatistics) throws(LAPACKError) {
        let n = spec.width
        var values = [Double](repeating: 0, count: names.count)
        let forwardCount = EnsembleStatistics.names(for: observables.forward, batch: batch).count
        let jacobianStart = forwardCount, lyapunovStart = forwardCount + (jacobianColumns > 0 ? 6 : 0)
        // nngp_* close the forward quantities and are measured only at their layers.
        let nngpCount = forward.contains(.nngp) ? batch * (batch + 1) / 2 : 0
        let nngpLayers = Set(observables.nngpDepths(for: spec.depth))
        try resetTangents(sample: sample)
        var logScale = 0.0
        var lyapunovSums = [Double](repeating: 0, count: lyapunovColumns)
        for layer in 1...spec.depth {
            let fanIn = layer == 1 ? inputDimension : n
            let (seed, point) = (self.seed, UInt32(self.point))
            func stream(_ purpose: StreamID.Purpose) -> RandomStream {
                RandomStream(StreamID(seed: seed, point: point, sample: UInt32(sample), layer: UInt32(layer),
                                      purpose: purpose))
            }
            if observables.ntk { recordNTKWeight(layer: layer, fanIn: fanIn) }
            try affine(fanIn: fanIn, weights: stream(.weights), biases: stream(.biases))
            if observables.ntk { ntkDerivatives[layer - 1] = (0..<n).map { spec.activation.derivative(Double(output.elements[$0])) } }
            if spec.architecture.usesBatchNorm { batchNormalize() }
            if layer == 1, observables.gramSpectrum != nil {
                try measureGramSpectrum(into: &statistics.histograms[statistics.histograms.count - 1])
            }
            try measureForward(into: &values)
            statistics.add(layer: layer, values,
                           measured: 0..<(nngpLayers.contains(layer) ? forwardCount : forwardCount - nngpCount))
            if jacobianColumns + lyapunovColumns + sensitivityColumns > 0 {
                // J = source · e^{logScale}; its RMS norm is taken out at the next update.
                let (rms, noiseRMS) = advanceTangents(dividingJacobianBy: jacobianRMS, noiseBy: sensitivityRMS)
                // The noise columns now carry e^{−sensitivityLogScale}, this division included.
                sensitivityLogScale += log(sensitivityRMS)
                sensitivityRMS = noiseRMS > 0 && noiseRMS.isFinite ? noiseRMS : 1
                if jacobianColumns > 0, let index = jacobianDepths.firstIndex(of: layer) {
                    try measureJacobian(logScale: logScale, into: &values, at: jacobianStart,
                                        histogram: &statistics.histograms[index])
                    statistics.add(layer: layer, values, measured: jacobianStart..<(jacobianStart + 6))
                }
                // 1 when J vanished or overflowed: the logs then report the collapse.
                jacobianRMS = rms > 0 && rms.isFinite ? rms : 1
                logScale += log(jacobianRMS)
            }
            if lyapunovColumns > 0 { try orthonormalizeFrame(accumulating: &lyapunovSums) }
            if layer < spec.depth { activate() }
        }
        if lyapunovColumns > 0 {
            for k in 0..<lyapunovColumns { values[lyapunovStart + k] = lyapunovSums[k] / Double(spec.depth) }
            var count = lyapunovColumns
            if lyapunovColumns >= 2 {
                values[lyapunovStart + lyapunovColumns] = values[lyapunovStart] - values[lyapunovStart + 1]
                count += 1
            }
            statistics.add(layer: spec.depth, values, measured: lyapunovStart..<(lyapunovStart + count))
        }
        if observables.ntk {
            let start = names.count - Observables.ntkNames.count
            let (mean, largest, condition) = try empiricalNTK(sample: sample)
            (values[start], values[start + 1], values[start + 2]) = (mean, largest, condition)
            statistics.add(layer: spec.depth, values, measured: start..<names.count)
        }
        statistics.finishNetwork()
    }

    /// The start of a network: `source = [x^0 | T]` with the inputs, the tangents
    /// `J = I_{N₀}` and a Haar-random Lyapunov frame (stream `(…, sample, layer 0,
    /// orthogonal)`: a fixed frame such as e_1…e_k would start inside the span of the
    /// inputs and bias the top exponents of a short product), and no carried scale.
    private mutating func resetTangents(sample: Int) throws(LAPACKError) {
        let rows = source.rows, dimension = inputDimension
        source.elements.withUnsafeMutableBufferPointer { ps in
            ps.update(repeating: 0)
            input.elements.withUnsafeBufferPointer { px in
                for a in 0..<batch { for i in 0..<dimension { ps[a * rows + i] = px[a * dimension + i] } }
            }
        }
        forwardLogScale = 0
        if observables.ntk {
            ntkDerivatives = [[Double]](repeating: [], count: spec.depth)
            ntkLogWeights = [Double](repeating: 0, count: spec.depth)
        }
        jacobianRMS = 1
        sensitivityRMS = 1
        sensitivityLogScale = 0
        if sensitivityColumns > 0 {
            // dx_b ~ N(0, I), fresh per network: stream (…, sample, layer 0, noise).
            let noise = RandomStream(StreamID(seed: seed, point: UInt32(point), sample: UInt32(sample), layer: 0,
                                              purpose: .noise))
            let first = batch + jacobianColumns + lyapunovColumns
            var dx = [T](repeating: 0, count: inputDimension * sensitivityColumns)
            dx.withUnsafeMutableBufferPointer { T.fillStandardNormal(noise, $0, from: 0, scale: 1) }
            var sum = 0.0
            for c in 0..<sensitivityColumns {
                for i in 0..<inputDimension {
                    let v = dx[c * inputDimension + i]
                    source[i, first + c] = v
                    sum += Double(v) * Double(v)
                }
            }
            logInputSNR = log(inputSignal) - log(sum / Double(sensitivityColumns * inputDimension))
        }
        for i in 0..<jacobianColumns { source[i, batch + i] = 1 }
        if lyapunovColumns > 0 {
            let frame = try Matrix<T>.haarOrthogonal(
                rows: inputDimension, columns: lyapunovColumns,
                stream: RandomStream(StreamID(seed: seed, point: UInt32(point), sample: UInt32(sample), layer: 0,
                                              purpose: .orthogonal)))
            for c in 0..<lyapunovColumns {
                for i in 0..<inputDimension { source[i, batch + jacobianColumns + c] = frame[i, c] }
            }
        }
    }

    /// `output ← W source` (all columns) and `h ← output[:, ..<B] + b 1ᵀ`.
    private mutating func affine(fanIn: Int, weights: RandomStream, biases: RandomStream) throws(LAPACKError) {
        let n = spec.width, columns = source.columns, ld = source.rows
        let sigmaW = spec.sigmaW / spec.varianceDivisor.squareRoot()
        switch (backend, spec.weightInit) {
        case (.implicit, .gaussian):
            try implicitGaussian(fanIn: fanIn, weights: weights, scale: sigmaW / Double(fanIn).squareRoot())
        case (.implicit, .orthogonal):
            try implicitOrthogonal(fanIn: fanIn, weights: weights, alpha: sigmaW * (Double(n) / Double(fanIn)).squareRoot())
        case (.dense, .gaussian):
            let scale = T(sigmaW / Double(fanIn).squareRoot())
            let width = min(panel.columns, fanIn)
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
                        output.elements.withUnsafeMutableBufferPointer { ph in
                            T.multiply(.none, .none, m: n, n: columns, k: cols, alpha: 1,
                                       a: pw.baseAddress!, lda: n, b: px.baseAddress! + j0, ldb: ld,
                                       beta: beta, c: ph.baseAddress!, ldc: n)
                        }
                    }
                }
                j0 += cols
            }
        case (.dense, .orthogonal):
            let tall = n >= fanIn
            let o = try Matrix<T>.haarOrthogonal(rows: max(n, fanIn), columns: min(n, fanIn), stream: weights)
            let alpha = T(sigmaW * (tall ? (Double(n) / Double(fanIn)).squareRoot() : 1))
            o.elements.withUnsafeBufferPointer { po in
                source.elements.withUnsafeBufferPointer { px in
                    output.elements.withUnsafeMutableBufferPointer { ph in
                        T.multiply(tall ? .none : .transposed, .none, m: n, n: columns, k: fanIn, alpha: alpha,
                                   a: po.baseAddress!, lda: o.rows, b: px.baseAddress!, ldb: ld,
                                   beta: 0, c: ph.baseAddress!, ldc: n)
                    }
                }
            }
        }
        if spec.sigmaB > 0, !spec.architecture.usesBatchNorm {
            let scale = T(spec.sigmaB * exp(-forwardLogScale))
            bias.withUnsafeMutableBufferPointer { T.fillStandardNormal(biases, $0, from: 0, scale: scale) }
            for a in 0..<batch { for i in 0..<n { output.elements[i + a * n] += bias[i] } }
        }
    }

    /// Fills the forward quantities of `values` from the Gram matrix of `h` (its true scale
    /// restored for q, gram and nngp; the other quantities are scale-free).
    private mutating func measureForward(into values: inout [Double]) throws(LAPACKError) {
        let n = spec.width
        output.elements.withUnsafeBufferPointer { ph in
            gram.elements.withUnsafeMutableBufferPointer { pg in
                T.syrkTransposed(n: batch, k: n, alpha: T(1 / Double(n)), a: ph.baseAddress!, lda: n, c: pg.baseAddress!)
            }
        }
        // syrk fills the upper triangle: G_ab = gram[min, max].
        var g = [Double](repeating: 0, count: batch * batch)
        for b in 0..<batch { for a in 0...b { g[a * batch + b] = Double(gram[a, b]); g[b * batch + a] = g[a * batch + b] } }
        let carried = exp(2 * forwardLogScale)  // q of the true h; ∞ (diverged) past Double's range
        var k = 0
        for o in ForwardObservable.allCases where forward.contains(o) {
            switch o {
            case .q:
                var s = 0.0
                for a in 0..<batch { s += g[a * batch + a] }
                values[k] = s / Double(batch) * carried; k += 1
            case .c:
                guard batch > 1 else { continue }
                var s = 0.0
                for b in 1..<batch {
                    for a in 0..<b { s += g[a * batch + b] / (g[a * batch + a] * g[b * batch + b]).squareRoot() }
                }
                values[k] = s / Double(batch * (batch - 1) / 2); k += 1
            case .gram, .nngp:
                for a in 0..<batch { for b in a..<batch { values[k] = g[a * batch + b] * carried; k += 1 } }
            case .orthGap:
                values[k] = GramGeometry.orthogonalityGap(g, count: batch); k += 1
            case .effRank:
                guard batch > 1 else { continue }
                values[k] = try GramGeometry.effectiveRank(g, count: batch); k += 1
            case .trajLength:
                guard batch > 1 else { continue }
                values[k] = GramGeometry.trajectoryLength(g, count: batch) * carried.squareRoot(); k += 1
            case .sensitivity:
                guard batch > 1 else { continue }
                // ln χ = ½ (ln SNR^0 − ln SNR^l), SNR^l = Tr C[h]/mean_b |dh_b|²/N, both scales in logs.
                let first = batch + jacobianColumns + lyapunovColumns
                var noise = 0.0
                output.elements.withUnsafeBufferPointer { po in
                    for i in (first * n)..<((first + sensitivityColumns) * n) { noise += Double(po[i]) * Double(po[i]) }
                }
                // Tr C[h] by centring h itself (the Gram form cancels as the batch collapses);
                // a collapsed batch (Tr C = 0) has χ = ∞.
                var spread = 0.0
                output.elements.withUnsafeBufferPointer { po in
                    for i in 0..<n {
                        var mean = 0.0
                        for b in 0..<batch { mean += Double(po[b * n + i]) }
                        mean /= Double(batch)
                        for b in 0..<batch { let d = Double(po[b * n + i]) - mean; spread += d * d }
                    }
                }
                let logNoise = log(noise / Double(sensitivityColumns * n)) + 2 * sensitivityLogScale
                let logSignal = log(spread / Double(batch * n)) + 2 * forwardLogScale
                values[k] = spread > 0 ? exp(0.5 * (logInputSNR - logSignal + logNoise)) : .infinity; k += 1
            }
        }
    }

    /// The eigenvalues of `K = FᵀF/B`, `F = φ(h¹)` the first layer's features of the batch,
    /// into `histogram` (zero eigenvalues, B > N, fall below its range).
    private mutating func measureGramSpectrum(into histogram: inout SpectrumHistogram) throws(LAPACKError) {
        let n = spec.width, phi = spec.activation
        let features = Matrix<Double>(rows: n, columns: batch,
                                      elements: (0..<(n * batch)).map { phi.value(Double(output.elements[$0])) })
        for v in try features.gram(alpha: 1 / Double(batch)).symmetricEigenvalues() { histogram.add(logValue: log(v)) }
    }

    /// Batch norm of the pre-activations `h = output[:, ..<B]`, neuron (row) by neuron across
    /// the batch: `(h_ib − μ_i)/σ_i` with the population σ_i (two passes: nearly collapsed
    /// batches have σ_i ≪ |μ_i|), or for the chain `h_ib/√(mean_b h_ib²)` (no centring). A
    /// row with nothing to normalise (σ_i = 0) becomes 0.
    private mutating func batchNormalize() {
        let n = spec.width, inverseCount = 1 / Double(batch)
        let centred = spec.architecture != .batchNormChain
        var mean = [Double](repeating: 0, count: n), scale = [Double](repeating: 0, count: n)
        output.elements.withUnsafeMutableBufferPointer { po in
            if centred {
                for b in 0..<batch { for i in 0..<n { mean[i] += Double(po[b * n + i]) } }
                for i in 0..<n { mean[i] *= inverseCount }
            }
            for b in 0..<batch {
                for i in 0..<n { let d = Double(po[b * n + i]) - mean[i]; scale[i] += d * d }
            }
            for i in 0..<n { scale[i] = scale[i] > 0 ? 1 / (scale[i] * inverseCount).squareRoot() : 0 }
            for b in 0..<batch {
                for i in 0..<n { po[b * n + i] = T((Double(po[b * n + i]) - mean[i]) * scale[i]) }
            }
            // The noise columns (dz_b = W dx_b, one per input b) through the normalisation with
            // its statistics frozen, dn = dz/σ: Labatie's BN normalises by moments over the
            // input distribution, which an infinitesimal perturbation of the inputs does not
            // move. (Differentiating the batch's own μ, σ would project out 2 of the B
            // directions per layer, a (1 − 2/B)^l finite-batch loss of noise.)
            guard sensitivityColumns > 0 else { return }
            let first = (batch + jacobianColumns + lyapunovColumns) * n
            for b in 0..<batch {
                for i in 0..<n { po[first + b * n + i] = T(Double(po[first + b * n + i]) * scale[i]) }
            }
        }
    }

    /// `a` of a residual net, 0 for a feedforward one.
    private var residualScale: T { T(spec.architecture.residualScale) }

    /// `T ← D (W T) + a T` in `source`, with `D = diag φ′(h)` at the batch's first input for
    /// the Jacobian and Lyapunov columns and at its own input for each sensitivity column:
    /// the tangents become `∂x^l/∂x^0` (times the carried scale). The Jacobian and the noise
    /// columns are also divided by `rms`, `noiseRMS` (the previous update's norms:
    /// W (J/r) = (W J)/r), and their new RMS norms are returned — all in the one pass over
    /// the columns, with eight independent partial sums so the reduction does not wait on
    /// one add chain.
    private mutating func advanceTangents(dividingJacobianBy rms: Double, noiseBy noiseRMS: Double)
        -> (jacobian: Double, noise: Double) {
        let n = spec.width, ld = source.rows, a = residualScale, phi = spec.activation
        let jacobianEnd = batch + jacobianColumns, noiseStart = jacobianEnd + lyapunovColumns
        let norm = T(spec.architecture.residualNormalization)
        var jacobianSums = SIMD8<Double>(), noiseSums = SIMD8<Double>()
        output.elements.withUnsafeBufferPointer { po in
            source.elements.withUnsafeMutableBufferPointer { ps in
                derivative.withUnsafeMutableBufferPointer { pd in
                    for i in 0..<n { pd[i] = T(phi.derivative(Double(po[i]))) }
                    for c in batch..<source.columns {
                        let o = c * n, s = c * ld
                        let isNoise = c >= noiseStart
                        // The residual normalisation (1 without one) is linear: tangents carry it too.
                        let scale = T(c < jacobianEnd ? 1 / rms : (isNoise ? 1 / noiseRMS : 1)) * norm
                        if isNoise {
                            // φ′ at the column's own input b (float64: the batch path).
                            let h = (c - noiseStart) * n
                            noiseDerivative.withUnsafeMutableBufferPointer { pn in
                                if T.self == Double.self {
                                    UnsafeRawPointer(po.baseAddress! + h).withMemoryRebound(to: Double.self, capacity: n) { x in
                                        UnsafeMutableRawPointer(pn.baseAddress!).withMemoryRebound(to: Double.self, capacity: n) { y in
                                            phi.applyDerivative(UnsafeBufferPointer(start: x, count: n),
                                                                into: UnsafeMutableBufferPointer(start: y, count: n))
                                        }
                                    }
                                } else {
                                    for i in 0..<n { pn[i] = T(phi.derivative(Double(po[h + i]))) }
                                }
                                for i in 0..<n { ps[s + i] = scale * (pn[i] * po[o + i] + a * ps[s + i]) }
                            }
                        } else if a == 0 {
                            for i in 0..<n { ps[s + i] = scale * (pd[i] * po[o + i]) }
                        } else {
                            for i in 0..<n { ps[s + i] = scale * (pd[i] * po[o + i] + a * ps[s + i]) }
                        }
                        for i in n..<ld { ps[s + i] = 0 }
                        guard c < jacobianEnd || isNoise else { continue }
                        var sums = SIMD8<Double>()
                        var i = 0
                        while i + 8 <= n {
                            var v = SIMD8<Double>()
                            for k in 0..<8 { v[k] = Double(ps[s + i + k]) }
                            sums.addProduct(v, v)
                            i += 8
                        }
                        while i < n { sums[0] += Double(ps[s + i]) * Double(ps[s + i]); i += 1 }
                        if isNoise { noiseSums += sums } else { jacobianSums += sums }
                    }
                }
            }
        }
        return (jacobianColumns > 0 ? (jacobianSums.sum() / Double(jacobianColumns)).squareRoot() : 1,
                sensitivityColumns > 0 ? (noiseSums.sum() / Double(sensitivityColumns * n)).squareRoot() : 1)
    }

    /// The `n × columns` block of `source` starting at column `first`.
    private func block(from first: Int, columns: Int) -> Matrix<T> {
        let n = spec.width, ld = source.rows
        var m = Matrix<T>(rows: n, columns: columns)
        for c in 0..<columns { for i in 0..<n { m.elements[c * n + i] = source.elements[(first + c) * ld + i] } }
        return m
    }

    /// All squared singular values λ = s²·e^{2·logScale} of J at this layer: their moments
    /// (computed from logs, so overflow shows as ∞ = diverged, never as NaN), and the
    /// histogram. Values below `(ε s_max)²` are not resolved by the arithmetic: they are
    /// counted (`jac_floor_frac`) and left out of the mean log, the minimum and the bins.
    private mutating func measureJacobian(logScale: Double, into values: inout [Double], at start: Int,
                                          histogram: inout SpectrumHistogram) throws(LAPACKError) {
        let j = block(from: batch, columns: jacobianColumns)
        guard j.elements.allSatisfy(\.isFinite) else {
            // φ′ of a diverged pre-activation: this network's spectrum is undefined here.
            for k in 0..<JacobianObservable.names.count { values[start + k] = .nan }
            return
        }
        let s = try j.singularValues().map { Double($0) }
        let sMax = s.first ?? 0
        let floor = Double(T.ulpOfOne) * sMax
        var sumSquares = 0.0, sumFourth = 0.0, sumLog = 0.0, trusted = 0, smallest = Double.infinity
        for v in s {
            let r = v / max(sMax, .leastNormalMagnitude)
            sumSquares += r * r
            sumFourth += r * r * r * r
            guard v > floor, v > 0 else { histogram.flagBelowFloor(); continue }
            let logLambda = 2 * (log(v) + logScale)
            sumLog += logLambda
            trusted += 1
            smallest = min(smallest, logLambda)
            histogram.add(logValue: logLambda)
        }
        let count = Double(s.count)
        let logMax = 2 * (log(sMax) + logScale)
        values[start] = exp(logMax + log(sumSquares / count))
        values[start + 1] = exp(2 * logMax + log(sumFourth / count))
        values[start + 2] = trusted > 0 ? sumLog / Double(trusted) : -.infinity
        values[start + 3] = exp(logMax)
        values[start + 4] = exp(smallest)
        values[start + 5] = Double(s.count - trusted) / count
    }

    /// Divides `h` (and the residual stream) by 2^e when its largest entry leaves
    /// [2^-256, 2^256]; exact in binary floating point.
    private mutating func rescaleForward() {
        let n = spec.width, ld = source.rows
        var largest = 0.0
        for c in 0..<batch { for i in 0..<n { largest = max(largest, abs(Double(output.elements[c * n + i]))) } }
        guard largest > 0x1p256 || (largest < 0x1p-256 && largest > 0), largest.isFinite else { return }
        let e = Double(Int(log2(largest)))
        let factor = T(exp2(-e))
        for c in 0..<batch {
            for i in 0..<n {
                output.elements[c * n + i] *= factor
                source.elements[c * ld + i] *= factor
            }
        }
        forwardLogScale += e * log(2)
    }

    /// QR of the Lyapunov frame: the frame becomes Q, `ln|R_kk|` is added up.
    private mutating func orthonormalizeFrame(accumulating sums: inout [Double]) throws(LAPACKError) {
        let n = spec.width, ld = source.rows, first = batch + jacobianColumns
        let (q, r) = try block(from: first, columns: lyapunovColumns).qr()
        for k in 0..<lyapunovColumns { sums[k] += log(abs(Double(r[k, k]))) }
        for c in 0..<lyapunovColumns { for i in 0..<n { source.elements[(first + c) * ld + i] = q.elements[c * n + i] } }
    }

    /// The next layer's inputs `x = φ(h)` (`+ a x` for residual nets) in `source`. For a
    /// positively homogeneous φ the stored activations are divided by a power of two
    /// whenever they exceed 2^±256, the factor's log carried in `forwardLogScale` (biases are
    /// drawn divided by it), so a deep chaotic ReLU net keeps finite numbers; its measured q
    /// then overflows honestly to ∞ (reported as diverged) while its Jacobian stays exact.
    private mutating func activate() {
        let n = spec.width, ld = source.rows, a = residualScale, phi = spec.activation
        let norm = T(spec.architecture.residualNormalization)
        // Batch norm keeps h of order 1 (and a skip stream grows only like √l): no rescaling.
        if phi.isPositivelyHomogeneous, !spec.architecture.usesBatchNorm { rescaleForward() }
        // φ(h) column by column: float64 through the batch (SIMD) path into `derivative`
        // (free until the next tangent update), float32 element by element.
        let batched = T.self == Double.self
        output.elements.withUnsafeBufferPointer { po in
            source.elements.withUnsafeMutableBufferPointer { ps in
                derivative.withUnsafeMutableBufferPointer { scratch in
                    for c in 0..<batch {
                        let o = c * n, s = c * ld
                        if batched {
                            UnsafeRawPointer(po.baseAddress! + o).withMemoryRebound(to: Double.self, capacity: n) { x in
                                UnsafeMutableRawPointer(scratch.baseAddress!).withMemoryRebound(to: Double.self, capacity: n) { y in
                                    phi.apply(UnsafeBufferPointer(start: x, count: n), into: UnsafeMutableBufferPointer(start: y, count: n))
                                }
                            }
                        } else {
                            for i in 0..<n { scratch[i] = T(phi.value(Double(po[o + i]))) }
                        }
                        if a == 0 {
                            for i in 0..<n { ps[s + i] = scratch[i] }
                        } else {
                            for i in 0..<n { ps[s + i] = norm * (scratch[i] + a * ps[s + i]) }
                        }
                        for i in n..<ld { ps[s + i] = 0 }
                    }
                }
            }
        }
    }
}
