import Foundation
import MPI
@testable import Sweep
import Testing

private func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "signalprop-tests-\(getpid())-\(name)"
    try? FileManager.default.removeItem(atPath: path)
    return path
}

private func read(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8)
}

private let campaignText = broken("samples", with: "samples = 6")
    .replacingOccurrences(of: "activation = [\"tanh\"]", with: "activation = [\"tanh\", \"relu\"]")
    + "\n[observe]\nforward = [\"q\", \"c\", \"gram\"]"

@Suite struct SweepRunTests {
    func run(threads: Int, out: String, force: Bool = false) throws -> SweepSummary {
        let campaign = try Campaign(toml: campaignText)
        let options = SweepOptions(outputDirectory: out, force: force, threads: threads, showProgress: false,
                                   configPath: "test.toml")
        return try SweepRun(campaign: campaign, options: options, world: MPIRuntime.world()).run()!
    }

    @Test func tablesAreByteIdenticalForAnyThreadCount() throws {
        let one = temporaryDirectory("one"), two = temporaryDirectory("two"), three = temporaryDirectory("three")
        _ = try run(threads: 1, out: one)
        _ = try run(threads: 2, out: two)
        _ = try run(threads: 3, out: three)
        for table in ["points.csv", "layers.csv"] {
            let reference = try read(one + "/" + table)
            #expect(try read(two + "/" + table) == reference)
            #expect(try read(three + "/" + table) == reference)
        }
    }

