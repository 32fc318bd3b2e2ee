/// The observables of a campaign, in registry order (the order of their columns), with
/// everything derived from them in one place: where each one's quantities sit in a point's
/// statistics, its tangent columns, what it asks of the backend, the manifest's `observe`.
public struct Observables: Sendable, Hashable {
    public let members: [any Observable]
    /// The `forward` list as the campaign wrote it (order kept for the manifest).
    public let forward: [String]
    /// `[observe] per_network`: keep every network's own values (`networks.csv`, `quantiles.csv`).
    public let perNetwork: Bool
    /// `[observe] fluctuations`: the finite-width theory columns (`theory_sd`, `theory_1n`).
    public let fluctuations: Bool
    /// `[observe] fluctuations_order = 2`: `theory_sd` with its variance's next order in 1/N
    /// (``KernelFluctuations/scaledSecondOrderCovariances``, Gaussian weights).
    public let fluctuationsNextOrder: Bool

    /// `members` in any order (they are put in registry order); `forward` defaults to the
    /// forward observables among them.
    public init(_ members: [any Observable], forward: [String]? = nil, perNetwork: Bool = false, fluctuations: Bool = false,
                fluctuationsNextOrder: Bool = false) {
        self.perNetwork = perNetwork
        self.fluctuations = fluctuations
        self.fluctuationsNextOrder = fluctuationsNextOrder
        let order = ObservableRegistry.entries.map(\.key)
        self.members = members.sorted { order.firstIndex(of: $0.key)! < order.firstIndex(of: $1.key)! }
        let forwardKeys = Set(ObservableRegistry.forward.map(\.key))
        self.forward = forward ?? self.members.map(\.key).filter { forwardKeys.contains($0) }
    }

    public static func == (a: Self, b: Self) -> Bool { a.forward == b.forward && a.normalized == b.normalized }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(forward)
        hasher.combine(normalized)
    }

    /// The normalised `observe` table of the manifest.
    public var normalized: [String: ManifestValue] {
        var table: [String: ManifestValue] = ["forward": .list(forward.map { .string($0) })]
        if perNetwork { table["per_network"] = .bool(true) }
        if fluctuations { table["fluctuations"] = .bool(true) }
        if fluctuationsNextOrder { table["fluctuations_order"] = .integer(2) }
        for m in members { table.merge(m.normalizedOptions) { a, _ in a } }
        return table
    }

    /// Each member's place in a point's statistics (quantities and histograms, in order) and
    /// its tangent columns: after the B batch columns, first those that take φ′ at the first
    /// input, then those that take it at their own input, each kind in member order.
    public func slots(_ shape: NetworkShape) -> [Slot] {
        let tangents = members.map { $0.tangents(shape) }
        var ranges = [Range<Int>](repeating: shape.batch..<shape.batch, count: members.count)
        var next = shape.batch
        for kind in [TangentColumns.Derivative.firstInput, .ownInput] {
            for (i, t) in tangents.enumerated() where t?.derivative == kind {
                ranges[i] = next..<(next + t!.count)
                next += t!.count
            }
        }
        var q = 0, h = 0
        return members.indices.map { i in
            let nq = members[i].quantities(shape).count, nh = members[i].histograms(shape).count
            defer { q += nq; h += nh }
            return Slot(quantities: q..<(q + nq), histograms: h..<(h + nh), tangents: ranges[i],
                        derivative: tangents[i]?.derivative ?? .firstInput)
        }
    }

    /// Every quantity's name, in column order.
    public func names(_ shape: NetworkShape) -> [String] { members.flatMap { $0.quantities(shape) } }

    /// Every pooled histogram, in order.
    public func histograms(_ shape: NetworkShape) -> [HistogramSlot] { members.flatMap { $0.histograms(shape) } }

    /// An empty accumulator for networks of `shape`.
    public func emptyStatistics(_ shape: NetworkShape) -> EnsembleStatistics {
        EnsembleStatistics(names: names(shape), depth: shape.spec.depth, histograms: histograms(shape).map(\.empty),
                           perNetwork: perNetwork)
    }

    /// Tangent columns beside the batch, in all.
    public func tangentColumns(_ shape: NetworkShape) -> Int {
        members.reduce(0) { $0 + ($1.tangents(shape)?.count ?? 0) }
    }

    /// Why the implicit backend cannot serve this network and these observables, or nil
    /// when it can: an observable that needs W itself; a layer no wider than its columns
    /// (C = B + tangents: the row law is sampled as N×C normals times a C×C factor);
    /// orthogonal weights with N < N₀ (a wide first layer) or N₀ < C.
    public func implicitUnsupported(_ shape: NetworkShape) -> String? {
        if let reason = members.lazy.compactMap(\.needsDenseWeights).first { return reason }
        let spec = shape.spec, columns = shape.batch + tangentColumns(shape)
        if spec.width <= columns {
            return "width \(spec.width) is not wider than the \(columns) columns (inputs and tangents) of a layer"
        }
        if spec.weightInit == .orthogonal, spec.width < shape.inputDimension {
            return "orthogonal weights with width \(spec.width) < input dimension \(shape.inputDimension) (a wide first layer)"
        }
        if spec.weightInit == .orthogonal, shape.inputDimension < columns {
            return "orthogonal weights need the input dimension \(shape.inputDimension) ≥ the \(columns) columns of a layer"
        }
        return nil
    }

    /// Bytes of statistics per point: 32 per quantity and layer, 8 per histogram bin (and its
    /// three tail counts).
    public func statisticsBytes(_ shape: NetworkShape) -> Int {
        names(shape).count * shape.spec.depth * 32 + histograms(shape).reduce(0) { $0 + 8 * ($1.bins + 3) }
    }

    /// Every member's prediction, in order.
    public func predict(_ theory: TheoryContext) -> [Prediction] { members.map { $0.predict(theory) } }
}
