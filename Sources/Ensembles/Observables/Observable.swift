#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField

/// The network an observable is measured on: its family, its batch and its input dimension.
public struct NetworkShape: Sendable, Hashable {
    public let spec: NetworkSpec
    /// B.
    public let batch: Int
    /// N₀.
    public let inputDimension: Int

    public init(spec: NetworkSpec, batch: Int, inputDimension: Int) {
        self.spec = spec
        self.batch = batch
        self.inputDimension = inputDimension
    }
}

/// A pooled histogram an observable fills: `spectra.csv` rows labelled `observable` at `layer`.
public struct HistogramSlot: Sendable, Hashable {
    public let layer: Int
    public let observable: String
    public let range: ClosedRange<Double>
    public let bins: Int

    public init(layer: Int, observable: String, range: ClosedRange<Double>, bins: Int) {
        self.layer = layer
        self.observable = observable
        self.range = range
        self.bins = bins
    }

    public var empty: SpectrumHistogram { SpectrumHistogram(range: range, bins: bins) }
}

/// Where one observable's quantities and histograms sit in a point's ``EnsembleStatistics``,
/// and its tangent columns in the sampled `[x | T]` (assigned by ``Observables``; an
/// observable addresses only its own).
public struct Slot: Sendable, Hashable {
    public let quantities: Range<Int>
    public let histograms: Range<Int>
    /// Its tangent columns (empty: none), and where φ′ is taken for them.
    public let tangents: Range<Int>
    public let derivative: TangentColumns.Derivative
}

/// One thing measured on every sampled network, with everything about it in one place: its
/// campaign key and options (``ObservableEntry``), the quantities it writes (their CSV
/// names), the histograms it pools, the tangent columns it rides on, its memory and cost,
/// its measurement on the sampled layer state (the hooks, called in the order of the layer
/// loop of ``NetworkSampler``) and its prediction from the mean-field layer state.
///
/// An observable is a value; each sampler holds its own copy, so per-network state (a
/// carried log-scale, running sums) lives in its stored properties.
public protocol Observable: Sendable {
    /// Its registry entry: campaign key, placement, options, help line.
    static var entry: ObservableEntry { get }
    /// The quantities written to `layers.csv`, in order.
    func quantities(_ shape: NetworkShape) -> [String]
    /// The histograms pooled for `spectra.csv`.
    func histograms(_ shape: NetworkShape) -> [HistogramSlot]
    /// Extra columns pushed through the network beside the batch.
    func tangents(_ shape: NetworkShape) -> TangentColumns?
    /// Why the implicit backend cannot serve it (it needs W itself), or nil.
    var needsDenseWeights: String? { get }
    /// Whether all it reads is `network.gram` at ``preActivation(_:into:slot:)`` (no other
    /// hook, no layer buffer), so the layer may run as one streamed pass that keeps neither
    /// h nor x (``StreamedGaussianLayer``).
    var readsOnlyGram: Bool { get }
    /// Memory of one sampler beyond the layer's columns, in bytes, for scalars of `scalarSize` bytes.
    func extraBytes(_ shape: NetworkShape, scalarSize: Int) -> Int
    /// Flops per network beyond the layer GEMMs and its tangent columns (plan's time model).
    func extraFlops(_ shape: NetworkShape) -> Double
    /// Its options as the manifest records them (entries of the normalised `observe` table).
    var normalizedOptions: [String: ManifestValue] { get }

    /// A network starts (`source` holds `[x^0 | 0]`): set this observable's tangent columns.
    mutating func beginNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>, slot: Slot)
        throws(LAPACKError)
    /// Before layer l's maps (`source` holds `[x^{l−1} | T]`).
    mutating func beginLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>)
    /// At the pre-activations h^l (`output`, with `network.gram`).
    mutating func preActivation<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                   into statistics: inout EnsembleStatistics, slot: Slot)
        throws(LAPACKError)
    /// After layer l (`source` holds `[x^l | T^l]`).
    mutating func endLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                              into statistics: inout EnsembleStatistics, slot: Slot)
        throws(LAPACKError)
    /// After the last layer.
    mutating func endNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                into statistics: inout EnsembleStatistics, slot: Slot)
        throws(LAPACKError)

    /// The infinite-width prediction of every quantity (and histogram) at every layer.
    func predict(_ theory: TheoryContext) -> Prediction
}

