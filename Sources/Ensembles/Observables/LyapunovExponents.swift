#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField

/// The top-k Lyapunov exponents of the Jacobian product at the batch's first input by
/// repeated QR (Benettin et al. 1980), `λ_k = (1/L) Σ_l ln|R^l_kk|` (`lyap_1 … lyap_k` and
/// `lyap_gap` = λ1 − λ2, at the last layer). The frame rides on k tangent columns, starting
/// Haar-random from stream `(…, sample, layer 0, orthogonal)` (a fixed frame such as
/// e_1…e_k would start inside the span of the inputs and bias the top exponents of a short
/// product), re-orthonormalised every layer.
///
/// Theory: Newman's (1986) `λ_k = ½(ln 2 + ψ((d−k+1)/2)) + ln σ − ½ ln d` for a product of
/// square Gaussian matrices (linear φ, N₀ = N), `ln σ_w − ½ ln s` for orthogonal ones; for a
/// nonlinear net λ_1 = (1/L) Σ_l ½ ln χ^l (Poole et al. 2016's χ1 at each layer's q).
public struct LyapunovExponents: Observable {
    public static let entry = ObservableEntry(
        key: "lyapunov", placement: .key, summary: "{ k = 16 } or { k = \"all\" }: top-k exponents of J",
        parse: { context throws(ConfigError) in
            guard let t = try context.section.table("lyapunov") else { return nil }
            try t.allow(["k"])
            try JacobianSpectrum.refuseWithoutSingleInputJacobian("observe.lyapunov", context)
            guard let v = t.table["k"] else { return LyapunovExponents(k: 16) }
            if v.string == "all" { return LyapunovExponents(k: nil) }
            guard let k = v.int, k >= 1 else {
                throw ConfigError(key: t.key("k"), "expected an integer ≥ 1 or \"all\", got \(v.described)")
            }
            if let narrowest = context.widths.min(), k > narrowest {
                throw ConfigError(key: t.key("k"), "\(k) exceeds the narrowest width \(narrowest): a product of N×N Jacobians "
                                  + "has at most N exponents; use k ≤ \(narrowest) or k = \"all\"")
            }
            return LyapunovExponents(k: k)
        })

    /// How many exponents; nil means all (the input dimension).
    public let k: Int?
    private var sums: [Double] = []

    public init(k: Int?) { self.k = k }


    public func count(_ shape: NetworkShape) -> Int { min(k ?? shape.inputDimension, shape.inputDimension, shape.spec.width) }

    public func quantities(_ shape: NetworkShape) -> [String] {
        let k = count(shape)
        return (1...max(k, 1)).map { "lyap_\($0)" } + (k >= 2 ? ["lyap_gap"] : [])
    }

    public func tangents(_ shape: NetworkShape) -> TangentColumns? {
        TangentColumns(count: count(shape), derivative: .firstInput)
    }

    public var normalizedOptions: [String: ManifestValue] {
        ["lyapunov": .table(["k": k.map { .integer($0) } ?? .string("all")])]
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func beginNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>, slot: Slot)
        throws(LAPACKError) {
        sums = [Double](repeating: 0, count: slot.tangents.count)
        let frame = try Matrix<T>.haarOrthogonal(rows: network.inputDimension, columns: slot.tangents.count,
                                                 stream: network.stream(.orthogonal, layer: 0))
        for (k, c) in slot.tangents.enumerated() {
            for i in 0..<network.inputDimension { network.setSource(i, c, frame[i, k]) }
        }
    }

    /// QR of the frame: the frame becomes Q, `ln|R_kk|` is added up.
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func endLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                     into statistics: inout EnsembleStatistics,
                                                                     slot: Slot) throws(LAPACKError) {
        let (q, r) = try network.sourceBlock(slot.tangents).qr()
        for k in sums.indices { sums[k] += log(abs(Double(r[k, k]))) }
        network.setSourceBlock(slot.tangents, q)
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func endNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                       into statistics: inout EnsembleStatistics,
                                                                       slot: Slot) throws(LAPACKError) {
        var values = sums.map { $0 / Double(network.spec.depth) }
        if values.count >= 2 { values.append(values[0] - values[1]) }
        statistics.add(layer: network.spec.depth, values, at: slot)
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        let network = theory.network
        let shape = theory.shape
        let k = count(shape), names = quantities(shape).count
        guard case .feedforward = network.architecture else { return .none(quantities: names, depth: network.depth) }
        var exponents = [Double?](repeating: nil, count: names)
        let s = network.varianceDivisor
        if network.activation == .linear, theory.inputs.dimension == network.width {
            for i in 1...k {
                exponents[i - 1] = network.weightInit == .gaussian
                    ? LyapunovTheory.gaussianProduct(dimension: network.width, k: i, sigma: network.sigmaW,
                                                     varianceDenominator: Double(network.width) * s)
                    : log(network.sigmaW) - 0.5 * log(s)
            }
            if k >= 2 { exponents[k] = exponents[0]! - exponents[1]! }
        } else {
            let gains = theory.layerGains.compactMap { $0 }
            if gains.count == theory.layerGains.count {
                exponents[0] = gains.reduce(0) { $0 + 0.5 * log($1) } / Double(network.depth)
            }
        }
        return Prediction(quantities: names, theory: theory) { q, _ in exponents[q] }
    }
}
