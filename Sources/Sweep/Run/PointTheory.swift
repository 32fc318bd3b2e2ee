import Ensembles
import Foundation
import MeanField

/// The predictions written beside one grid point's measurements, from the point's actual
/// input batch: every observable's ``Prediction`` (from the mean-field layer states of the
/// architecture's composition) and, for feedforward nets, the fixed-point report of
/// `points.csv` (Poole et al. 2016; Schoenholz et al. 2017).
///
/// A point's theory is a task like its sampling: any rank computes it and sends it to the
/// coordinator, which journals it (``encoded()``), so a resume never recomputes it.
public struct PointTheory: Sendable {
    /// The mean-field pre-activation covariances `q^l_ab`, layer 1 first (empty where the
    /// architecture has no Gaussian theory).
    public let layers: [LayerTheory]
    /// The feedforward fixed points (nil for other architectures).
    public let fixedPoints: FixedPointReport?
    /// Quantity names and their predictions `values[k][l − 1]`, in the order of the point's
    /// statistics; the theory density of each histogram, in order, and of its depth → ∞
    /// law where one is known.
    public let names: [String]
    public internal(set) var values: [[Double?]]
    /// The predicted standard deviation across networks of each quantity at each layer
    /// (``Prediction/standardDeviations``), nil where there is none.
    public let standardDeviations: [[Double?]]
    /// The mean of each quantity at each layer to order 1/N (``Prediction/corrected``), nil
    /// where there is none.
    public let corrected: [[Double?]]
    public let spectra: [[Double]?]
    public let limitSpectra: [[Double]?]
    /// Why a theory column is empty, for the manifest.
    public let notes: [String]

    public init(network: NetworkSpec, inputs: InputBatch, observables: Observables) {
        let context = TheoryContext(network: network, inputs: inputs, fluctuations: observables.fluctuations,
                                    nextOrder: observables.fluctuationsNextOrder)
        let predictions = observables.predict(context)
        layers = context.layers
        switch network.architecture {
        case .feedforward, .convolution:   // a conv net's q* and χ1 are the fully connected ones (Xiao et al. 2018)
            fixedPoints = context.maps.fixedPoints()
        default:
            fixedPoints = nil
        }
        names = observables.names(NetworkShape(spec: network, batch: inputs.count, inputDimension: inputs.dimension))
        values = predictions.flatMap(\.values)
        standardDeviations = predictions.flatMap { p in
            p.standardDeviations.isEmpty ? p.values.map { $0.map { _ in nil } } : p.standardDeviations
        }
        corrected = predictions.flatMap { p in p.corrected.isEmpty ? p.values.map { $0.map { _ in nil } } : p.corrected }
        spectra = predictions.flatMap(\.spectra)
        limitSpectra = predictions.flatMap(\.limitSpectra)
        let histograms = observables.histograms(NetworkShape(spec: network, batch: inputs.count,
                                                             inputDimension: inputs.dimension)).count
        precondition(spectra.count == histograms && limitSpectra.count == histograms,
                     "an observable's prediction has \(spectra.count) spectra for \(histograms) histograms")
        notes = predictions.flatMap(\.notes)
    }

    /// The prediction for quantity `quantity` at `layer` (1-based), nil where theory is silent.
    public func value(of quantity: String, layer: Int) -> Double? {
        guard let k = names.firstIndex(of: quantity), layer >= 1, layer <= values[k].count else { return nil }
        return values[k][layer - 1]
    }

