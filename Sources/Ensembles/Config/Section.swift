/// A table of a campaign file with its dotted path, and typed getters that fail with a ``ConfigError``
/// naming the key, the value and what was expected.
public struct Section: Sendable {
    public let table: ConfigTable
    public let path: String

    public init(table: ConfigTable, path: String) {
        self.table = table
        self.path = path
    }

    public func key(_ k: String) -> String { path.isEmpty ? k : "\(path).\(k)" }

    public func allow(_ keys: [String]) throws(ConfigError) {
        for k in table.keys where !keys.contains(k) {
            throw ConfigError(key: key(k), "unknown key; allowed here: \(keys.joined(separator: ", "))")
        }
    }

    public func forbid(_ keys: [String], because reason: String) throws(ConfigError) {
        for k in keys where table.keys.contains(k) {
            throw ConfigError(key: key(k), "not allowed with this input kind: \(reason)")
        }
    }

    public func table(_ k: String) throws(ConfigError) -> Section? {
        guard let v = table[k] else { return nil }
        guard let t = v.table else { throw ConfigError(key: key(k), "expected a table, got \(describe(v))") }
        return Section(table: t, path: key(k))
    }

    public func string(_ k: String, default d: String) throws(ConfigError) -> String {
        guard let v = table[k] else { return d }
        guard let s = v.string else { throw ConfigError(key: key(k), "expected a string, got \(describe(v))") }
        return s
    }

    public func int(_ k: String, default d: Int) throws(ConfigError) -> Int {
        guard let v = table[k] else { return d }
        guard let i = v.int else { throw ConfigError(key: key(k), "expected an integer, got \(describe(v))") }
        return i
    }

    public func real(_ k: String, default d: Double) throws(ConfigError) -> Double {
        guard let v = table[k] else { return d }
        if let x = v.double { return x }
        if let i = v.int { return Double(i) }
        throw ConfigError(key: key(k), "expected a number, got \(describe(v))")
    }

    public func bool(_ k: String, default d: Bool) throws(ConfigError) -> Bool {
        guard let v = table[k] else { return d }
        guard let b = v.bool else { throw ConfigError(key: key(k), "expected true or false, got \(describe(v))") }
        return b
    }

    /// A string or a list of strings.
    public func stringList(_ k: String, default d: [String]) throws(ConfigError) -> [String] {
        guard let v = table[k] else { return d }
        if let s = v.string { return [s] }
        guard let a = v.array else { throw ConfigError(key: key(k), "expected a string or a list of strings, got \(describe(v))") }
        var out: [String] = []
        for e in a {
            guard let s = e.string else { throw ConfigError(key: key(k), "expected a list of strings, found \(describe(e))") }
            out.append(s)
        }
        return out
    }

    /// A number, a list of numbers, or `{ from, to, steps }` (evenly spaced, both ends included).
    public func realAxis(_ k: String, default d: [Double]?) throws(ConfigError) -> [Double] {
        guard let v = table[k] else {
            if let d { return d }
            throw ConfigError(key: key(k), "missing; give a list like [1.0, 2.0] or { from = 1.0, to = 2.0, steps = 5 }")
        }
        let values: [Double]
        if let x = v.double ?? v.int.map(Double.init) {
            values = [x]
        } else if let a = v.array {
            var out: [Double] = []
            for e in a {
                guard let x = e.double ?? e.int.map(Double.init) else {
                    throw ConfigError(key: key(k), "expected a list of numbers, found \(describe(e))")
                }
                out.append(x)
            }
            values = out
        } else if let t = v.table {
            let range = Section(table: t, path: key(k))
            try range.allow(["from", "to", "steps"])
            for required in ["from", "to", "steps"] where t[required] == nil {
                throw ConfigError(key: range.key(required), "missing; a range is { from = a, to = b, steps = n }")
            }
            let from = try range.real("from", default: 0), to = try range.real("to", default: 0)
            let steps = try range.int("steps", default: 0)
            guard (1...100_000).contains(steps) else {
                throw ConfigError(key: range.key("steps"), "\(steps) is out of range; use 1 … 100000 steps")
            }
            guard steps > 1 || from == to else {
                throw ConfigError(key: range.key("steps"), "1 step cannot span from \(from) to \(to); use steps ≥ 2 or from = to")
            }
            values = steps == 1 ? [from] : (0..<steps).map { i in
                i == steps - 1 ? to : from + (to - from) * Double(i) / Double(steps - 1)
            }
        } else {
            throw ConfigError(key: key(k), "expected a number, a list of numbers or { from, to, steps }, got \(describe(v))")
        }
        guard !values.isEmpty else { throw ConfigError(key: key(k), "is an empty list; give at least one value") }
        return values
    }

    /// Like ``realAxis`` but every value must be an integer ≥ `min`.
    public func intAxis(_ k: String, min: Int, what: String, default d: [Int]? = nil) throws(ConfigError) -> [Int] {
        if table[k] == nil, let d { return d }
        var out: [Int] = []
        for x in try realAxis(k, default: nil) {
            guard x == x.rounded(), x >= Double(min), x < 1e9 else {
                // As typed: 0 and 16, not 0.0 and 16.0.
                let shown = x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
                throw ConfigError(key: key(k), "\(shown) is out of range; each value must be an integer, \(what), below 10⁹")
            }
            out.append(Int(x))
        }
        return out
    }

    private func describe(_ v: ConfigValue) -> String { v.described }

    /// A pooled histogram's `bins` (1 … 100000) and log-spaced `range` ([lo, hi], 0 < lo < hi).
    public func histogram(bins defaultBins: Int, range defaultRange: ClosedRange<Double>,
                          of quantity: String) throws(ConfigError) -> (Int, ClosedRange<Double>) {
        let bins = try int("bins", default: defaultBins)
        guard (1...100_000).contains(bins) else {
            throw ConfigError(key: key("bins"), "\(bins) is out of range; use 1 … 100000 bins")
        }
        let range = try realAxis("range", default: [defaultRange.lowerBound, defaultRange.upperBound])
        guard range.count == 2, range[0] > 0, range[1] > range[0], range.allSatisfy(\.isFinite) else {
            throw ConfigError(key: key("range"), "\(range) is not a range of \(quantity); write [lo, hi] with 0 < lo < hi")
        }
        return (bins, range[0]...range[1])
    }
}
