import Ensembles
import Foundation
import Testing

/// Writes a NumPy .npy file by hand (format version `major`), `values` in C order.
private func npy(_ path: String, shape: [Int], descr: String, fortran: Bool = false, major: UInt8 = 1,
                 values: [Double]) throws {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
    let prefix = major == 1 ? 10 : 12
    while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, 0]
    let n = header.utf8.count
    bytes += major == 1 ? [UInt8(n & 0xff), UInt8(n >> 8)] : (0..<4).map { UInt8((n >> (8 * $0)) & 0xff) }
    bytes += Array(header.utf8)
    for v in values {
        if descr == "<f8" { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        else { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { bytes += $0 } }
    }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

@Suite struct InputFileTests {
    let dir: String = {
        let d = NSTemporaryDirectory() + "signalprop-inputs-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    @Test(arguments: [("<f8", UInt8(1)), ("<f4", UInt8(2)), ("<f8", UInt8(3))])
    func readsNPYInCOrder(_ descr: String, _ major: UInt8) throws {
        let path = dir + "/x\(descr.dropFirst())\(major).npy"
        try npy(path, shape: [2, 3], descr: descr, major: major, values: [1, 2, 3, 4.5, -5, 6])
        #expect(try InputFile.read(path: path) == [[1, 2, 3], [4.5, -5, 6]])
    }

    @Test func readsAOneDimensionalArrayAsAColumn() throws {
        let path = dir + "/y.npy"
        try npy(path, shape: [3], descr: "<f8", values: [0.5, -1, 2])
        #expect(try InputFile.read(path: path) == [[0.5], [-1], [2]])
    }

    @Test func readsCSVWithOptionalHeader() throws {
        let path = dir + "/x.csv"
        try "a,b\n1, 2\n3,4.25\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try InputFile.read(path: path) == [[1, 2], [3, 4.25]])
    }

    @Test func refusesBrokenFilesWithTheReason() throws {
        let cases: [(String, String)] = [
            ("nan.csv", "non-finite value nan at row 1, column 0"),
            ("ragged.csv", "line 2 has 1 values, the first row has 2"),
            ("mixed-header.csv", "line 1: 'x' is not a number (a header line must name every column"),
            ("short-header.csv", "line 2 has 2 values, the header has 1"),
            ("gap.csv", "line 3: an empty field is not a number"),
            ("fortran.npy", "Fortran-ordered"),
            ("cube.npy", "expected a 2-D array (inputs × features) or a 1-D one"),
            ("int.npy", "dtype '<i8' is not supported"),
            ("short.npy", "shape (2, 3) does not fit the 24 bytes"),
            ("x.txt", "unknown format"),
            ("missing.csv", "cannot read the file"),
        ]
        try "1,2\nnan,3\n".write(toFile: dir + "/nan.csv", atomically: true, encoding: .utf8)
        try "1,2\n3\n".write(toFile: dir + "/ragged.csv", atomically: true, encoding: .utf8)
        try "1.5,x\n1,2\n".write(toFile: dir + "/mixed-header.csv", atomically: true, encoding: .utf8)
        try "a\n1,2\n".write(toFile: dir + "/short-header.csv", atomically: true, encoding: .utf8)
        try "1,2\n\n1,\n".write(toFile: dir + "/gap.csv", atomically: true, encoding: .utf8)
        try "1\n".write(toFile: dir + "/x.txt", atomically: true, encoding: .utf8)
        try npy(dir + "/fortran.npy", shape: [2, 2], descr: "<f8", fortran: true, values: [1, 2, 3, 4])
        try npy(dir + "/cube.npy", shape: [1, 1, 2], descr: "<f8", values: [1, 2])
        try npy(dir + "/int.npy", shape: [1, 1], descr: "<i8", values: [1])
        try npy(dir + "/short.npy", shape: [2, 3], descr: "<f8", values: [1, 2, 3])
        for (file, reason) in cases {
            do {
                _ = try InputFile.read(path: dir + "/" + file)
                Issue.record("\(file) was accepted")
            } catch {
                #expect(error.description.contains(reason), "\(file): \(error)")
            }
        }
    }

    /// Signals for conv nets: numpy's (B, C₀, L) and (B, C₀, H, W) arrays (position fastest)
    /// become rows with the channel fastest, element (c, p) at c + C₀·p; other ranks and CSV
    /// files are refused with the shapes expected.
    @Test func readsSignalsChannelFastest() throws {
        let line = dir + "/signals1d.npy", image = dir + "/signals2d.npy"
        // (1, 2, 3): channel 0 = [1, 2, 3], channel 1 = [10, 20, 30]
        try npy(line, shape: [1, 2, 3], descr: "<f8", values: [1, 2, 3, 10, 20, 30])
        let (rows, shape) = try InputFile.readSignals(path: line)
        #expect(shape == [2, 3] && rows == [[1, 10, 2, 20, 3, 30]])
        // (1, 2, 1, 2): position (y, x) = x + W·y
        try npy(image, shape: [1, 2, 1, 2], descr: "<f4", values: [1, 2, 5, 6])
        let (rows2, shape2) = try InputFile.readSignals(path: image)
        #expect(shape2 == [2, 1, 2] && rows2 == [[1, 5, 2, 6]])
        try npy(dir + "/flat.npy", shape: [2, 3], descr: "<f8", values: [1, 2, 3, 4, 5, 6])
        try "1,2\n".write(toFile: dir + "/s.csv", atomically: true, encoding: .utf8)
        for (file, reason) in [("flat.npy", "expected shape (B, C0, L) or (B, C0, H, W), got (2, 3)"), ("s.csv", "signals need a .npy")] {
            do {
                _ = try InputFile.readSignals(path: dir + "/" + file)
                Issue.record("\(file) was accepted")
            } catch {
                #expect(error.description.contains(reason), "\(file): \(error)")
            }
        }
    }
}
