/// When a worker rank that has not answered is taken as stalled (stopped, hung on a broken
/// node, swapped out): its task has run longer than
///
///     limit(task) = max(floor, factor · expected(task)),
///
/// with the expected time from the task times measured so far in this run:
/// - a sampling task of a point with measured tasks: the slowest of them per network, times
///   the task's networks;
/// - a sampling task of a point not yet measured: the largest measured seconds per unit of
///   dense cost `networks · depth · width²` (the GEMMs' count; an upper bound for the implicit
///   backend), times the task's cost;
/// - a theory task: the slowest measured theory task per layer, times the point's depth.
///
/// Nothing measured yet of the kind asked: no limit (a first task may legitimately take
/// hours). Since a task's result does not depend on the rank that runs it, handing a stalled
/// rank's tasks to another changes no number; a false alarm costs only repeated work.
struct StallRule: Sendable {
    /// How many times its expected time a task may take before its rank is stalled.
    static let factor = 10.0
    /// The shortest limit, in seconds.
    let floor: Double
    private let catalog: TaskCatalog
    private var perNetwork: [Int: Double] = [:]
    private var perUnit: Double?
    private var theoryPerLayer: Double?

    init(catalog: TaskCatalog, floor: Double) {
        self.catalog = catalog
        self.floor = floor
    }

    private func unitCost(point: Int) -> Double {
        let network = catalog.points[point].network
        return Double(network.depth) * Double(network.width) * Double(network.width)
    }

    /// Records a finished task's time.
    mutating func record(task: Int, seconds: Double) {
        if let point = catalog.theoryPoint(ofTask: task) {
            let perLayer = seconds / Double(max(1, catalog.points[point].network.depth))
            theoryPerLayer = max(theoryPerLayer ?? 0, perLayer)
            return
        }
        let point = catalog.point(ofTask: task), networks = Double(catalog.samples(ofTask: task).count)
        perNetwork[point] = max(perNetwork[point] ?? 0, seconds / networks)
        perUnit = max(perUnit ?? 0, seconds / (networks * unitCost(point: point)))
    }

    /// The expected seconds of `task`; nil while nothing of its kind has been measured.
    func expected(task: Int) -> Double? {
        if let point = catalog.theoryPoint(ofTask: task) {
            return theoryPerLayer.map { $0 * Double(max(1, catalog.points[point].network.depth)) }
        }
        let point = catalog.point(ofTask: task), networks = Double(catalog.samples(ofTask: task).count)
        if let seconds = perNetwork[point] { return seconds * networks }
        return perUnit.map { $0 * networks * unitCost(point: point) }
    }

    /// The seconds `task` may run before its rank is taken as stalled; nil: no limit yet.
    func limit(task: Int) -> Double? {
        expected(task: task).map { max(floor, Self.factor * $0) }
    }
}