    /// The journal's and the wire's form: little-endian binary after the magic "SPT3", every
    /// double as its 64 bits (±∞, NaN and −0 included), an optional as a presence byte, an
    /// array or a string as its count (u32) and its elements; a layer's theory as its moments
    /// (all else in it follows from them, ``LayerTheory/init(layer:moments:)``). JSON, the
    /// former form, cost the coordinator half a millisecond per point to decode: 40 % of
    /// rank 0's time on the 84-point grid, serial however many ranks compute.
    func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.write(Self.magic)
        func count(_ n: Int) { w.write(UInt32(n)) }
        func string(_ s: String) { count(s.utf8.count); w.write(Array(s.utf8)) }
        func doubles(_ xs: [Double]) { count(xs.count); for x in xs { w.write(x) } }
        func optional<T>(_ x: T?, _ body: (T) -> Void) {
            w.write(UInt8(x == nil ? 0 : 1))
            if let x { body(x) }
        }
        count(layers.count)
        for layer in layers {
            w.write(Int64(layer.layer))
            let m = layer.moments
            w.write(Int64(m.count))
            for e in m.exponents { w.write(Int64(e)) }
            doubles(m.normalized)
            optional(m.normalizedMeans, doubles)
        }
        optional(fixedPoints) { f in
            for x in [f.qStar, f.cStar, f.chi1, f.xiQ, f.xiC] { optional(x) { w.write($0) } }
            string(f.phase.rawValue)
            string(f.status)
            optional(f.layersToOnePercent) { w.write(Int64($0)) }
        }
        count(names.count)
        names.forEach(string)
        for rows in [values, standardDeviations, corrected] {
            count(rows.count)
            for row in rows {
                count(row.count)
                for x in row { optional(x) { w.write($0) } }
            }
        }
        for list in [spectra, limitSpectra] {
            count(list.count)
            for s in list { optional(s, doubles) }
        }
        count(notes.count)
        notes.forEach(string)
        return w.bytes
    }

    /// The theory encoded by ``encoded()``; nil when the bytes are not one (a journal
    /// written in the former JSON form among them: its theories are recomputed).
    init?(decoding bytes: [UInt8]) {
        var r = BinaryReader(bytes)
        func count() throws(BinaryDecodingError) -> Int {
            let n = Int(try r.read(UInt32.self))
            guard n <= r.remaining else { throw BinaryDecodingError(reason: "a count of \(n) past the end") }
            return n
        }
        func string() throws(BinaryDecodingError) -> String {
            String(decoding: try r.readBytes(try count()), as: UTF8.self)
        }
        func doubles() throws(BinaryDecodingError) -> [Double] {
            try (0..<count()).map { _ throws(BinaryDecodingError) in try r.read(Double.self) }
        }
        func optional<T>(_ body: () throws(BinaryDecodingError) -> T) throws(BinaryDecodingError) -> T? {
            switch try r.read(UInt8.self) {
            case 0: return nil
            case 1: return try body()
            default: throw BinaryDecodingError(reason: "a presence byte that is neither 0 nor 1")
            }
        }
        func list<T>(_ body: () throws(BinaryDecodingError) -> T) throws(BinaryDecodingError) -> [T] {
            try (0..<count()).map { _ throws(BinaryDecodingError) in try body() }
        }
        do throws(BinaryDecodingError) {
            guard try r.read(UInt32.self) == Self.magic else { return nil }
            layers = try list { () throws(BinaryDecodingError) -> LayerTheory in
                let layer = Int(try r.read(Int64.self)), b = Int(try r.read(Int64.self))
                guard b >= 0, b <= r.remaining / 8 else { throw BinaryDecodingError(reason: "a batch of \(b)") }
                let exponents = try (0..<b).map { _ throws(BinaryDecodingError) in Int(try r.read(Int64.self)) }
                let normalized = try doubles(), means = try optional(doubles)
                guard normalized.count == b * b, (means?.count ?? b) == b else {
                    throw BinaryDecodingError(reason: "moments of mismatched shapes")
                }
                return LayerTheory(layer: layer, moments: ScaledMoments(exponents: exponents, normalized: normalized,
                                                                        means: means, count: b))
            }
            fixedPoints = try optional { () throws(BinaryDecodingError) -> FixedPointReport in
                let x = try (0..<5).map { _ throws(BinaryDecodingError) in try optional { () throws(BinaryDecodingError) in try r.read(Double.self) } }
                guard let phase = Phase(rawValue: try string()) else { throw BinaryDecodingError(reason: "an unknown phase") }
                return FixedPointReport(qStar: x[0], cStar: x[1], chi1: x[2], xiQ: x[3], xiC: x[4], phase: phase,
                                        status: try string(),
                                        layersToOnePercent: try optional { () throws(BinaryDecodingError) in Int(try r.read(Int64.self)) })
            }
            names = try list(string)
            func rows() throws(BinaryDecodingError) -> [[Double?]] {
                try list { () throws(BinaryDecodingError) in
                    try list { () throws(BinaryDecodingError) in try optional { () throws(BinaryDecodingError) in try r.read(Double.self) } }
                }
            }
            values = try rows()
            standardDeviations = try rows()
            corrected = try rows()
            spectra = try list { () throws(BinaryDecodingError) in try optional(doubles) }
            limitSpectra = try list { () throws(BinaryDecodingError) in try optional(doubles) }
            notes = try list(string)
            guard r.remaining == 0 else { return nil }
        } catch {
            return nil
        }
    }

    private static let magic: UInt32 = 0x3354_5053   // "SPT3" (SPT2 records, without the 1/N columns, are recomputed)
}
