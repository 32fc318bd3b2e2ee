/// How an observable is asked for in a campaign's `[observe]` table, and how its options
/// are read: one entry per observable in ``ObservableRegistry``.
public struct ObservableEntry: Sendable {
    /// An entry of the `forward = [...]` list, or a key of its own (`jacobian = { … }`).
    public enum Placement: Sendable { case forward, key }

    public let key: String
    public let placement: Placement
    /// Other `[observe]` keys it reads (`nngp_depths` for `nngp`).
    public let options: [String]
    /// One line for `--help`.
    public let summary: String
    /// The observable the campaign asks for, or nil when it does not.
    public let parse: @Sendable (ObserveContext) throws(ConfigError) -> (any Observable)?

    public init(key: String, placement: Placement, options: [String] = [], summary: String,
                parse: @escaping @Sendable (ObserveContext) throws(ConfigError) -> (any Observable)?) {
        self.key = key
        self.placement = placement
        self.options = options
        self.summary = summary
        self.parse = parse
    }
}

/// What an observable's parser may read: the `[observe]` table, the `forward` list, and the
/// parts of the campaign its options are checked against.
public struct ObserveContext: Sendable {
    public let section: Section
    /// The `forward` names, as listed (each a forward entry's key).
    public let forward: [String]
    /// The grid's depths and widths.
    public let depths: [Int]
    public let widths: [Int]
    public let inputs: InputSpec
    public let architectures: [Architecture]

    public func listed(_ key: String) -> Bool { forward.contains(key) }
}

/// Every observable the engine can measure, in the order of their columns in the tables.
/// The campaign parser, the manifest and its resume hash, `--help`, `plan` and the memory
/// estimate all read this list; adding an observable is one line here and its own file.
public enum ObservableRegistry {
    public static let entries: [ObservableEntry] = [
        MeanSquaredLength.entry, MeanCorrelation.entry, GramEntries.entry, OrthogonalityGap.entry,
        EffectiveRank.entry, TrajectoryLength.entry, Sensitivity.entry, NNGPKernel.entry,
        GramMinEigenvalue.entry, StableRank.entry, SpatialCorrelation.entry,
        JacobianSpectrum.entry, LyapunovExponents.entry, EmpiricalNTK.entry, GramSpectrum.entry,
    ]

    public static var forward: [ObservableEntry] { entries.filter { $0.placement == .forward } }

    /// The keys `[observe]` accepts, in the order an error message lists them.
    public static var observeKeys: [String] {
        ["forward", "per_network", "fluctuations", "fluctuations_order"] + entries.flatMap { $0.placement == .key ? [$0.key] + $0.options : $0.options }
    }

    /// Reads `[observe]`: the `forward` list (default q and c), then each entry's options.
    public static func parse(_ observe: Section, depths: [Int], widths: [Int], inputs: InputSpec, architectures: [Architecture])
        throws(ConfigError) -> Observables {
        try observe.allow(observeKeys)
        let names = try observe.stringList("forward", default: ["q", "c"])
        var forward: [String] = []
        let allowed = Self.forward.map(\.key)
        for n in names {
            guard allowed.contains(n) else {
                throw ConfigError(key: "observe.forward", "'\(n)' is not an observable; allowed: \(allowed.joined(separator: ", "))")
            }
            if !forward.contains(n) { forward.append(n) }
        }
        guard !forward.isEmpty else { throw ConfigError(key: "observe.forward", "is empty; name at least one of q, c, gram") }
        if let conv = architectures.first(where: \.isConvolutional) {
            // The position averages of the Gram, the spatial structure, and Labatie's moments
            // over positions × inputs.
            let ready = ["q", "c", "gram", "spatial", "eff_rank", "sensitivity"]
            if let n = forward.first(where: { !ready.contains($0) }) {
                throw ConfigError(key: "observe.forward", "'\(n)' is not available for \(conv.name) nets yet; allowed there: "
                                  + ready.joined(separator: ", "))
            }
            // The theory over positions tracks pairs of (input, position) vectors, a 2-D Gaussian
            // integral each per layer (~100 µs), and eff_rank and sensitivity keep every layer's
            // all-pairs covariance: refuse what would take days or not fit.
            let positions = inputs.spatialShape.reduce(1, *), b = inputs.count, depth = depths.max() ?? 1
            for n in forward where ["spatial", "eff_rank", "sensitivity"].contains(n) {
                let pairs = n == "spatial" ? b * positions * (positions + 1) / 2 : b * positions * (b * positions + 1) / 2
                let integrals = Double(pairs) * Double(depth)
                let bytes = n == "spatial" ? 0 : 16 * Double(b * positions) * Double(b * positions) * Double(depth)
                if integrals > 1e9 || bytes > 8e9 {
                    throw ConfigError(key: "observe.forward", "'\(n)' on \(conv.name) nets tracks \(pairs) pairs of (input, position) "
                                      + "vectors, \(pairs) Gaussian integrals a layer: \(Int(integrals)) over \(depth) layers (about "
                                      + "\(Int(integrals * 1e-4 / 3600)) h)\(bytes > 0 ? " and \(Int(bytes / 1e9)) GB of theory" : ""); "
                                      + "use fewer positions, inputs or layers")
                }
            }
            if let key = entries.first(where: { $0.placement == .key && $0.key != "jacobian" && observe.table[$0.key] != nil })?.key {
                throw ConfigError(key: "observe.\(key)", "is not available for \(conv.name) nets yet")
            }
        }
        let context = ObserveContext(section: observe, forward: forward, depths: depths, widths: widths, inputs: inputs,
                                     architectures: architectures)
        var members: [any Observable] = []
        for entry in entries {
            if let o = try entry.parse(context) { members.append(o) }
        }
        let fluctuations = try observe.bool("fluctuations", default: false)
        let order = try observe.int("fluctuations_order", default: 1)
        guard order == 1 || order == 2 else {
            throw ConfigError(key: "observe.fluctuations_order", "must be 1 (leading order in 1/N) or 2 (with the variance's "
                              + "next order), got \(order)")
        }
        if order == 2 && !fluctuations {
            throw ConfigError(key: "observe.fluctuations_order", "needs fluctuations = true (it refines theory_sd)")
        }
        return Observables(members, forward: forward, perNetwork: try observe.bool("per_network", default: false),
                           fluctuations: fluctuations, fluctuationsNextOrder: order == 2)
    }
}