extension Observable {
    /// The name in a campaign file (its `forward` entry or its `[observe]` key).
    public var key: String { Self.entry.key }

    public func histograms(_ shape: NetworkShape) -> [HistogramSlot] { [] }
    public func tangents(_ shape: NetworkShape) -> TangentColumns? { nil }
    public var needsDenseWeights: String? { nil }
    public var readsOnlyGram: Bool { false }
    public func extraBytes(_ shape: NetworkShape, scalarSize: Int) -> Int { 0 }
    public func extraFlops(_ shape: NetworkShape) -> Double { 0 }
    public var normalizedOptions: [String: ManifestValue] { [:] }
    public mutating func beginNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>, slot: Slot)
        throws(LAPACKError) {}
    public mutating func beginLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) {}
    public mutating func preActivation<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                          into statistics: inout EnsembleStatistics,
                                                                          slot: Slot) throws(LAPACKError) {}
    public mutating func endLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                     into statistics: inout EnsembleStatistics,
                                                                     slot: Slot) throws(LAPACKError) {}
    public mutating func endNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                       into statistics: inout EnsembleStatistics,
                                                                       slot: Slot) throws(LAPACKError) {}
}

/// A value of the normalised campaign (`manifest.json`, and the hash that guards `--resume`).
public indirect enum ManifestValue: Sendable, Hashable {
    case integer(Int)
    case real(Double)
    case string(String)
    case bool(Bool)
    case list([ManifestValue])
    case table([String: ManifestValue])

    /// As `JSONSerialization` takes it.
    public var json: Any {
        switch self {
        case .integer(let i): return i
        case .real(let x): return x
        case .string(let s): return s
        case .bool(let b): return b
        case .list(let l): return l.map(\.json)
        case .table(let t): return t.mapValues(\.json)
        }
    }
}

/// An observable's infinite-width predictions for one grid point.
public struct Prediction: Sendable {
    /// `values[k][l − 1]`: quantity k at layer l; nil where theory is silent.
    public var values: [[Double?]]
    /// Per histogram, the density averaged over each bin (nil: no theory).
    public var spectra: [[Double]?]
    /// Per histogram, the bin averages of the depth → ∞ law where one is known beside the
    /// finite-depth one (Tarnowski et al.'s 2019 universal residual law); nil elsewhere.
    public var limitSpectra: [[Double]?]
    /// Why a theory column is empty, for the manifest.
    public var notes: [String]
    /// `standardDeviations[k][l − 1]`: the predicted standard deviation across networks of
    /// quantity k at layer l, to leading order in 1/N (``KernelFluctuations``); empty where
    /// the observable has no fluctuation theory, nil where it is silent at a layer.
    public var standardDeviations: [[Double?]] = []
    /// `corrected[k][l − 1]`: the mean of quantity k at layer l with its 1/N correction
    /// (``KernelFluctuations/scaledMeanShifts``); empty or nil where there is none.
    public var corrected: [[Double?]] = []

    /// No theory for `quantities` quantities over `depth` layers (nor for `histograms`).
    public static func none(quantities: Int, depth: Int, histograms: Int = 0, notes: [String] = []) -> Prediction {
        Prediction(values: Array(repeating: Array(repeating: nil, count: depth), count: quantities),
                   spectra: Array(repeating: nil, count: histograms), notes: notes)
    }

    /// Quantity by quantity, each a function of the layer (1-based) over the trace's layers.
    public init(quantities: Int, theory: TheoryContext, _ value: (_ quantity: Int, _ layer: Int) -> Double?) {
        let depth = theory.network.depth, known = theory.layers.count
        values = (0..<quantities).map { k in (1...depth).map { l in l <= known ? value(k, l) : nil } }
        spectra = []
        limitSpectra = []
        notes = []
    }

    public init(values: [[Double?]], spectra: [[Double]?] = [], notes: [String] = []) {
        self.values = values
        self.spectra = spectra
        self.limitSpectra = Array(repeating: nil, count: spectra.count)
        self.notes = notes
    }
}

