/// `q^l = (1/B) Σ_a |h^l_a|²/N`: the mean squared length of the pre-activations over the
/// batch (Poole et al. 2016, eq. 2); theory: the length map iterated from the inputs.
public struct MeanSquaredLength: GramFunction {
    public static let entry = ObservableEntry(
        key: "q", placement: .forward, summary: "(1/B) Σ_a |h_a|²/N (Poole et al. 2016)",
        parse: { $0.listed("q") ? MeanSquaredLength() : nil })

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { ["q"] }

    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        var s = 0.0
        for a in 0..<b { s += g[a * b + a] }
        return [s / Double(b) * scale]
    }
}
