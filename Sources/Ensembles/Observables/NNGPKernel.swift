/// The empirical NNGP kernel `h_a·h_b/N`, a ≤ b, as `nngp_a_b`, at the layers
/// `nngp_depths` only (the last by default), beside the analytic kernel `K^l` (Lee et al.
/// 2018, eq. 4; Matthews et al. 2018).
public struct NNGPKernel: GramFunction {
    public static let entry = ObservableEntry(
        key: "nngp", placement: .forward, options: ["nngp_depths"],
        summary: "h_a·h_b/N at nngp_depths (default: the last layer)",
        parse: { context throws(ConfigError) in
            let depths = try context.section.intAxis("nngp_depths", min: 1, what: "a layer ≥ 1", default: [])
            guard context.listed("nngp") else {
                if !depths.isEmpty { throw ConfigError(key: "observe.nngp_depths", "is set but forward does not list \"nngp\"") }
                return nil
            }
            let deepest = context.depths.max() ?? 0
            if let d = depths.first(where: { $0 > deepest }) {
                throw ConfigError(key: "observe.nngp_depths", "\(d) is deeper than every net of the grid (depths \(context.depths))")
            }
            return NNGPKernel(depths: Array(Set(depths)).sorted())
        })

    /// Layers (1-based) where the kernel is measured; empty: the last layer.
    public let depths: [Int]

    public init(depths: [Int] = []) { self.depths = depths }


    public var normalizedOptions: [String: ManifestValue] { ["nngp_depths": .list(depths.map { .integer($0) })] }

    public func quantities(_ shape: NetworkShape) -> [String] { GramEntries.names("nngp", batch: shape.batch) }

    public func measures(layer: Int, depth: Int) -> Bool { depths.isEmpty ? layer == depth : depths.contains(layer) }

    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        GramEntries.upperTriangle(g, count: b, scale: scale)
    }
}