/// The coordinates in which ``TheoryContext/deltaMethodVariance(layer:frame:_:)`` differentiates
/// a function f of the B×B kernel K that sees K only through a linear image, `f(K) = f(T(K))`:
/// the kernel's shift μ and covariance P are carried through T (`J μ`, `J P Jᵀ`, J = T's matrix
/// over the entries i ≤ j) and f is stepped about T(K) by `ε · scale` on every entry. A
/// function of the centred kernel C = PKP (eff_rank) varies on the scale of C's eigenvalue gaps,
/// which shrink like 1 − c as the inputs align: stepped about K, each step would keep only
/// 10⁻¹⁶ K of its digits, and the Hessian's rounding, contracted with P's entries of size K²
/// (the inputs' common fluctuation, to which f is blind), would grow like (K/gap)². (Stepped
/// about K on K's scale, eff_rank's gradient was 79 % off at 1 − c = 10⁻⁵ and its 1/N term
/// 87 % off at 10⁻³.)
public struct DifferenceFrame: Sendable {
    /// T, linear on B×B matrices (row-major).
    public var map: @Sendable ([Double]) -> [Double]
    /// The scale on which f varies about T(K).
    public var scale: Double

    public init(scale: Double, map: @escaping @Sendable ([Double]) -> [Double]) {
        self.map = map
        self.scale = scale
    }
}

/// The mean-field side of one grid point, shared by every observable's `predict`: the
/// network, its actual input batch, the maps of its effective weight scale `σ_w/√s`, and
/// the layer-by-layer pre-activation covariances `q^l_ab` of its architecture's
/// composition (empty where the architecture has no Gaussian theory). Quantities several
/// observables need are computed once, on first use.
public final class TheoryContext {
    public let network: NetworkSpec
    public let inputs: InputBatch
    /// MeanFieldMaps of φ, `σ_w/√s` and σ_b.
    public let maps: MeanFieldMaps
    /// `q^l_ab`, layer 1 first.
    public let layers: [LayerTheory]

    /// `fluctuations`: with the finite-width theory (``kernelFluctuations``); `nextOrder`: and
    /// the next order of its covariances (Gaussian weights).
    public init(network: NetworkSpec, inputs: InputBatch, fluctuations: Bool = false, nextOrder: Bool = false) {
        self.network = network
        self.inputs = inputs
        self.fluctuations = fluctuations
        self.nextOrder = nextOrder
        maps = MeanFieldMaps(activation: network.activation, sigmaW: network.sigmaW / network.varianceDivisor.squareRoot(),
                             sigmaB: network.sigmaB)
        layers = network.meanField(input: network.positions > 1 ? inputs.moments(positions: network.positions) : inputs.moments)
    }

    /// B.
    public var batch: Int { inputs.count }

    /// The network, batch and input dimension the observables are measured on.
    public var shape: NetworkShape { NetworkShape(spec: network, batch: inputs.count, inputDimension: inputs.dimension) }

    /// A convolutional net's pre-activation moments over every pair of its B·P (input,
    /// position) vectors (vector `a·P + p`), layer 1 first, for the observables over positions
    /// × inputs (``GramFunction/overPositions``, ``Sensitivity``); empty for a fully connected
    /// net. Computed on first use: every pair tracked, (BP)(BP+1)/2 Gaussian integrals a layer.
    public private(set) lazy var positionPairLayers: [LayerTheory] = network.positions == 1 ? [] :
        network.architecture.composition(network).propagate(input: inputs.moments(positions: network.positions),
                                                            depth: network.depth, pairs: .all) {
            LayerTheory(layer: $0, moments: $1)
        }

    /// Whether the finite-width theory (``kernelFluctuations``) is asked for (`[observe]
    /// fluctuations = true`): it costs about fifteen 2-D Gaussian integrals per distinct pair of
    /// inputs and layer, 20 times the mean-field theory of `examples/bench-grid.toml`'s points.
    public let fluctuations: Bool
    /// Whether the fluctuation theory carries its covariances' next order in 1/N (`[observe]
    /// fluctuations_order = 2`): about 200 more 2-D Gaussian integrals per pair and layer, 40×
    /// the leading order's cost.
    public let nextOrder: Bool

