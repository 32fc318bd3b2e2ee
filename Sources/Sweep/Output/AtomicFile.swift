import Foundation

/// Why an output could not be written.
public struct OutputError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Writes a file by writing a temporary sibling and renaming it over the target, so a
/// killed run never leaves a half-written table (rename is atomic within a file system).
public enum AtomicFile {
    public static func write(_ text: String, to path: String) throws(OutputError) {
        try write(Data(text.utf8), to: path)
    }

    public static func write(_ data: Data, to path: String) throws(OutputError) {
        let temporary = path + ".tmp"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw OutputError(path: path, reason: "cannot write it (\(SystemMessage.describe(error)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = SystemMessage.text(errno)
            try? FileManager.default.removeItem(atPath: temporary)
            throw OutputError(path: path, reason: "cannot move \(temporary) into place (\(reason))")
        }
    }
}

/// CSV cells: numbers in Swift's shortest round-trip form (so tables are byte-identical
/// whenever the values are bit-identical), undefined values as empty cells.
enum CSV {
    static func number(_ x: Double?) -> String {
        guard let x else { return "" }
        return x.isFinite ? "\(x)" : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf"))
    }

    static func text(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func row(_ cells: [String]) -> String { cells.joined(separator: ",") + "\n" }
}
