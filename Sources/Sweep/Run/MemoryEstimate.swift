import Ensembles
import Foundation

/// Peak memory of one rank for a campaign, estimated before anything starts, so a sweep
/// that cannot fit is refused instead of being killed hours later.
///
/// Per rank: `threads` samplers at the campaign's largest point
/// (``NetworkSampler/estimatedBytes(_:observables:backend:)``), plus on the coordinator the
/// merged statistics of every point (``Observables/statisticsBytes(_:)``) and every point's
/// input batch; with `[observe] per_network`, every network's values (8 bytes each) and the
/// text of `networks.csv` (``networksBytes``) as it is written — held by the coordinator, counted
/// on every rank (the estimate is per rank and errs on the safe side).
public struct MemoryEstimate: Sendable {
    public let bytesPerRank: Int
    /// How many per-network values the campaign keeps, 0 without `per_network`.
    public let perNetworkValues: Int
    /// The size of `networks.csv` (about 40 bytes a value), 0 without per-network values.
    public var networksBytes: Int { 40 * perNetworkValues }
    /// What the per-network values take on disk: networks.csv's text and the journal's 8 bytes
    /// a value.
    public var perNetworkDiskBytes: Int { 48 * perNetworkValues }
    /// The point that sets the sampler size, described.
    public let largest: String

    public init(campaign: Campaign, threads: Int) {
        let o = campaign.observables
        var sampler = 0, statistics = 0, inputs = 0, values = 0
        var largest = ""
        for point in campaign.points {
            let n = point.network
            let shape = campaign.shape(n), backend = campaign.backend(for: n)
            let bytes = campaign.precision == .float64
                ? NetworkSampler<Double>.estimatedBytes(shape, observables: o, backend: backend)
                : NetworkSampler<Float>.estimatedBytes(shape, observables: o, backend: backend)
            if bytes > sampler {
                sampler = bytes
                largest = "width \(n.width), \(n.weightInit.rawValue) weights, \(backend.rawValue) backend: "
                    + "\(Self.format(bytes)) per sampler × \(threads)"
            }
            statistics += o.statisticsBytes(shape)
            inputs += shape.inputDimension * shape.batch * 8 * 2
            if o.perNetwork { values += campaign.samples * o.names(shape).count * n.depth }
        }
        perNetworkValues = values
        bytesPerRank = threads * sampler + statistics + inputs + 8 * values + 40 * values
        self.largest = largest
    }

    /// The free space of the file system holding `path` (or its nearest existing parent), in
    /// bytes (`statvfs`); nil where unknown.
    public static func freeDisk(at path: String) -> Int? {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        while !FileManager.default.fileExists(atPath: url.path), url.path != "/" { url.deleteLastPathComponent() }
        guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: url.path),
              let free = attributes[.systemFreeSize] as? NSNumber else { return nil }
        return free.intValue
    }

    /// `MemAvailable` (Linux `/proc/meminfo`) divided by the ranks on this node; nil where unknown.
    public static func defaultLimit(ranksOnNode: Int) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kib * 1024 / max(ranksOnNode, 1)
    }

    /// Parses `512M`, `8G`, `1.5T`, or a plain number of bytes.
    public static func parse(_ text: String) -> Int? {
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var s = text.uppercased()
        if s.hasSuffix("IB") { s.removeLast(2) } else if s.hasSuffix("B") { s.removeLast() }
        var factor = 1.0
        if let u = s.last, let f = units[u] { factor = f; s.removeLast() }
        // Beyond 2⁶² bytes (4 EiB) a limit is not a size any machine has: refused, not wrapped.
        guard let v = Double(s), v > 0, v.isFinite, v * factor >= 1, v * factor <= 0x1p62 else { return nil }
        return Int(v * factor)
    }

    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        for (unit, size) in [("TiB", 1099511627776.0), ("GiB", 1073741824.0), ("MiB", 1048576.0), ("KiB", 1024.0)]
        where b >= size {
            return String(format: "%.1f %@", b / size, unit)
        }
        return "\(bytes) B"
    }
}