    /// The leading-order fluctuations of the empirical kernel across networks
    /// (``KernelFluctuations``) of every input (key `a·B + a`) and every pair a < b (key
    /// `a·B + b`), when ``fluctuations`` is asked for, for a fully connected feedforward net with
    /// Gaussian weights, or orthogonal ones whose first layer is at least as wide as the input
    /// (narrower, it projects the input and its Gram is not held fixed), and at most
    /// ``fluctuationBatchLimit`` inputs; nil elsewhere. Inputs or pairs with the same kernels at
    /// every layer (a Gram batch's) share one computation.
    public private(set) lazy var kernelFluctuations: [Int: KernelFluctuations]? = {
        let law = network.weightInit
        guard fluctuations, network.architecture == .feedforward,
              law == .gaussian || (law.isOrthogonal && network.width >= inputs.dimension),
              batch <= Self.fluctuationBatchLimit, !layers.isEmpty else { return nil }
        let b = batch
        var table: [Int: KernelFluctuations] = [:], computed: [[UInt64]: KernelFluctuations] = [:]
        for a in 0..<b {
            for c in a..<b {
                let kernels = layers.map { t in (t.covariance[a * b + a], t.covariance[a * b + c], t.covariance[c * b + c]) }
                let key: [UInt64] = [a == c ? 1 : 0] + kernels.flatMap { k -> [UInt64] in
                    [k.0.bitPattern, k.1.bitPattern, k.2.bitPattern]
                }
                if let known = computed[key] {
                    table[a * b + c] = known
                    continue
                }
                // A pair whose moments leave Double's range has no entry (its quantities are silent).
                guard let f = KernelFluctuations(activation: network.activation, sigmaW: maps.sigmaW, sigmaB: maps.sigmaB,
                                                 weights: law, kernels: kernels, sameInput: a == c, nextOrder: nextOrder)
                else { continue }
                computed[key] = f
                table[a * b + c] = f
            }
        }
        return table
    }()

    /// The most inputs whose pairs get a fluctuation theory.
    public static let fluctuationBatchLimit = 8

    /// The covariances of every entry of the kernel of three or more inputs
    /// (``BatchKernelFluctuations``), for the quantities that pool pairs (c); nil for fewer
    /// inputs or without ``kernelFluctuations``. Computed on first use: per layer the
    /// four-point functions of every three and four distinct inputs (3- and 4-D integrals,
    /// one per distinct covariance: a Gram batch has one of each).
    public private(set) lazy var batchKernelFluctuations: BatchKernelFluctuations? = {
        guard batch > 2, kernelFluctuations != nil else { return nil }
        return BatchKernelFluctuations(activation: network.activation, sigmaW: maps.sigmaW, sigmaB: maps.sigmaB,
                                       weights: network.weightInit, kernels: layers.map(\.covariance)) { a, c in
            self.kernelFluctuations?[a * self.batch + c]
        }
    }()

    /// `N · Cov(K̂^l_ij, K̂^l_kl)` for entries (i ≤ j), (k ≤ l), layer 1 first: a pair's table
    /// where {i, j, k, l} has at most two members, else ``batchKernelFluctuations``; nil
    /// without a fluctuation theory.
    public func scaledKernelCovariance(_ i: Int, _ j: Int, _ k: Int, _ l: Int, layer: Int) -> Double? {
        guard Set([i, j, k, l]).count > 2 else { return pairEntry(i, j, k, l, layer: layer, \.scaledCovariances) }
        return batchKernelFluctuations?.covariance(i, j, k, l, layer: layer)
    }

    /// The next order of ``scaledKernelCovariance(_:_:_:_:layer:)``: `N² Cov − N · (its leading
    /// order)` (``KernelFluctuations/scaledSecondOrderCovariances``); nil where there is none.
    public func secondOrderKernelCovariance(_ i: Int, _ j: Int, _ k: Int, _ l: Int, layer: Int) -> Double? {
        pairEntry(i, j, k, l, layer: layer, \.scaledSecondOrderCovariances)
    }

    /// `N Var f(K̂^l)` to leading order by the delta method over every entry of the kernel:
    /// `∇fᵀ P ∇f`, P the kernel's `N Cov` over its entries i ≤ j (``kernelCovariance(layer:)``),
    /// ∇f by ``kernelDerivatives(about:scale:hessian:_:)``, both in the coordinates of `frame`
    /// (``DifferenceFrame``; nil: the kernel's own entries, each stepped on `√(K_ii K_jj)`). `f`
    /// takes a B×B kernel; nil where f is not finite nearby or P is missing.
    public func deltaMethodVariance(layer l: Int, frame: DifferenceFrame? = nil, _ f: ([Double]) -> Double?) -> Double? {
        guard let moments = kernelMoments(layer: l, frame: frame, shifts: false),
              let (gradient, _) = kernelDerivatives(about: moments.kernel, scale: frame?.scale, hessian: false, f) else { return nil }
        return Self.quadraticForm(gradient, moments.covariance)
    }

