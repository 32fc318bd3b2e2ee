/// One value of a campaign file, independent of the file format: the parser turns its TOML
/// into this tree, and every part of the engine that reads options (the campaign, each
/// observable) reads it through ``Section``.
public struct ConfigValue: Sendable {
    public indirect enum Kind: Sendable {
        case integer(Int)
        case real(Double)
        case string(String)
        case bool(Bool)
        case array([ConfigValue])
        case table(ConfigTable)
        /// A value of a type no option takes (a date, say).
        case other
    }

    public let kind: Kind
    /// The value as the file wrote it, with its type ("integer 5"), for error messages.
    public let described: String

    public init(_ kind: Kind, described: String) {
        self.kind = kind
        self.described = described
    }

    public var int: Int? { if case .integer(let i) = kind { return i }; return nil }
    public var double: Double? { if case .real(let x) = kind { return x }; return nil }
    public var string: String? { if case .string(let s) = kind { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = kind { return b }; return nil }
    public var array: [ConfigValue]? { if case .array(let a) = kind { return a }; return nil }
    public var table: ConfigTable? { if case .table(let t) = kind { return t }; return nil }
}

/// A table of a campaign file: its keys in the order written.
public struct ConfigTable: Sendable {
    public let entries: [(key: String, value: ConfigValue)]

    public init(_ entries: [(key: String, value: ConfigValue)] = []) { self.entries = entries }

    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> ConfigValue? { entries.first { $0.key == key }?.value }
}
