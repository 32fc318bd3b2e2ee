#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import MeanField

/// Labatie's (2019, §4) normalised sensitivity `χ^l = (SNR^0/SNR^l)^{1/2}`,
/// `SNR = Tr C[y] / (mean_b |dy_b|²/N)`: C the covariance across the batch of the
/// pre-activations y = h^l (the inputs at l = 0), dy a fresh N(0, I) input noise per input
/// and network, stream `(…, sample, layer 0, noise)`, propagated to first order (a JVP: one
/// tangent column per input, φ′ at its own input and, in BN nets, through the
/// normalisation with its statistics frozen). ∞ for a collapsed batch; B ≥ 2. The noise
/// columns are renormalised every layer, their log-scale carried.
///
/// Theory (infinite width): per input b the noise per entry of h^l is
/// `m^l_b = (σ_w²/s) v^{l−1}_b`, `v^0 = 1`, `v^l_b = (χ(q^l_bb) + a²) v^{l−1}_b` with
/// `χ(q) = (σ_w²/s) E φ′(√q z)²` (the noise's cross term with the skip averages out over W),
/// and `χ^l = (Tr C^0 · mean_b m^l_b / Tr C^l)^{1/2}`, Tr C the centred trace of the inputs'
/// Gram and of q^l.
public struct Sensitivity: Observable {
    public static let entry = ObservableEntry(
        key: "sensitivity", placement: .forward,
        summary: "(SNR⁰/SNRˡ)^½ of an input noise (Labatie 2019)",
        parse: { context throws(ConfigError) in
            guard context.listed("sensitivity") else { return nil }
            if let a = context.architectures.first(where: { $0.tangentsUnavailable != nil }) {
                throw ConfigError(key: "observe.forward", "'sensitivity' is not available for \(a.name): \(a.tangentsUnavailable!)")
            }
            var identical = false
            switch context.inputs {
            case .gram(let count, _, let c0): identical = count > 1 && c0 == 1
            case .file(_, let rows, _), .signalFile(_, let rows, _, _): identical = rows.count > 1 && rows.allSatisfy { $0 == rows[0] }
            case .gaussian, .circle, .gaussianSignal: identical = false
            }
            if identical {
                throw ConfigError(key: "observe.forward", "'sensitivity' needs inputs that differ: its signal is their "
                                  + "spread Tr C[x⁰], which is 0 for identical inputs")
            }
            return Sensitivity()
        })

    /// The RMS of the noise columns as last updated (divided out at the next update), the
    /// log of the scale divided out so far, and ln SNR^0 of this network's noise.
    private var noiseRMS = 1.0
    private var logScale = 0.0
    private var logInputSNR = 0.0

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { shape.batch > 1 ? ["sensitivity"] : [] }

    public func tangents(_ shape: NetworkShape) -> TangentColumns? {
        shape.batch > 1 ? TangentColumns(count: shape.batch, derivative: .ownInput) : nil
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func beginNetwork<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>, slot: Slot)
        throws(LAPACKError) {
        noiseRMS = 1
        logScale = 0
        let columns = slot.tangents, dimension = network.inputDimension
        guard !columns.isEmpty else { return }
        var dx = [T](repeating: 0, count: dimension * columns.count)
        dx.withUnsafeMutableBufferPointer { T.fillStandardNormal(network.stream(.noise, layer: 0), $0, from: 0, scale: 1) }
        var sum = 0.0
        for (k, c) in columns.enumerated() {
            for i in 0..<dimension {
                let v = dx[k * dimension + i]
                network.setSource(i, c, v)
                sum += Double(v) * Double(v)
            }
        }
        let signal = GramGeometry.centredTrace(network.inputGram, count: network.batch)
        logInputSNR = log(signal) - log(sum / Double(columns.count * dimension))
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func preActivation<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                          into statistics: inout EnsembleStatistics,
                                                                          slot: Slot) throws(LAPACKError) {
        guard !slot.quantities.isEmpty else { return }
        let columns = slot.tangents, n = network.width, batch = network.batch
        // ln χ = ½ (ln SNR^0 − ln SNR^l), SNR^l = Tr C[h]/mean_b |dh_b|²/N, both scales in logs.
        var noise = 0.0, spread = 0.0
        network.output.elements.withUnsafeBufferPointer { po in
            for i in (columns.lowerBound * n)..<(columns.upperBound * n) { noise += Double(po[i]) * Double(po[i]) }
            // Tr C[h] by centring h itself (the Gram form cancels as the batch collapses);
            // a collapsed batch (Tr C = 0) has χ = ∞.
            for i in 0..<n {
                var mean = 0.0
                for b in 0..<batch { mean += Double(po[b * n + i]) }
                mean /= Double(batch)
                for b in 0..<batch { let d = Double(po[b * n + i]) - mean; spread += d * d }
            }
        }
        let logNoise = log(noise / Double(columns.count * n)) + 2 * logScale
        let logSignal = log(spread / Double(batch * n)) + 2 * network.forwardLogScale
        statistics.add(layer: network.layer, [spread > 0 ? exp(0.5 * (logInputSNR - logSignal + logNoise)) : .infinity],
                       at: slot)
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func endLayer<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                     into statistics: inout EnsembleStatistics,
                                                                     slot: Slot) throws(LAPACKError) {
        let columns = slot.tangents
        // The columns now carry e^{−logScale}, this division included.
        let rms = (network.rescaleSource(columns, dividingBy: noiseRMS) / Double(columns.count * network.width)).squareRoot()
        logScale += log(noiseRMS)
        noiseRMS = rms > 0 && rms.isFinite ? rms : 1
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        let b = theory.batch, network = theory.network
        guard b > 1 else { return Prediction(values: []) }
        guard !theory.layers.isEmpty else { return .none(quantities: 1, depth: network.depth) }
        let a = network.architecture.residualScale, sigma2 = network.sigmaW * network.sigmaW / network.varianceDivisor
        let signal0 = GramGeometry.centredTrace(theory.inputs.gram.elements, count: b)
        var v = [Double](repeating: 1, count: b)
        var chi: [Double] = []
        for t in theory.layers {
            let m = v.map { sigma2 * $0 }
            chi.append((signal0 * m.reduce(0, +) / Double(m.count) / GramGeometry.centredTrace(t.covariance, count: b)).squareRoot())
            v = zip(v, t.q).map { $0 * (theory.maps.chi1(q: $1) + a * a) }
        }
        return Prediction(quantities: 1, theory: theory) { _, l in chi[l - 1] }
    }
}