    /// `E f(K̂^l)` to order 1/N, `N Var f(K̂^l)` to leading order (as
    /// ``deltaMethodVariance(layer:frame:_:)``) and the variance of the delta method's quadratic
    /// term, by the second-order delta method over every entry of the kernel. The mean is
    /// `f(K) + ∇f·μ/N + ½ Σ_xy ∂_x∂_y f P_xy/N`, with μ = N(E K̂ − K)
    /// (``scaledKernelShift(_:_:layer:)``) and P its `N Cov` (``kernelCovariance(layer:)``);
    /// `quadratic` is `½ tr((∇²f P)²)`, N² times the variance of `½ δKᵀ∇²f δK` for Gaussian δK
    /// (uncorrelated with the linear term): one term of the variance's next order (the others
    /// carry P's own next order, the third cumulant and μ), the one that grows without bound
    /// relative to the leading one as ∇f turns away from the fluctuations. `frame` as there.
    /// nil where μ or P is missing or f is not finite nearby.
    public func deltaMethodMoments(layer l: Int, frame: DifferenceFrame? = nil, _ f: ([Double]) -> Double?)
        -> (mean: Double, variance: Double, quadratic: Double)? {
        guard let moments = kernelMoments(layer: l, frame: frame, shifts: true),
              let centre = f(moments.kernel), centre.isFinite,
              let (gradient, hessian) = kernelDerivatives(about: moments.kernel, scale: frame?.scale, hessian: true, f)
        else { return nil }
        let m = gradient.count, p = moments.covariance
        var first = 0.0, second = 0.0
        for x in 0..<m {
            first += gradient[x] * moments.shift[x]
            for y in 0..<m { second += hessian[x * m + y] * p[x * m + y] }
        }
        var hp = [Double](repeating: 0, count: m * m)
        for x in 0..<m { for y in 0..<m { for z in 0..<m { hp[x * m + y] += hessian[x * m + z] * p[z * m + y] } } }
        var quadratic = 0.0
        for x in 0..<m { for y in 0..<m { quadratic += hp[x * m + y] * hp[y * m + x] } }
        return (centre + (first + 0.5 * second) / Double(network.width), Self.quadraticForm(gradient, p), 0.5 * quadratic)
    }

    /// `gᵀ P g`, P m×m row-major.
    private static func quadraticForm(_ g: [Double], _ p: [Double]) -> Double {
        let m = g.count
        var total = 0.0
        for x in 0..<m { for y in 0..<m { total += g[x] * p[x * m + y] * g[y] } }
        return total
    }

    /// The kernel at layer l, its entries' `N Cov` P (``kernelCovariance(layer:)``) and, with
    /// `shifts`, their `N` shifts μ (``scaledKernelShift(_:_:layer:)``), carried through
    /// `frame`'s map T: `T(K)`, `J P Jᵀ`, `J μ`, J's column x the entries of T(E_x), E_x the
    /// symmetric unit matrix of entry x. nil where an entry is missing.
    private func kernelMoments(layer l: Int, frame: DifferenceFrame?, shifts: Bool)
        -> (kernel: [Double], covariance: [Double], shift: [Double])? {
        let b = batch, entries = kernelEntries, m = entries.count, kernel = layers[l - 1].covariance
        guard let p = kernelCovariance(layer: l) else { return nil }
        var mu: [Double] = []
        if shifts {
            for (i, j) in entries {
                guard let v = scaledKernelShift(i, j, layer: l) else { return nil }
                mu.append(v)
            }
        }
        guard let frame else { return (kernel, p, mu) }
        var jacobian = [Double](repeating: 0, count: m * m)   // row y, column x
        for (x, (i, j)) in entries.enumerated() {
            var unit = [Double](repeating: 0, count: b * b)
            unit[i * b + j] = 1
            unit[j * b + i] = 1
            let image = frame.map(unit)
            for (y, (u, v)) in entries.enumerated() { jacobian[y * m + x] = image[u * b + v] }
        }
        var jp = [Double](repeating: 0, count: m * m), mapped = [Double](repeating: 0, count: m * m)
        for y in 0..<m { for x in 0..<m { for z in 0..<m { jp[y * m + x] += jacobian[y * m + z] * p[z * m + x] } } }
        for y in 0..<m { for x in 0..<m { for z in 0..<m { mapped[y * m + x] += jp[y * m + z] * jacobian[x * m + z] } } }
        let shift = mu.isEmpty ? [] : (0..<m).map { y in (0..<m).reduce(0.0) { $0 + jacobian[y * m + $1] * mu[$1] } }
        return (frame.map(kernel), mapped, shift)
    }

