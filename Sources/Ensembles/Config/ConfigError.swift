/// A campaign file that cannot be run, with one message naming the key, the value and
/// what is allowed. Reported before any work starts; nothing is written.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Dotted key, e.g. `grid.sigma_w` (empty for whole-file problems).
    public let key: String
    public let message: String

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { key.isEmpty ? message : "\(key): \(message)" }
}
