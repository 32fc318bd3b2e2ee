import Foundation

/// Why an input file could not be used.
public struct InputFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Reads a matrix of inputs, one input per row, from a `.npy` file (NumPy format
/// versions 1–3, little-endian `<f8` or `<f4`, C order, 2-D, or 1-D read as one column) or a `.csv` file (numbers
/// separated by commas, optional header line, every row the same length).
/// Every value must be finite.
public enum InputFile {
    public static func read(path: String) throws(InputFileError) -> [[Double]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputFileError(path: path, reason: "cannot read the file (missing or unreadable)")
        }
        let rows: [[Double]]
        if path.hasSuffix(".npy") {
            rows = try readNPY(data, path: path, signals: false).rows
        } else if path.hasSuffix(".csv") {
            rows = try readCSV(data, path: path)
        } else {
            throw InputFileError(path: path, reason: "unknown format; use a .npy or .csv file")
        }
        try check(rows, path: path)
        return rows
    }

    /// Signals for a convolutional net from a `.npy` array of shape (B, C₀, L) or
    /// (B, C₀, H, W) (C order): B rows of C₀·P values in the engine's layout, channel fastest
    /// (``Convolution``), and the shape `[C₀, L]` or `[C₀, H, W]`.
    public static func readSignals(path: String) throws(InputFileError) -> (rows: [[Double]], shape: [Int]) {
        guard path.hasSuffix(".npy") else {
            throw InputFileError(path: path, reason: "signals need a .npy array of shape (B, C0, L) or (B, C0, H, W)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputFileError(path: path, reason: "cannot read the file (missing or unreadable)")
        }
        let (flat, dims) = try readNPY(data, path: path, signals: true)
        try check(flat, path: path)
        let channels = dims[1], positions = dims.dropFirst(2).reduce(1, *)
        // numpy's C order has the position fastest: element (c, p) of a row at c·P + p.
        let rows = flat.map { row in (0..<(channels * positions)).map { row[($0 % channels) * positions + $0 / channels] } }
        return (rows, Array(dims.dropFirst()))
    }

    private static func check(_ rows: [[Double]], path: String) throws(InputFileError) {
        guard !rows.isEmpty, !rows[0].isEmpty else { throw InputFileError(path: path, reason: "no inputs in the file") }
        for (r, row) in rows.enumerated() {
            if let c = row.firstIndex(where: { !$0.isFinite }) {
                throw InputFileError(path: path, reason: "non-finite value \(row[c]) at row \(r), column \(c)")
            }
        }
    }

    /// The array's rows (its first axis; the others flattened in C order) and its shape: 1-D
    /// or 2-D for vectors, 3-D or 4-D for `signals`.
    static func readNPY(_ data: Data, path: String, signals: Bool) throws(InputFileError) -> (rows: [[Double]], shape: [Int]) {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw InputFileError(path: path, reason: "not a NumPy .npy file (bad magic string)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw InputFileError(path: path, reason: "truncated .npy header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw InputFileError(path: path, reason: "unsupported .npy format version \(major)")
        }
        guard bytes.count >= headerStart + headerLength else {
            throw InputFileError(path: path, reason: "truncated .npy header")
        }
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr"), let order = field("fortran_order"), let shape = field("shape") else {
            throw InputFileError(path: path, reason: "the .npy header lacks descr, fortran_order or shape")
        }
        let width: Int
        if descr.hasPrefix("'<f8'") { width = 8 } else if descr.hasPrefix("'<f4'") { width = 4 } else {
            throw InputFileError(path: path, reason: "dtype \(descr.prefix(while: { $0 != "," })) is not supported; use float64 ('<f8') or float32 ('<f4')")
        }
        guard order.hasPrefix("False") else {
            throw InputFileError(path: path, reason: "Fortran-ordered arrays are not supported; save with C order")
        }
        guard let open = shape.firstIndex(of: "("), let close = shape.firstIndex(of: ")") else {
            throw InputFileError(path: path, reason: "cannot parse the shape in the .npy header")
        }
        let dims = shape[shape.index(after: open)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        let shown = "(\(dims.map(String.init).joined(separator: ", ")))"
        if signals {
            guard dims.count == 3 || dims.count == 4, dims.allSatisfy({ $0 >= 1 }) else {
                throw InputFileError(path: path, reason: "a conv net's inputs are signals: expected shape (B, C0, L) or "
                                     + "(B, C0, H, W), got \(shown)")
            }
        } else {
            guard dims.count == 2 || dims.count == 1 else {
                throw InputFileError(path: path, reason: "expected a 2-D array (inputs × features) or a 1-D one (a column), got shape \(shown)")
            }
        }
        let n = dims[0], (d, overflowed) = dims.dropFirst().reduce((1, false)) { acc, x in
            let (v, o) = acc.0.multipliedReportingOverflow(by: x)
            return (v, acc.1 || o)
        }
        guard !overflowed else { throw InputFileError(path: path, reason: "shape \(shown) is too large") }
        let start = headerStart + headerLength
        let (elements, overflow) = n.multipliedReportingOverflow(by: d)
        guard n >= 0, d >= 0, !overflow, elements <= (bytes.count - start) / width else {
            throw InputFileError(path: path, reason: "shape (\(n), \(d)) does not fit the \(bytes.count - start) bytes of data")
        }
        guard bytes.count - start == n * d * width else {
            throw InputFileError(path: path, reason: "data holds \(bytes.count - start) bytes, shape (\(n), \(d)) needs \(n * d * width)")
        }
        var rows = [[Double]](repeating: [Double](repeating: 0, count: d), count: n)
        bytes.withUnsafeBytes { raw in
            for r in 0..<n {
                for c in 0..<d {
                    let offset = start + (r * d + c) * width
                    rows[r][c] = width == 8
                        ? Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                        : Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
                }
            }
        }
        return (rows, dims.count == 1 ? [n, 1] : dims)
    }

    /// A header is the first line only when every one of its fields is a non-empty name that does not read as a
    /// number and it has as many fields as the rows below it; any other non-number is refused with its line.
    static func readCSV(_ data: Data, path: String) throws(InputFileError) -> [[Double]] {
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated().map { (number: $0.offset + 1, text: $0.element.trimmingCharacters(in: .whitespacesAndNewlines)) }
            .filter { !$0.text.isEmpty && !$0.text.hasPrefix("#") }
        var rows: [[Double]] = []
        var headerFields: Int?
        for (i, line) in lines.enumerated() {
            let fields = line.text.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            let values = fields.map { Double($0) }
            if let bad = values.firstIndex(where: { $0 == nil }) {
                if i == 0, values.allSatisfy({ $0 == nil }), fields.allSatisfy({ !$0.isEmpty }) {
                    headerFields = fields.count
                    continue
                }
                let shown = fields[bad].isEmpty ? "an empty field" : "'\(fields[bad])'"
                throw InputFileError(path: path, reason: "line \(line.number): \(shown) is not a number"
                                     + (i == 0 ? " (a header line must name every column and hold no number)" : ""))
            }
            let width = rows.first?.count ?? headerFields ?? values.count
            guard values.count == width else {
                let what = rows.isEmpty ? "the header has" : "the first row has"
                throw InputFileError(path: path, reason: "line \(line.number) has \(values.count) values, \(what) \(width)")
            }
            rows.append(values.map { $0! })
        }
        return rows
    }
}
