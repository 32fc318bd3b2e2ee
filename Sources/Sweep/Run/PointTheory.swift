import Ensembles
import Foundation
import MeanField

/// The predictions written beside one grid point's measurements, from the point's actual
/// input batch: every observable's ``Prediction`` (from the mean-field layer states of the
/// architecture's composition) and, for feedforward nets, the fixed-point report of
/// `points.csv` (Poole et al. 2016; Schoenholz et al. 2017).
///
/// A point's theory is a task like its sampling: any rank computes it and sends it to the
/// coordinator, which journals it (``encoded()``), so a resume never recomputes it.
public struct PointTheory: Sendable, Codable {
    /// The mean-field pre-activation covariances `q^l_ab`, layer 1 first (empty where the
    /// architecture has no Gaussian theory).
    public let layers: [LayerTheory]
    /// The feedforward fixed points (nil for other architectures).
    public let fixedPoints: FixedPointReport?
    /// Quantity names and their predictions `values[k][l − 1]`, in the order of the point's
    /// statistics; the theory density of each histogram, in order, and of its depth → ∞
    /// law where one is known.
    public let names: [String]
    public let values: [[Double?]]
    public let spectra: [[Double]?]
    public let limitSpectra: [[Double]?]
    /// Why a theory column is empty, for the manifest.
    public let notes: [String]

    public init(network: NetworkSpec, inputs: InputBatch, observables: Observables) {
        let context = TheoryContext(network: network, inputs: inputs)
        let predictions = observables.predict(context)
        layers = context.layers
        if case .feedforward = network.architecture {
            fixedPoints = context.maps.fixedPoints()
        } else {
            fixedPoints = nil
        }
        names = observables.names(NetworkShape(spec: network, batch: inputs.count, inputDimension: inputs.dimension))
        values = predictions.flatMap(\.values)
        spectra = predictions.flatMap(\.spectra)
        limitSpectra = predictions.flatMap(\.limitSpectra)
        let histograms = observables.histograms(NetworkShape(spec: network, batch: inputs.count,
                                                             inputDimension: inputs.dimension)).count
        precondition(spectra.count == histograms && limitSpectra.count == histograms,
                     "an observable's prediction has \(spectra.count) spectra for \(histograms) histograms")
        notes = predictions.flatMap(\.notes)
    }

    /// The prediction for quantity `quantity` at `layer` (1-based), nil where theory is silent.
    public func value(of quantity: String, layer: Int) -> Double? {
        guard let k = names.firstIndex(of: quantity), layer >= 1, layer <= values[k].count else { return nil }
        return values[k][layer - 1]
    }

    /// The journal's and the wire's form: JSON, whose numbers round-trip every finite double
    /// exactly (shortest representation); ±∞ and NaN as strings.
    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = Self.nonConforming
        // A struct of numbers, strings and arrays always encodes.
        return try! [UInt8](encoder.encode(self))
    }

    /// The theory encoded by ``encoded()``; nil when the bytes are not one.
    init?(decoding bytes: [UInt8]) {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf",
                                                                        nan: "nan")
        guard let theory = try? decoder.decode(PointTheory.self, from: Data(bytes)) else { return nil }
        self = theory
    }

    private static let nonConforming = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
}
