import Ensembles
import Foundation
import Sweep
import Testing

/// The resume hash covers every option of every observable: a `--resume` after a change
/// of what is measured must be refused. One variation per `[observe]` key and per forward
/// observable; a registry key without a variation here fails the coverage test, so a new
/// option cannot be added without showing that the manifest records it.
@Suite struct ObserveHashTests {
    static let base = """
        [grid]
        width = [64]
        depth = [6]
        [observe]
        forward = ["q"]
        """

    /// Each variation's `[observe]` lines and the key it exercises.
    static let variations: [(key: String, observe: String)] = [
        ("nngp_depths", "forward = [\"q\", \"nngp\"]\nnngp_depths = [2]"),
        ("per_network", "forward = [\"q\"]\nper_network = true"),
        ("fluctuations", "forward = [\"q\"]\nfluctuations = true"),
        ("fluctuations_order", "forward = [\"q\"]\nfluctuations = true\nfluctuations_order = 2"),
        ("jacobian", "jacobian = { depths = [3] }"),
        ("jacobian", "jacobian = { depths = [3], bins = 50 }"),
        ("jacobian", "jacobian = { depths = [3], range = [1e-6, 1e2] }"),
        ("lyapunov", "lyapunov = { k = 3 }"),
        ("lyapunov", "lyapunov = { k = \"all\" }"),
        ("ntk", "ntk = true"),
        ("ntk", "ntk = { bins = 40 }"),
        ("ntk", "ntk = { range = [1e-3, 1e3] }"),
        ("gram_spectrum", "gram_spectrum = true"),
        ("gram_spectrum", "gram_spectrum = { bins = 20 }"),
        ("gram_spectrum", "gram_spectrum = { range = [1e-3, 1e3] }"),
    ] + ObservableRegistry.forward.filter { $0.key != "q" && $0.key != "spatial" }.map {
        ("forward", "forward = [\"q\", \"\($0.key)\"]")
    }

    static func campaign(_ observe: String) throws -> Campaign {
        try Campaign(toml: base.replacingOccurrences(of: "forward = [\"q\"]", with: observe))
    }

    /// The observables of conv nets only (`spatial`) change a conv campaign's hash.
    @Test func convOnlyObservablesChangeTheHash() throws {
        let conv = Self.base.replacingOccurrences(of: "[observe]", with: """
            [network]
            architecture = "conv"
            [inputs]
            kind = "gaussian"
            count = 2
            shape = [2, 8]
            [observe]
            """)
        let plain = try Campaign(toml: conv).hash
        let spatial = try Campaign(toml: conv.replacingOccurrences(of: "forward = [\"q\"]", with: "forward = [\"q\", \"spatial\"]")).hash
        #expect(plain != spatial)
    }

    @Test func everyObserveKeyHasAVariation() {
        let covered = Set(Self.variations.map(\.key))
        for key in ObservableRegistry.observeKeys { #expect(covered.contains(key), "no hash variation for observe.\(key)") }
    }

    @Test func everyVariationChangesTheHash() throws {
        var hashes = [try Self.campaign("forward = [\"q\"]").hash]
        for v in Self.variations {
            let h = try Self.campaign(v.observe).hash
            #expect(!hashes.contains(h), "observe.\(v.key): '\(v.observe)' leaves the hash unchanged")
            hashes.append(h)
        }
    }
}
