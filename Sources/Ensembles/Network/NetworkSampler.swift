import LinearAlgebra
import MeanField
import Randomness

/// Samples networks of one ``NetworkSpec`` and lets every observable measure them, layer by
/// layer, reusing the buffers from one network to the next. The layer is its
/// architecture's ``Composition``: `h^l = pre(x^{l−1})` (the affine map — drawn and
/// multiplied, or sampled from its exact law without W, per ``Backend`` — then the bias or
/// a normalisation), the observables see h^l, then `x^l = post(h^l)` (φ and the stream
/// update). Tangent columns ride along every step; what is measured lives in the
/// observables (`Observables/`), what the step does in the layer maps (`Layers/`).
public struct NetworkSampler<T: BLASScalar & GaussianFillable> {
    public private(set) var network: SampledNetwork<T>
    private var observers: [any Observable]
    private let slots: [Slot]
    private let composition: Composition
    /// The composition fused into one streamed pass, where it can be (``StreamedGaussianLayer``).
    private let streamed: StreamedGaussianLayer?
    private let statistics: EnsembleStatistics

    public init(spec: NetworkSpec, inputs: InputBatch, observables: Observables, seed: UInt64, point: Int,
                backend: Backend = .dense) {
        let shape = NetworkShape(spec: spec, batch: inputs.count, inputDimension: inputs.dimension)
        precondition(backend == .dense || observables.implicitUnsupported(shape) == nil,
                     "the implicit backend cannot serve this network; choose dense")
        slots = observables.slots(shape)
        observers = observables.members
        composition = spec.architecture.composition(spec)
        statistics = observables.emptyStatistics(shape)
        streamed = StreamedGaussianLayer(composition: composition, backend: backend, scalar: T.self,
                                         columns: inputs.count + observables.tangentColumns(shape), batch: inputs.count,
                                         observers: observers)
        network = SampledNetwork(spec: spec, backend: backend, inputs: inputs, slots: slots, seed: seed, point: point,
                                 streamed: streamed != nil)
    }

    /// Whether layers run as one streamed pass (``StreamedGaussianLayer``).
    public var isStreamed: Bool { streamed != nil }

    /// Peak memory of one sampler, in bytes: `[x | T]` before and after a layer, the weight
    /// panel (or all of W with tangents), the Gram matrix, bias and φ′, the input batch (in
    /// float64 and in `T`), for orthogonal weights the Gaussian matrix and its Q factor (or,
    /// implicit, the Haar frame), and what each observable keeps. A streamed sampler keeps
    /// the inputs, the bias and the QR's block: nothing of width N times the columns.
    public static func estimatedBytes(_ shape: NetworkShape, observables: Observables, backend: Backend = .dense) -> Int {
        let spec = shape.spec, n = spec.units, inputDimension = shape.inputDimension, batch = shape.batch
        let scalar = MemoryLayout<T>.size
        let columns = batch + observables.tangentColumns(shape)
        let extra = observables.members.reduce(0) { $0 + $1.extraBytes(shape, scalarSize: scalar) }
        if StreamedGaussianLayer(composition: spec.architecture.composition(spec), backend: backend, scalar: T.self,
                                 columns: columns, batch: batch, observers: observables.members) != nil {
            let factorBlock = (Matrix<Double>.streamedBlockRows(columns: columns) + columns) * columns * 8
            return (2 * inputDimension * batch + batch * batch + n) * scalar + factorBlock + extra + inputDimension * batch * 8
        }
        if case .convolution(let k, _) = spec.architecture {
            // [x | T] before and after, the shifted copy and the GEMMs' output; every tap's
            // weights; implicit: the taps' stacked copies and R, over P·columns pairs.
            let taps = spec.spatialShape.reduce(1) { t, _ in t * k }, cIn = max(spec.width, inputDimension / spec.positions)
            let pairs = spec.positions * columns
            var elements = 4 * max(n, inputDimension) * columns + taps * spec.width * cIn + batch * batch + spec.width
                + inputDimension * batch
            if backend == .implicit { elements += (taps * cIn + 2 * pairs) * pairs * 8 / scalar }
            return elements * scalar + extra + inputDimension * batch * 8
        }
        let panel = Affine.panelShape(width: spec.width, inputDimension: inputDimension, columns: columns, backend: backend,
                                      weightInit: spec.weightInit)
        var elements = 2 * max(n, inputDimension) * columns + panel.rows * panel.columns + batch * batch + 2 * n
            + inputDimension * batch
        // The streamed QR's block of X and R, in float64.
        let factorBlock = (Matrix<Double>.streamedBlockRows(columns: columns) + columns) * columns * 8 / scalar
        switch (backend, spec.weightInit) {
        case (.dense, .orthogonal), (.dense, .deltaOrthogonal): elements += 2 * n * max(n, inputDimension) + n
        // The Haar N×C frame, its Gaussian and V R in float64.
        case (.implicit, .orthogonal), (.implicit, .deltaOrthogonal): elements += 3 * n * columns * 8 / scalar + factorBlock
        case (.implicit, .gaussian): elements += factorBlock
        case (.dense, .gaussian): break
        }
        return elements * scalar + extra + inputDimension * batch * 8
    }

    /// An empty accumulator shaped for this sampler's quantities.
    public func makeStatistics() -> EnsembleStatistics { statistics }

    /// Samples network number `sample` and adds what its observables measure to `statistics`.
    /// Specialised for both precisions: callers in other modules would otherwise run the
    /// element loops through generic witness tables, ~5× slower.
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func run(sample: Int, into statistics: inout EnsembleStatistics) throws(LAPACKError) {
        network.begin(sample: sample)
        for i in observers.indices { try observers[i].beginNetwork(&network, slot: slots[i]) }
        for layer in 1...network.spec.depth {
            network.layer = layer
            for i in observers.indices { observers[i].beginLayer(&network) }
            if let streamed {
                streamed.sample(&network)
            } else {
                for map in composition.pre { try map.sample(&network) }
                network.measureGram()
            }
            for i in observers.indices { try observers[i].preActivation(&network, into: &statistics, slot: slots[i]) }
            if let streamed {
                streamed.advance(&network)
            } else {
                for map in composition.post { try map.sample(&network) }
            }
            for i in observers.indices { try observers[i].endLayer(&network, into: &statistics, slot: slots[i]) }
        }
        for i in observers.indices { try observers[i].endNetwork(&network, into: &statistics, slot: slots[i]) }
        statistics.finishNetwork()
    }
}
