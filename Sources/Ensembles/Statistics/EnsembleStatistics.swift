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
    /// With `[observe] per_network`: every network's own values, network by network in the
    /// order they were added and merged (the samples' order), each network's block quantity
    /// by quantity and layer by layer (`names.count × depth`, NaN where not measured); nil
    /// otherwise.
    public internal(set) var perNetwork: [Double]?
    /// The block of the network being sampled.
    private var current: [Double] = []

    public init(names: [String], depth: Int, histograms: [SpectrumHistogram] = [], perNetwork: Bool = false) {
        self.names = names
        self.depth = depth
        self.histograms = histograms
        moments = Array(repeating: Array(repeating: RunningMoments(), count: depth), count: names.count)
        self.perNetwork = perNetwork ? [] : nil
        current = perNetwork ? [Double](repeating: .nan, count: names.count * depth) : []
    }

    /// Adds one network's values of an observable's quantities at `layer` (1-based):
    /// `values[k]` is the k-th quantity of `slot` (a non-finite value is counted apart).
    public mutating func add(layer: Int, _ values: [Double], at slot: Slot) {
        precondition(values.count <= slot.quantities.count, "more values than the observable's quantities")
        for (k, v) in values.enumerated() { moments[slot.quantities.lowerBound + k][layer - 1].add(v) }
        if perNetwork != nil {
            for (k, v) in values.enumerated() { current[(slot.quantities.lowerBound + k) * depth + layer - 1] = v }
        }
    }

    mutating func finishNetwork() {
        networks += 1
        guard perNetwork != nil else { return }
        perNetwork!.append(contentsOf: current)
        for i in current.indices { current[i] = .nan }
    }

    /// Equal when every statistic is, the per-network values bit for bit (NaN marks a value
    /// not measured); the block being filled does not count.
    public static func == (a: Self, b: Self) -> Bool {
        a.names == b.names && a.depth == b.depth && a.moments == b.moments && a.networks == b.networks
            && a.histograms == b.histograms && a.perNetwork?.map(\.bitPattern) == b.perNetwork?.map(\.bitPattern)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(names)
        hasher.combine(depth)
        hasher.combine(moments)
        hasher.combine(networks)
        hasher.combine(histograms)
        hasher.combine(perNetwork?.map(\.bitPattern))
    }

    /// Network `n`'s value of quantity `k` at `layer` (1-based), with per-network values.
    public func value(network n: Int, quantity k: Int, layer: Int) -> Double? {
        guard let values = perNetwork else { return nil }
        return values[(n * names.count + k) * depth + layer - 1]
    }

    /// Merges another part of the same ensemble (Chan et al.); call in a fixed order.
    public mutating func merge(_ other: EnsembleStatistics) {
        precondition(names == other.names && depth == other.depth && histograms.count == other.histograms.count,
                     "merging statistics of different shapes")
        precondition((perNetwork == nil) == (other.perNetwork == nil), "merging statistics with and without per-network values")
        for k in moments.indices { for l in 0..<depth { moments[k][l].merge(other.moments[k][l]) } }
        for i in histograms.indices { histograms[i].merge(other.histograms[i]) }
        networks += other.networks
        if let values = other.perNetwork { perNetwork!.append(contentsOf: values) }
    }
}
