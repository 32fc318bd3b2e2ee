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
}