    /// `[observe] per_network`: networks.csv and quantiles.csv are byte-identical for 1, 2 and
    /// 3 threads and after a resume from half a journal; each network's values average to
    /// layers.csv's means; the quantiles are those of the networks' values (type 7); and the
    /// campaign without per_network writes the same layers.csv and no per-network table.
    @Test func perNetworkTablesAreDeterministicAndAddUp() throws {
        let text = campaignText + "\nper_network = true"
        func sweep(_ toml: String, threads: Int, out: String, resume: Bool = false) throws {
            let options = SweepOptions(outputDirectory: out, resume: resume, threads: threads, showProgress: false,
                                       configPath: "test.toml")
            _ = try SweepRun(campaign: try Campaign(toml: toml), options: options, world: MPIRuntime.world()).run()
        }
        let outs = (1...3).map { temporaryDirectory("per-network-\($0)") }
        for (t, out) in outs.enumerated() { try sweep(text, threads: t + 1, out: out) }
        for table in ["networks.csv", "quantiles.csv", "layers.csv"] {
            let reference = try read(outs[0] + "/" + table)
            for out in outs.dropFirst() { #expect(try read(out + "/" + table) == reference, "\(table)") }
        }
        // Resume from half a journal.
        let resumed = temporaryDirectory("per-network-resume")
        try sweep(text, threads: 2, out: resumed)
        let journal = resumed + "/journal/tasks.journal"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: journal))
        try bytes.prefix(24 + (bytes.count - 24) / 2).write(to: URL(fileURLWithPath: journal))
        for table in ["layers.csv", "networks.csv", "quantiles.csv"] { try FileManager.default.removeItem(atPath: resumed + "/" + table) }
        try sweep(text, threads: 2, out: resumed, resume: true)
        for table in ["networks.csv", "quantiles.csv"] { #expect(try read(resumed + "/" + table) == read(outs[0] + "/" + table)) }
        // Without per_network: the same layers.csv, no per-network tables.
        let plain = temporaryDirectory("per-network-off")
        try sweep(campaignText, threads: 2, out: plain)
        #expect(try read(plain + "/layers.csv") == read(outs[0] + "/layers.csv"))
        #expect(!FileManager.default.fileExists(atPath: plain + "/networks.csv"))
        // The values add up to the means, and the quantiles are theirs.
        var values: [String: [Double]] = [:]
        for line in try read(outs[0] + "/networks.csv").split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",")
            values["\(f[0]),\(f[2]),\(f[3])", default: []].append(Double(f[4])!)
        }
        for line in try read(outs[0] + "/layers.csv").split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            let v = try #require(values["\(f[0]),\(f[8]),\(f[9])"])
            #expect(v.count == 6)
            let mean = v.reduce(0, +) / Double(v.count), expected = Double(f[10])!
            #expect(abs(mean - expected) <= 1e-12 * max(1, abs(expected)), "\(f[0]) \(f[8]) \(f[9])")
        }
        for line in try read(outs[0] + "/quantiles.csv").split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            let v = try #require(values["\(f[0]),\(f[8]),\(f[9])"]).sorted()
            for (i, p) in [0.05, 0.25, 0.5, 0.75, 0.95].enumerated() {
                let h = p * Double(v.count - 1), lo = Int(h), hi = min(lo + 1, v.count - 1)
                #expect(abs(Double(f[11 + i])! - (v[lo] + (h - Double(lo)) * (v[hi] - v[lo]))) <= 1e-15 * max(1, abs(v[hi])))
            }
        }
    }

    /// The memory estimate counts the per-network values (8 bytes each, and ~40 of networks.csv
    /// text): a limit the campaign fits without per_network refuses it with per_network before
    /// anything starts, naming the estimate.
    @Test func perNetworkValuesAreCountedAndCanBeRefused() throws {
        let plain = try Campaign(toml: campaignText), kept = try Campaign(toml: campaignText + "\nper_network = true")
        let without = MemoryEstimate(campaign: plain, threads: 1), with = MemoryEstimate(campaign: kept, threads: 1)
        let values = kept.points.reduce(0) { $0 + kept.samples * kept.observables.names(kept.shape($1.network)).count * $1.network.depth }
        #expect(with.bytesPerRank - without.bytesPerRank == 48 * values && with.networksBytes == 40 * values)
        let out = temporaryDirectory("per-network-refused")
        let options = SweepOptions(outputDirectory: out, threads: 1, showProgress: false, configPath: "test.toml",
                                   memoryLimit: without.bytesPerRank + 8 * values)
        do {
            _ = try SweepRun(campaign: kept, options: options, world: MPIRuntime.world()).run()
            Issue.record("a campaign over the memory limit ran")
        } catch let refusal as SweepRefusal {
            #expect(refusal.message.contains("exceeds the limit"), "\(refusal)")
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/layers.csv"))
    }

    @Test func layersTableIsTidyWithTheoryBesideMeasurement() throws {
        let out = temporaryDirectory("tidy")
        let summary = try run(threads: 2, out: out)
        #expect(summary.points == 4 && summary.networks == 24 && summary.warnings.isEmpty)
        let lines = try read(out + "/layers.csv").split(separator: "\n")
        #expect(lines[0] == "point,width,depth,sigma_w,sigma_b,activation,init,architecture,layer,observable,mean,stderr,n,theory,theory_sd,theory_1n")
        // 4 points × 3 layers × (q, c, 6 gram entries)
        #expect(lines.count == 1 + 4 * 3 * 8)
        let first = lines[1].split(separator: ",", omittingEmptySubsequences: false)
        #expect(first[9] == "q" && first[12] == "6")
        // Layer 1 theory is exact: q¹ = σ_w² q0 + σ_b² = 1.01 at σ_w = 1, σ_b = 0.1.
        #expect(abs(Double(first[13])! - 1.01) < 1e-12)
        let points = try read(out + "/points.csv").split(separator: "\n")
        #expect(points.count == 5 && points[0].hasPrefix("point,width,depth,sigma_w,sigma_b,activation,init,architecture,samples,q_star"))
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json")))
            as! [String: Any]
        #expect(manifest["config_hash"] as? String == (try Campaign(toml: campaignText)).hash)
        #expect((manifest["points"] as? [Any])?.count == 4)
        #expect(!FileManager.default.fileExists(atPath: out + "/layers.csv.tmp"))
    }

    @Test func existingOutputIsRefusedUnlessForced() throws {
        let out = temporaryDirectory("exists")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(throws: SweepRefusal.self) { _ = try run(threads: 1, out: out) }
        #expect(!FileManager.default.fileExists(atPath: out + "/layers.csv"))
        _ = try run(threads: 1, out: out, force: true)
        #expect(FileManager.default.fileExists(atPath: out + "/layers.csv"))
    }

    /// Every λ is accounted for in spectra.csv: the bins and the two tail rows hold all of
    /// them but those below the float floor, whose share is `jac_floor_frac`.
    @Test func spectraTableCountsEveryValue() throws {
        let out = temporaryDirectory("spectra")
        let text = broken("sigma_w", with: "sigma_w = [0.5, 2.0]")
            + "\n[observe]\njacobian = { depths = [1, 3], bins = 6, range = [0.05, 5] }"
        let options = SweepOptions(outputDirectory: out, force: false, threads: 1, showProgress: false, configPath: "t.toml")
        _ = try SweepRun(campaign: try Campaign(toml: text), options: options, world: MPIRuntime.world()).run()
        let rows = try read(out + "/spectra.csv").split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let floors = try read(out + "/layers.csv").split(separator: "\n")
            .map { $0.split(separator: ",").map(String.init) }.filter { $0[9] == "jac_floor_frac" }
        var tails = (below: 0, above: 0)
        for point in ["0", "1"] {
            for layer in ["1", "3"] {
                let group = rows.filter { $0[0] == point && $0[8] == layer }
                #expect(group.count == 6 + 2)
                let (first, last) = (try #require(group.first), try #require(group.last))
                #expect(Double(first[10]) == 0 && Double(first[11]) == 0.05 && first[14] == "")
                #expect(Double(last[10]) == 5 && last[11] == "inf" && last[12] == "")
                let counted = group.reduce(0) { $0 + Int($1[13])! }
                let floor = Double(try #require(floors.first { $0[0] == point && $0[8] == layer })[10])!
                // 4 networks × 16 squared singular values each.
                #expect(abs(Double(counted) + floor * 64 - 64) < 1e-9, "point \(point) layer \(layer)")
                tails.below += Int(first[13])!
                tails.above += Int(last[13])!
            }
        }
        // σ_w = 0.5 at depth 3 puts λ below 0.05; σ_w = 2 puts some above 5.
        #expect(tails.below > 0 && tails.above > 0)
    }
}

@Suite struct SweepVariantsTests {
    /// File inputs, orthogonal weights and float32 through the whole sweep: the first
    /// layer's theory is σ_w² G0 + σ_b² of the file's own Gram matrix, and the
    /// measurement agrees with it.
    @Test func fileInputsOrthogonalFloat32() throws {
        let dir = temporaryDirectory("variants")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "x1,x2,x3,x4\n1,0,0,1\n0,2,0,0\n1,1,1,1\n".write(toFile: dir + "/x.csv", atomically: true, encoding: .utf8)
        let toml = """
        samples = 16
        block = 4
        precision = "float32"
        [grid]
        width = [128]
        depth = [2]
        sigma_w = [1.0]
        sigma_b = [0.0]
        activation = ["erf"]
        [network]
        init = "orthogonal"
        [inputs]
        kind = "file"
        path = "x.csv"
        """
        try toml.write(toFile: dir + "/c.toml", atomically: true, encoding: .utf8)
        let campaign = try Campaign(contentsOf: dir + "/c.toml")
        _ = try SweepRun(campaign: campaign, options: SweepOptions(outputDirectory: dir + "/out", threads: 2,
                                                                   showProgress: false, configPath: "c.toml"),
                         world: MPIRuntime.world()).run()
        let rows = try read(dir + "/out/layers.csv").split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let layer1q = rows.first { $0[8] == "1" && $0[9] == "q" }!
        // G0 diagonal = |x|²/4 = (0.5, 1, 1): mean 5/6; orthogonal 4→128 keeps σ_w²|x|²/N₀ per unit.
        #expect(abs(Double(layer1q[13])! - 5.0 / 6) < 1e-12)
        #expect(abs(Double(layer1q[10])! - 5.0 / 6) < 1e-5, "an orthogonal frame preserves lengths exactly")
    }
}

@Suite struct ResumeTests {
    func run(_ out: String, resume: Bool = false, force: Bool = false) throws -> SweepSummary {
        let options = SweepOptions(outputDirectory: out, force: force, resume: resume, threads: 2, showProgress: false,
                                   configPath: "test.toml")
        return try SweepRun(campaign: try Campaign(toml: campaignText), options: options, world: MPIRuntime.world()).run()!
    }

    /// Cut the journal anywhere — at a record boundary or inside a record — and the
    /// resumed run recomputes what is missing and writes byte-identical tables. What the
    /// cut loses is a sampling task or a point's theory, whichever two threads journalled
    /// last; the manifest counts both kinds recovered.
    @Test(arguments: [0.0, 0.37, 0.5, 0.91])
    func resumeFromAPartialJournalIsByteIdentical(_ fraction: Double) throws {
        let reference = temporaryDirectory("resume-ref-\(fraction)")
        _ = try run(reference)
        let out = temporaryDirectory("resume-\(fraction)")
        _ = try run(out)
        let journal = out + "/journal/tasks.journal"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: journal))
        let keep = 24 + Int(Double(bytes.count - 24) * fraction)
        try bytes.prefix(keep).write(to: URL(fileURLWithPath: journal))
        try FileManager.default.removeItem(atPath: out + "/layers.csv")
        let summary = try run(out, resume: true)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json")))
        let execution = try #require((manifest as? [String: Any])?["execution"] as? [String: Any])
        let theories = try #require(execution["theories_from_journal"] as? Int)
        #expect(summary.tasksFromJournal + theories < summary.tasks + summary.points, "the cut lost no record")
        #expect(try read(out + "/layers.csv") == read(reference + "/layers.csv"))
        #expect(try read(out + "/points.csv") == read(reference + "/points.csv"))
    }

    @Test func resumeNeedsAJournalAndAnUnchangedCampaign() throws {
        let missing = temporaryDirectory("resume-missing")
        #expect(throws: SweepRefusal.self) { _ = try run(missing, resume: true) }
        let out = temporaryDirectory("resume-changed")
        _ = try run(out)
        let changed = try Campaign(toml: campaignText.replacingOccurrences(of: "seed = 3", with: "seed = 4"))
        let options = SweepOptions(outputDirectory: out, resume: true, threads: 1, showProgress: false, configPath: "x")
        do {
            _ = try SweepRun(campaign: changed, options: options, world: MPIRuntime.world()).run()
            Issue.record("a changed campaign was resumed")
        } catch let refusal as SweepRefusal {
            #expect(refusal.message.contains("seed was 3, now 4"), "\(refusal)")
        }
    }
}
