import Foundation
import Testing

/// Runs the built `signalprop` (next to the test bundle) and returns (status, stdout, stderr).
func signalprop(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: url.appendingPathComponent("signalprop").path), url.path != "/" {
        url.deleteLastPathComponent()
    }
    let process = Process()
    process.executableURL = url.appendingPathComponent("signalprop")
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite struct CommandLineTests {
    @Test(arguments: brokenCampaigns.indices)
    func brokenCampaignExitsTwoAndWritesNothing(_ i: Int) throws {
        let dir = NSTemporaryDirectory() + "signalprop-cli-\(getpid())-\(i)"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = dir + "/campaign.toml"
        try brokenCampaigns[i].toml.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try signalprop(["sweep", config, "--out", dir + "/out"])
        #expect(result.status == 2, "case \(i): \(result.err)")
        #expect(result.err.hasPrefix("error: " + (brokenCampaigns[i].key.isEmpty ? "" : brokenCampaigns[i].key)),
                "case \(i): \(result.err)")
        #expect(result.err.contains(brokenCampaigns[i].phrase))
        #expect(result.err.split(separator: "\n").count == 1, "one message: \(result.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    @Test func badArgumentsExitTwo() throws {
        #expect(try signalprop(["theory", "--activation", "nope", "--sigma-w", "1"]).status == 2)
        #expect(try signalprop(["theory", "--activation", "tanh", "--sigma-w", "-1"]).status == 2)
        #expect(try signalprop(["sweep", "/nonexistent.toml", "--out", "/tmp/x"]).status == 2)
        #expect(try signalprop(["sweep"]).status == 2)
    }

    /// The contract of `theory --json` (issue 2): the keys, and arrays of length depth.
    @Test func theoryJSONContract() throws {
        let r = try signalprop(["theory", "--activation", "tanh", "--sigma-w", "1.5", "--sigma-b", "0.3",
                                "--depth", "10", "--q0", "1", "--c0", "0.5", "--json"])
        #expect(r.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        for key in ["q_star", "c_star", "chi1", "xi_q", "xi_c", "phase", "status"] { #expect(object[key] != nil, "\(key)") }
        let q = object["q"] as! [Double], c = object["c"] as! [Double]
        #expect(q.count == 10 && c.count == 10)
        #expect(abs(q[0] - (1.5 * 1.5 + 0.09)) < 1e-12)
        #expect(object["phase"] as? String == "chaotic")
        let critical = try signalprop(["theory", "--activation", "relu", "--sigma-w", "1.4142135623730951", "--json"])
        let o2 = try JSONSerialization.jsonObject(with: Data(critical.out.utf8)) as! [String: Any]
        #expect(o2["xi_c"] is NSNull && (o2["status"] as! String).contains("infinite"))
    }

    @Test func helpTeachesWithAnExample() throws {
        for command in ["sweep", "theory", "phase-diagram", "bench"] {
            let r = try signalprop([command, "--help"])
            #expect(r.status == 0 && r.out.contains("signalprop \(command)") && r.out.lowercased().contains("example"),
                    "\(command) --help")
        }
    }
}
