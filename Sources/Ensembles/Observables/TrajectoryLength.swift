/// The length of the closed polygon `h_1 → h_2 → … → h_B → h_1` over √N,
/// `Σ_a √(q_aa + q_bb − 2q_ab)` with b = a + 1 mod B (Raghu et al. 2017, for a great-circle
/// batch: `kind = "circle"`); B ≥ 2.
public struct TrajectoryLength: GramFunction {
    public static let entry = ObservableEntry(
        key: "traj_length", placement: .forward, summary: "the batch polygon's length over √N (Raghu et al. 2017)",
        parse: { $0.listed("traj_length") ? TrajectoryLength() : nil })

    public init() {}


    public func quantities(_ shape: NetworkShape) -> [String] { shape.batch > 1 ? ["traj_length"] : [] }

    public func values(_ g: [Double], count b: Int, scale: Double) -> [Double] {
        [GramGeometry.trajectoryLength(g, count: b) * scale.squareRoot()]
    }
}
