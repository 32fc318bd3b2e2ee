import Ensembles
import Foundation
@testable import Sweep
import Testing

@Suite struct JournalTests {
    func records(_ tasks: [Int]) -> [UInt8] {
        Journal.fileMagic + Array(String(repeating: "0", count: 16).utf8)
            + tasks.flatMap { Journal.record(task: $0, payload: Array(repeating: UInt8($0), count: 40)) }
    }

    let anyPayload: (Int, [UInt8]) -> Bool = { task, payload in task < 10 && payload.count == 40 }

    @Test func goodRecordsAreRecovered() {
        let r = Journal.scan(records([0, 1, 2]), decodable: anyPayload)
        #expect(r.partials.keys.sorted() == [0, 1, 2] && r.notes.isEmpty)
        #expect(r.partials[2] == Array(repeating: 2, count: 40))
    }

    @Test func aCorruptRecordIsSkippedAndTheRestKept() {
        var bytes = records([0, 1, 2])
        let second = 24 + (Journal.recordOverhead + 40) + 20
        bytes[second] ^= 0x40
        let r = Journal.scan(bytes, decodable: anyPayload)
        #expect(r.partials.keys.sorted() == [0, 2])
        #expect(r.notes.count == 1 && r.notes[0].contains("task 1") && r.notes[0].contains("checksum"))
    }

    @Test func aTornTailIsDroppedWherever_itIsCut() {
        let whole = records([0, 1, 2])
        for cut in 1..<(Journal.recordOverhead + 40) {
            let r = Journal.scan(Array(whole.dropLast(cut)), decodable: anyPayload)
            #expect(r.partials.keys.sorted() == [0, 1], "cut \(cut)")
            #expect(r.notes.count == 1 && r.notes[0].contains("torn"), "cut \(cut)")
        }
    }

    @Test func aBadLengthFieldStopsTheScan() {
        var bytes = records([0, 1, 2])
        let lengthOfSecond = 24 + (Journal.recordOverhead + 40) + 12
        bytes[lengthOfSecond + 3] = 0x7f
        let r = Journal.scan(bytes, decodable: anyPayload)
        #expect(r.partials.keys.sorted() == [0] && r.notes[0].contains("torn"))
    }

    @Test func undecodableAndDuplicateRecordsAreNotMerged() {
        let r = Journal.scan(records([0, 12, 0]), decodable: anyPayload)
        #expect(r.partials.keys.sorted() == [0])
        #expect(r.notes.count == 1 && r.notes[0].contains("task 12") && r.notes[0].contains("does not fit"))
    }
}

@Suite struct ReductionTests {
    let campaign = try! Campaign(toml: """
        samples = 8
        block = 2
        [grid]
        width = [32]
        depth = [3]
        activation = ["tanh"]
        [observe]
        forward = ["q", "c"]
        jacobian = { depths = [2], bins = 20 }
        """)

    /// Partials merged in task order give the same bits whatever order they arrive in.
    @Test func mergeOrderDoesNotDependOnArrivalOrder() throws {
        let catalog = TaskCatalog(campaign: campaign)
        let partials = try (0..<catalog.count).map { try catalog.run($0) }
        var inOrder = OrderedMerger(catalog: catalog), shuffled = OrderedMerger(catalog: catalog)
        for t in 0..<4 { inOrder.add(task: t, partials[t]) }
        for t in [3, 1, 0, 2] { shuffled.add(task: t, partials[t]) }
        #expect(inOrder.complete && shuffled.complete)
        #expect(inOrder.merged == shuffled.merged)
        #expect(inOrder.merged[0].networks == 8 && inOrder.merged[0].histograms[0].total > 0)
    }

