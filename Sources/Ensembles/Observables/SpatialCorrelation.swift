#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField

/// The spatial structure of a convolutional net's pre-activations. Per input a, its offset
/// covariance `R_a(δ) = (C·P)^{−1} Σ_p h_{a,p}·h_{a,p+δ}` (h_{a,p} the C channels at position
/// p, offsets circular), and, averaged over the B inputs:
///
/// - 1-D signals: the correlation at each offset, `spatial_c_δ = R_a(δ)/R_a(0)`, δ = 1…⌊L/2⌋
///   (offsets δ and −δ have the same correlation);
/// - 2-D signals: the share of the signal's power in each spatial Fourier mode
///   `k = (k_y, k_x)`, `spatial_mode_ky_kx = Σ_δ R_a(δ) cos 2π(k_y δ_y/H + k_x δ_x/W) / (P·R_a(0))`,
///   which is `Σ_c |ĥ_{a,c}(k)|² / (P Σ_c Σ_p h²)` (Wiener–Khinchin), listed once for each pair
///   k, −k (they carry the same power); the shares of all P modes sum to 1.
///
/// Theory: the same function of the mean-field covariance of input a's positions,
/// `Σ^l_{(a,p),(a,r)}` (Xiao et al. 2018, §2), propagated with every pair of one input's
/// positions tracked (``MeanFieldState/Pairs/sameInputOrPosition``). A Gaussian kernel's
/// footprint average mixes the positions, so the modes of a non-stationary covariance decay
/// with the eigenvalues of Xiao et al.'s operator 𝒜;
/// a delta-orthogonal kernel leaves each position on its own.
public struct SpatialCorrelation: Observable {
    public static let entry = ObservableEntry(
        key: "spatial", placement: .forward,
        summary: "conv nets: the correlation by offset (1-D) or power share by Fourier mode (2-D) over positions",
        parse: { context throws(ConfigError) in
            guard context.listed("spatial") else { return nil }
            if let a = context.architectures.first(where: { !$0.isConvolutional }) {
                throw ConfigError(key: "observe.forward", "'spatial' measures a convolutional net's positions; \(a.name) nets have none")
            }
            return SpatialCorrelation()
        })

    public init() {}

    public func quantities(_ shape: NetworkShape) -> [String] {
        let s = shape.spec.spatialShape
        switch s.count {
        case 1: return s[0] < 2 ? [] : (1...(s[0] / 2)).map { "spatial_c_\($0)" }
        case 2: return Convolution.fourierModes(s).map { "spatial_mode_\($0[0])_\($0[1])" }
        default: return []
        }
    }

    /// Each input's C × P copy and P × P Gram, in float64.
    public func extraBytes(_ shape: NetworkShape, scalarSize: Int) -> Int {
        let p = shape.spec.positions
        return 8 * shape.batch * (p * p + shape.spec.units)
    }

    public func extraFlops(_ shape: NetworkShape) -> Double {
        let p = Double(shape.spec.positions)
        return Double(shape.spec.depth * shape.batch) * Double(shape.spec.width) * p * p
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func preActivation<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                          into statistics: inout EnsembleStatistics,
                                                                          slot: Slot) throws(LAPACKError) {
        guard !slot.quantities.isEmpty else { return }
        let shape = network.spec.spatialShape, p = network.spec.positions, c = network.width, units = network.units
        // Input a's C × P block (rows channel fastest) and its P × P Gram.
        let grams: [Matrix<Double>] = (0..<network.batch).map { a in
            let block = network.output.elements[(a * units)..<((a + 1) * units)].map { Double($0) }
            return Matrix(rows: c, columns: p, elements: block).gram()
        }
        statistics.add(layer: network.layer, Self.values(shape: shape, batch: network.batch) { a, i, j in grams[a][i, j] },
                       at: slot)
    }

    /// The quantities from `covariance(a, p, r)`, input a's covariance between positions p
    /// and r up to a factor that may depend on a.
    static func values(shape: [Int], batch: Int, covariance: (_ a: Int, _ p: Int, _ r: Int) -> Double) -> [Double] {
        let p = shape.reduce(1, *)
        // Offsets as position indices: δ = d (1-D) or (d / W, d mod W), R_a(δ) up to a's factor.
        let offsetCovariance: [[Double]] = (0..<batch).map { a in
            (0..<p).map { d in (0..<p).reduce(0.0) { s, q in s + covariance(a, q, Self.shift(q, by: d, shape: shape)) } }
        }
        switch shape.count {
        case 1:
            guard p >= 2 else { return [] }
            return (1...(p / 2)).map { d in offsetCovariance.reduce(0.0) { $0 + $1[d] / $1[0] } / Double(batch) }
        default:
            let (h, w) = (shape[0], shape[1])
            return Convolution.fourierModes(shape).map { k in
                let (ky, kx) = (k[0], k[1])
                return offsetCovariance.reduce(0.0) { total, r in
                    var power = 0.0
                    for d in 0..<p {
                        power += r[d] * cos(2 * Double.pi * (Double(ky * (d / w)) / Double(h) + Double(kx * (d % w)) / Double(w)))
                    }
                    return total + power / (Double(p) * r[0])
                } / Double(batch)
            }
        }
    }

    /// Position `q + δ` (circular), the offset δ given as a position index.
    static func shift(_ q: Int, by d: Int, shape: [Int]) -> Int {
        Convolution.shifted(q, by: shape.count == 1 ? [d] : [d / shape[1], d % shape[1]], shape: shape)
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        let network = theory.network, shape = network.spatialShape, p = network.positions, b = theory.batch
        let count = quantities(theory.shape).count
        guard count > 0 else { return Prediction(values: []) }
        let rows = network.architecture.composition(network).propagate(
            input: theory.inputs.moments(positions: p), depth: network.depth, pairs: .sameInputOrPosition
        ) { _, m -> [Double] in
            // Input a's entries at the power of two of its largest position (ratios are exact).
            let top = (0..<b).map { a in (0..<p).map { m.exponents[a * p + $0] }.max() ?? 0 }
            return Self.values(shape: shape, batch: b) { a, i, j in
                ScaledMoments.scale(m.normalized(a * p + i, a * p + j),
                                    by: m.exponents[a * p + i] + m.exponents[a * p + j] - 2 * top[a])
            }
        }
        return Prediction(quantities: count, theory: theory) { k, l -> Double? in
            guard l <= rows.count, rows[l - 1][k].isFinite else { return nil }
            return rows[l - 1][k]
        }
    }
}
