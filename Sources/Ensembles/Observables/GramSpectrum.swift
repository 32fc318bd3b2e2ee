#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FreeProbability
import LinearAlgebra
import MeanField

/// The random-feature Gram spectrum `gram_spectrum` (Louart, Liao & Couillet 2018): the B
/// eigenvalues of `K = FᵀF/B`, `F = φ(h¹)` the N×B first-layer features of the campaign's
/// inputs, pooled over networks in a log-binned histogram (`gram_eig` in `spectra.csv`;
/// zero eigenvalues, B > N, fall below its range).
///
/// Theory: the deterministic equivalent `Q̄(z) = ((N/B)Φ/(1 + δ) − z)⁻¹`, `δ = Tr ΦQ̄/B`
/// (their Theorem 1), Φ_ab = E φ(u_a) φ(u_b), u ~ N(0, q¹), for independent rows of W
/// (Gaussian weights).
public struct GramSpectrum: Observable {
    public static let entry = ObservableEntry(
        key: "gram_spectrum", placement: .key,
        summary: "true or { bins, range }: eigenvalues of FᵀF/B, F = φ(h¹)",
        parse: { context throws(ConfigError) in
            if let flag = context.section.table["gram_spectrum"]?.bool { return flag ? GramSpectrum() : nil }
            guard let t = try context.section.table("gram_spectrum") else { return nil }
            try t.allow(["bins", "range"])
            let (bins, range) = try t.histogram(bins: 100, range: 1e-4...1e4, of: "eigenvalues")
            return GramSpectrum(bins: bins, range: range)
        })

    public let bins: Int
    public let range: ClosedRange<Double>

    public init(bins: Int = 100, range: ClosedRange<Double> = 1e-4...1e4) {
        self.bins = bins
        self.range = range
    }


    public func quantities(_ shape: NetworkShape) -> [String] { [] }

    public func histograms(_ shape: NetworkShape) -> [HistogramSlot] {
        [HistogramSlot(layer: 1, observable: "gram_eig", range: range, bins: bins)]
    }

    /// F and K in float64, and K's eigen-solver copy.
    public func extraBytes(_ shape: NetworkShape, scalarSize: Int) -> Int {
        (shape.spec.width * shape.batch + 2 * shape.batch * shape.batch) * 8
    }

    public var normalizedOptions: [String: ManifestValue] {
        ["gram_spectrum": .table(["bins": .integer(bins), "range": .list([.real(range.lowerBound), .real(range.upperBound)])])]
    }

    @_specialize(where T == Double)
    @_specialize(where T == Float)
    public mutating func preActivation<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                          into statistics: inout EnsembleStatistics,
                                                                          slot: Slot) throws(LAPACKError) {
        guard network.layer == 1 else { return }
        let n = network.width, batch = network.batch, phi = network.spec.activation
        let features = Matrix<Double>(rows: n, columns: batch,
                                      elements: (0..<(n * batch)).map { phi.value(Double(network.output.elements[$0])) })
        for v in try features.gram(alpha: 1 / Double(batch)).symmetricEigenvalues() {
            statistics.histograms[slot.histograms.lowerBound].add(logValue: log(v))
        }
    }

    public func predict(_ theory: TheoryContext) -> Prediction {
        var prediction = Prediction.none(quantities: 0, depth: theory.network.depth, histograms: 1)
        do {
            guard let law = try Self.law(theory) else {
                if theory.network.weightInit == .orthogonal {
                    prediction.notes.append("no Gram-spectrum theory for orthogonal weights: the deterministic equivalent "
                                            + "needs independent rows of W")
                }
                return prediction
            }
            let slot = HistogramSlot(layer: 1, observable: "gram_eig", range: range, bins: bins)
            do {
                prediction.spectra[0] = try LogBins.averages(LogBins.bins(of: slot), density: law.density(at:))
            } catch {
                prediction.notes.append("layer 1, gram_eig: \(error)")
            }
        } catch {
            prediction.notes.append("no Gram-spectrum theory: \(error)")
        }
        return prediction
    }

    /// The deterministic equivalent for the point, or nil where it does not apply
    /// (orthogonal weights; no first-layer theory).
    public static func law(_ theory: TheoryContext) throws(LAPACKError) -> GramSpectrumLaw? {
        let network = theory.network
        guard network.weightInit == .gaussian, let first = theory.layers.first else { return nil }
        let b = theory.batch, unit = MeanFieldMaps(activation: network.activation, sigmaW: 1, sigmaB: 0)
        var phi = [Double](repeating: 0, count: b * b)
        for a in 0..<b {
            for c in a..<b {
                phi[a * b + c] = unit.covarianceMap(qaa: first.covariance[a * b + a], qbb: first.covariance[c * b + c],
                                                    qab: first.covariance[a * b + c])
                phi[c * b + a] = phi[a * b + c]
            }
        }
        return GramSpectrumLaw(kernelEigenvalues: try GramGeometry.eigenvalues(phi, count: b), width: network.width, batch: b)
    }
}