    @Test func partialsRoundTripThroughBytesAndRefuseAnotherShape() throws {
        let catalog = TaskCatalog(campaign: campaign)
        let partial = try catalog.run(1)
        let decoded = try EnsembleStatistics(decoding: partial.encoded(), shapedLike: catalog.emptyStatistics(point: 0))
        #expect(decoded == partial)
        #expect(throws: BinaryDecodingError.self) {
            try EnsembleStatistics(decoding: Array(partial.encoded().dropLast(8)), shapedLike: catalog.emptyStatistics(point: 0))
        }
    }

    /// One point of a tanh net of `architecture`, observing `spectra` beside the forward quantities.
    func theoryCatalog(architecture: String, spectra: String = "", weightScaling: String = "width") throws -> TaskCatalog {
        TaskCatalog(campaign: try Campaign(toml: """
            seed = 3
            samples = 2
            block = 1
            [grid]
            width = [64]
            depth = [4]
            sigma_w = [1.3]
            sigma_b = [0.0]
            activation = ["tanh"]
            [network]
            architecture = "\(architecture)"
            weight_scaling = "\(weightScaling)"
            [inputs]
            kind = "gram"
            count = 3
            c0 = 0.4
            [observe]
            forward = ["q", "c", "gram", "orth_gap"]
            \(spectra)
            """))
    }

    /// A point's theory goes through the journal and the wire as bytes: it must come back bit
    /// for bit — finite values, ±∞ and NaN, silent (nil) entries, spectra and notes — or a
    /// resumed or distributed run would not write the tables a single run writes. The
    /// residual net carries both laws of its Jacobian (theory and theory_limit).
    @Test(arguments: [("feedforward", "jacobian = { depths = [4] }", "width"), ("batchnorm", "", "width"),
                      ("residual", "jacobian = { depths = [4] }", "width*depth")])
    func theoryRoundTripsBitForBit(architecture: String, spectra: String, weightScaling: String) throws {
        let catalog = try theoryCatalog(architecture: architecture, spectra: spectra, weightScaling: weightScaling)
        let theory = try catalog.theory(point: 0)
        let back = try #require(PointTheory(decoding: theory.encoded()))
        let bits = { (t: PointTheory) in t.values.map { $0.map { $0?.bitPattern } } }
        #expect(bits(back) == bits(theory))
        #expect(back.spectra.map { $0?.map(\.bitPattern) } == theory.spectra.map { $0?.map(\.bitPattern) })
        #expect(back.limitSpectra.map { $0?.map(\.bitPattern) } == theory.limitSpectra.map { $0?.map(\.bitPattern) })
        if architecture == "residual" { #expect(theory.limitSpectra.allSatisfy { $0 != nil }) }
        #expect(back.names == theory.names && back.notes == theory.notes && back.layers == theory.layers)
        #expect(back.fixedPoints == theory.fixedPoints)
        #expect(catalog.decode(task: catalog.theoryTask(point: 0), payload: theory.encoded()) != nil)
        #expect(catalog.decode(task: catalog.theoryTask(point: 0), payload: Array("{}".utf8)) == nil)
        let bytes = theory.encoded()
        for cut in [0, 3, bytes.count / 2, bytes.count - 1] {
            #expect(PointTheory(decoding: Array(bytes[..<cut])) == nil, "cut at \(cut) of \(bytes.count)")
        }
        #expect(PointTheory(decoding: bytes + [0]) == nil)
    }

    /// ±∞, NaN and −0 survive the encoding, bit for bit.
    @Test func nonFiniteTheoryValuesRoundTrip() throws {
        var theory = try theoryCatalog(architecture: "feedforward").theory(point: 0)
        let special: [Double] = [.nan, -.infinity, .infinity, -0.0]
        for (k, x) in special.enumerated() { theory.values[0][k] = x }
        let back = try #require(PointTheory(decoding: theory.encoded()))
        #expect(back.values[0][..<4].map { $0?.bitPattern } == special.map(\.bitPattern))
    }

    /// A theory record of the former JSON form (journals written before the binary form) does
    /// not decode, so a resume recomputes that point's theory rather than misreading it.
    @Test func aFormerJSONTheoryDoesNotDecode() throws {
        let json = Array(#"{"layers":[],"names":[],"values":[],"spectra":[],"limitSpectra":[],"notes":[]}"#.utf8)
        #expect(PointTheory(decoding: json) == nil)
    }
}

