/// Per-layer running moments of every measured quantity of one grid point (and its pooled
/// Jacobian spectra), merged exactly across samples, tasks and ranks.
///
/// Quantities are named columns (`q`, `c`, `gram_0_1`, …) in a fixed order (``Observables``)
/// so that two statistics of the same campaign always line up.
public struct EnsembleStatistics: Sendable, Hashable {
    public let names: [String]
    public let depth: Int
    /// `moments[k][l]`: quantity `names[k]` at layer `l + 1`.
    public internal(set) var moments: [[RunningMoments]]
    /// Networks accumulated.
    public internal(set) var networks: Int = 0
    /// Pooled spectra, each observable's in its ``Slot``.
    public internal(set) var histograms: [SpectrumHistogram]

    public init(names: [String], depth: Int, histograms: [SpectrumHistogram] = []) {
        self.names = names
        self.depth = depth
        self.histograms = histograms
        moments = Array(repeating: Array(repeating: RunningMoments(), count: depth), count: names.count)
    }

    /// Adds one network's values of an observable's quantities at `layer` (1-based):
    /// `values[k]` is the k-th quantity of `slot` (a non-finite value is counted apart).
    public mutating func add(layer: Int, _ values: [Double], at slot: Slot) {
        precondition(values.count <= slot.quantities.count, "more values than the observable's quantities")
        for (k, v) in values.enumerated() { moments[slot.quantities.lowerBound + k][layer - 1].add(v) }
    }

    mutating func finishNetwork() { networks += 1 }

    /// Merges another part of the same ensemble (Chan et al.); call in a fixed order.
    public mutating func merge(_ other: EnsembleStatistics) {
        precondition(names == other.names && depth == other.depth && histograms.count == other.histograms.count,
                     "merging statistics of different shapes")
        for k in moments.indices { for l in 0..<depth { moments[k][l].merge(other.moments[k][l]) } }
        for i in histograms.indices { histograms[i].merge(other.histograms[i]) }
        networks += other.networks
    }
}