    /// P: the kernel's `N Cov` at layer l over its entries i ≤ j (``kernelEntries``), row-major,
    /// from ``scaledKernelCovariance(_:_:_:_:layer:)``; nil where an entry is missing.
    private func kernelCovariance(layer l: Int) -> [Double]? {
        let entries = kernelEntries, m = entries.count
        var p = [Double](repeating: 0, count: m * m)
        for (x, e) in entries.enumerated() {
            for (y, g) in entries.enumerated() where y >= x {
                guard let v = scaledKernelCovariance(e.0, e.1, g.0, g.1, layer: l) else { return nil }
                p[x * m + y] = v
                p[y * m + x] = v
            }
        }
        return p
    }

    /// The kernel's entries (i, j), i ≤ j, row by row.
    private var kernelEntries: [(Int, Int)] { (0..<batch).flatMap { i in (i..<batch).map { j in (i, j) } } }

    /// ∇f and (with `hessian`) ∇²f of a function of a B×B kernel at `kernel`, over its entries
    /// K_ij = K_ji (i ≤ j, ``kernelEntries``; ∇² row-major), by central differences with entry x
    /// stepped by `h_x = ε s_x`, s the scale on which f varies: `scale` where the caller knows it
    /// (``DifferenceFrame``), else `√(K_ii K_jj)`. ε = 10⁻⁵ for ∇f and 10⁻⁴ for ∇²f: truncation
    /// ~ε² relative, rounding ~10⁻¹⁶ k/(ε s) for ∇f and 10⁻¹⁶ k/(ε² s) for ∇²f, k the size of
    /// the kernel stepped (each step keeps its digits to 10⁻¹⁶ k): 10⁻¹¹ and 10⁻⁸ where k = s.
    private func kernelDerivatives(about kernel: [Double], scale step: Double?, hessian: Bool,
                                   _ f: ([Double]) -> Double?) -> (gradient: [Double], hessian: [Double])? {
        let b = batch, entries = kernelEntries, m = entries.count
        func value(_ steps: [(x: Int, t: Double)]) -> Double? {
            var g = kernel
            for (x, t) in steps {
                let (i, j) = entries[x]
                g[i * b + j] += t
                if i != j { g[j * b + i] += t }
            }
            return f(g).flatMap { $0.isFinite ? $0 : nil }
        }
        let scale = entries.map { i, j in step ?? (kernel[i * b + i] * kernel[j * b + j]).squareRoot() }
        guard scale.allSatisfy({ $0 > 0 }) else { return nil }
        var gradient: [Double] = []
        for x in 0..<m {
            let h = 1e-5 * scale[x]
            guard let up = value([(x, h)]), let down = value([(x, -h)]) else { return nil }
            gradient.append((up - down) / (2 * h))
        }
        guard hessian else { return (gradient, []) }
        guard let centre = value([]) else { return nil }
        var second = [Double](repeating: 0, count: m * m)
        for x in 0..<m {
            let h = 1e-4 * scale[x]
            guard let up = value([(x, h)]), let down = value([(x, -h)]) else { return nil }
            second[x * m + x] = (up - 2 * centre + down) / (h * h)
            for y in (x + 1)..<m {
                let k = 1e-4 * scale[y]
                guard let pp = value([(x, h), (y, k)]), let pm = value([(x, h), (y, -k)]),
                      let mp = value([(x, -h), (y, k)]), let mm = value([(x, -h), (y, -k)]) else { return nil }
                second[x * m + y] = (pp - pm - mp + mm) / (4 * h * k)
                second[y * m + x] = second[x * m + y]
            }
        }
        return (gradient, second)
    }

    /// Entry ((i, j), (k, l)) at `layer` of one of a pair's 3×3 tables.
    private func pairEntry(_ i: Int, _ j: Int, _ k: Int, _ l: Int, layer: Int,
                           _ tables: KeyPath<KernelFluctuations, [[Double]]>) -> Double? {
        precondition(i <= j && k <= l, "entries are (i ≤ j), (k ≤ l)")
        let members = Array(Set([i, j, k, l])).sorted()
        guard let table = kernelFluctuations, members.count <= 2 else { return nil }
        let b = batch, a = members[0], c = members.last!
        guard let f = table[a * b + c], layer >= 1, layer <= f[keyPath: tables].count else { return nil }
        func index(_ x: Int, _ y: Int) -> Int { a == c ? 0 : (x == a ? (y == a ? 0 : 1) : 2) }
        return f[keyPath: tables][layer - 1][index(i, j) * 3 + index(k, l)]
    }

