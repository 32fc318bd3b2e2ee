import Ensembles
import MeanField

/// The predictions written beside one grid point's measurements, from the point's actual
/// input batch: every observable's ``Prediction`` (from the mean-field layer states of the
/// architecture's composition) and, for feedforward nets, the fixed-point report of
/// `points.csv` (Poole et al. 2016; Schoenholz et al. 2017).
public struct PointTheory: Sendable {
    /// The mean-field pre-activation covariances `q^l_ab`, layer 1 first (empty where the
    /// architecture has no Gaussian theory).
    public let layers: [LayerTheory]
    /// The feedforward fixed points (nil for other architectures).
    public let fixedPoints: FixedPointReport?
    /// Quantity names and their predictions `values[k][l − 1]`, in the order of the point's
    /// statistics; the theory density of each histogram, in order.
    public let names: [String]
    public let values: [[Double?]]
    public let spectra: [[Double]?]
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
        notes = predictions.flatMap(\.notes)
    }

    /// The prediction for quantity `quantity` at `layer` (1-based), nil where theory is silent.
    public func value(of quantity: String, layer: Int) -> Double? {
        guard let k = names.firstIndex(of: quantity), layer >= 1, layer <= values[k].count else { return nil }
        return values[k][layer - 1]
    }
}
