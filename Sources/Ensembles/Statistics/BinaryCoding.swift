/// Little-endian binary writing for partial results and their journal records.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public mutating func write<I: FixedWidthInteger>(_ value: I) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Double) { write(value.bitPattern) }

    public mutating func write(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
}

/// Malformed or truncated binary data.
public struct BinaryDecodingError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public var description: String { reason }
    public init(reason: String) { self.reason = reason }
}

/// Reads what ``BinaryWriter`` wrote, refusing to read past the end.
public struct BinaryReader {
    let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func read<I: FixedWidthInteger>(_: I.Type = I.self) throws(BinaryDecodingError) -> I {
        let n = MemoryLayout<I>.size
        guard remaining >= n else { throw BinaryDecodingError(reason: "truncated: need \(n) bytes at offset \(offset)") }
        var value: I = 0
        for i in 0..<n { value |= I(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        offset += n
        return value
    }

    public mutating func read(_: Double.Type = Double.self) throws(BinaryDecodingError) -> Double {
        Double(bitPattern: try read(UInt64.self))
    }

    public mutating func readBytes(_ n: Int) throws(BinaryDecodingError) -> [UInt8] {
        guard n >= 0, remaining >= n else { throw BinaryDecodingError(reason: "truncated: need \(n) bytes at offset \(offset)") }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }
}

extension EnsembleStatistics {
    /// The partial as bytes: networks, then for every quantity and layer
    /// (count, mean, √(M2/n), non-finite count) — 32 bytes each — then each histogram's bin
    /// counts, underflow, overflow and below-floor counts; then, with per-network values, every
    /// network's block (``EnsembleStatistics/perNetwork``). Names, depth, bins and whether
    /// per-network values are kept are not sent: both sides derive them from the campaign.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: Self.encodedSize(names: names.count, depth: depth, histograms: histograms))
        w.write(Int64(networks))
        for row in moments {
            for m in row {
                w.write(Int64(m.count))
                w.write(m.mean)
                w.write(m.spread)
                w.write(Int64(m.nonFinite))
            }
        }
        for h in histograms {
            for c in h.counts { w.write(Int64(c)) }
            for c in [h.underflow, h.overflow, h.belowFloor] { w.write(Int64(c)) }
        }
        for v in perNetwork ?? [] { w.write(v) }
        return w.bytes
    }

    static func encodedSize(names: Int, depth: Int, histograms: [SpectrumHistogram]) -> Int {
        8 + names * depth * 32 + histograms.reduce(0) { $0 + 8 * ($1.counts.count + 3) }
    }

    /// Decodes ``encoded()`` into a statistics shaped like `empty` (names, depth,
    /// histogram bins); the bytes must be exactly that shape.
    public init(decoding bytes: [UInt8], shapedLike empty: EnsembleStatistics) throws(BinaryDecodingError) {
        let (names, depth) = (empty.names, empty.depth)
        self.init(names: names, depth: depth, histograms: empty.histograms, perNetwork: empty.perNetwork != nil)
        let base = Self.encodedSize(names: names.count, depth: depth, histograms: empty.histograms)
        guard bytes.count >= 8 else { throw BinaryDecodingError(reason: "partial has \(bytes.count) bytes") }
        var r = BinaryReader(bytes)
        networks = Int(try r.read(Int64.self))
        guard networks >= 0, networks <= bytes.count else { throw BinaryDecodingError(reason: "a count of \(networks) networks") }
        let values = empty.perNetwork == nil ? 0 : networks * names.count * depth
        guard bytes.count == base + 8 * values else {
            throw BinaryDecodingError(reason: "partial has \(bytes.count) bytes, this campaign's shape needs \(base + 8 * max(values, 0))")
        }
        for k in 0..<names.count {
            for l in 0..<depth {
                let count = Int(try r.read(Int64.self)), mean = try r.read(Double.self), spread = try r.read(Double.self)
                let nonFinite = Int(try r.read(Int64.self))
                moments[k][l] = RunningMoments(count: count, mean: mean, spread: spread, nonFinite: nonFinite)
            }
        }
        for i in histograms.indices {
            let h = histograms[i]
            let counts = try (0..<h.counts.count).map { _ throws(BinaryDecodingError) in Int(try r.read(Int64.self)) }
            let under = Int(try r.read(Int64.self)), over = Int(try r.read(Int64.self))
            let floor = Int(try r.read(Int64.self))
            histograms[i] = SpectrumHistogram(range: h.lower...h.upper, counts: counts, underflow: under,
                                              overflow: over, belowFloor: floor)
        }
        if perNetwork != nil {
            perNetwork = try (0..<values).map { _ throws(BinaryDecodingError) in try r.read(Double.self) }
        }
    }
}