    /// `N² κ₃` of (K̂_aa, K̂_ab, K̂_bb) for inputs a < b at layer l, 3×3×3 row-major
    /// (``KernelFluctuations/scaledThirdCumulants``); nil where there is none.
    public func scaledThirdCumulants(_ a: Int, _ b: Int, layer: Int) -> [Double]? {
        guard let f = kernelFluctuations?[a * batch + b], layer >= 1, layer <= f.scaledThirdCumulants.count else { return nil }
        return f.scaledThirdCumulants[layer - 1]
    }

    /// `E K̂^l_ij = K^l_ij + μ^l_ij`, the mean of an entry of the empirical kernel to order 1/N
    /// (``KernelFluctuations/scaledMeanShifts`` over the width); nil without a fluctuation
    /// theory or where the pair's shifts stop.
    public func correctedKernel(_ i: Int, _ j: Int, layer: Int) -> Double? {
        guard let shift = scaledKernelShift(i, j, layer: layer), layer <= layers.count else { return nil }
        return layers[layer - 1].covariance[Swift.min(i, j) * batch + Swift.max(i, j)] + shift / Double(network.width)
    }

    /// `N μ^l_ij = N (E K̂^l_ij − K^l_ij)` (``KernelFluctuations/scaledMeanShifts``); nil without a
    /// fluctuation theory or where the pair's shifts stop.
    public func scaledKernelShift(_ i: Int, _ j: Int, layer: Int) -> Double? {
        let (a, c) = (Swift.min(i, j), Swift.max(i, j))
        guard let f = kernelFluctuations?[a * batch + c], layer >= 1, layer <= f.scaledMeanShifts.count else { return nil }
        return f.scaledMeanShifts[layer - 1][a == c ? 0 : 1]
    }

    /// A variance standing for the batch's first input's q^l in the law of φ′ (see
    /// ``MeanFieldMaps/slopeVariance(log2Q:value:)``), layer 1 first; nil where that law has no
    /// limit (a bounded φ at q beyond 2^500).
    public private(set) lazy var slopeVariances: [Double?] = layers.map {
        maps.slopeVariance(log2Q: $0.log2Q[0], value: $0.q[0])
    }

    /// `χ^l = (σ_w²/s) E φ′(√q^l z)²` at the batch's first input, layer 1 first: the
    /// per-layer mean squared singular value of the Jacobian (Poole et al. 2016's χ1 at q^l);
    /// nil where ``slopeVariances`` is.
    public private(set) lazy var layerGains: [Double?] = slopeVariances.map { $0.map(maps.chi1(q:)) }
}

/// Averages of a density over log-spaced bins.
public enum LogBins {
    private static let rule = GaussLegendre(points: 4)

    /// The mean of `density` over each bin `[lo, hi)`: 4-point Gauss–Legendre in ln λ
    /// (`∫ρ dλ = ∫ρ(e^u) e^u du`), divided by the bin width; one call for all the nodes.
    public static func averages(_ bins: [(Double, Double)], density: ([Double]) throws -> [Double]) throws -> [Double] {
        let nodes = rule.nodes, weights = rule.weights
        var xs: [Double] = []
        xs.reserveCapacity(bins.count * 4)
        for (lo, hi) in bins {
            let (a, b) = (log(lo), log(hi))
            for t in nodes { xs.append(exp((a + b) / 2 + (b - a) / 2 * t)) }
        }
        let rho = try density(xs)
        return bins.enumerated().map { i, bin in
            let half = (log(bin.1) - log(bin.0)) / 2
            var integral = 0.0
            for k in 0..<4 { integral += weights[k] * rho[4 * i + k] * xs[4 * i + k] * half }
            return integral / (bin.1 - bin.0)
        }
    }

    /// The bins of `slot`'s histogram.
    public static func bins(of slot: HistogramSlot) -> [(Double, Double)] {
        let h = slot.empty
        return (0..<slot.bins).map { h.edges($0) }
    }
}
