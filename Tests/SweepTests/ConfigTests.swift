import Foundation
@testable import Sweep
import Testing

private let valid = """
name = "t"
seed = 3
samples = 4
block = 2
[grid]
width = [16]
depth = [3]
sigma_w = [1.0, 2.0]
sigma_b = [0.1]
activation = ["tanh"]
[inputs]
kind = "gram"
count = 3
q0 = 1.0
c0 = 0.5
"""

/// Replaces the line starting with `key =` in the valid file (or appends `line` under `section`).
func broken(_ replace: String, with line: String) -> String {
    valid.split(separator: "\n", omittingEmptySubsequences: false).map {
        $0.hasPrefix(replace) ? line : String($0)
    }.joined(separator: "\n")
}

/// Each broken campaign, the key its message must name, and a phrase of what is allowed.
let brokenCampaigns: [(toml: String, key: String, phrase: String)] = [
    (broken("width", with: "width = [0]"), "grid.width", "width ≥ 1"),
    (broken("width", with: "width = [16.5]"), "grid.width", "width ≥ 1"),
    (broken("depth", with: "depth = [0]"), "grid.depth", "depth ≥ 1"),
    (broken("sigma_w", with: "sigma_w = [0.0]"), "grid.sigma_w", "> 0"),
    (broken("sigma_w", with: "sigma_w = [-1.0, 1.0]"), "grid.sigma_w", "> 0"),
    (broken("sigma_b", with: "sigma_b = [-0.1]"), "grid.sigma_b", "≥ 0"),
    (broken("activation", with: "activation = [\"tanhh\"]"), "grid.activation", "allowed: linear"),
    (broken("samples", with: "samples = 1"), "samples", "≥ 2"),
    (broken("block", with: "block = 0"), "block", "≥ 1"),
    (broken("seed", with: "seed = -4"), "seed", "≥ 0"),
    (broken("seed", with: "seed = \"one\""), "seed", "expected an integer"),
    (valid + "\n[grid]\nwidth = [8]", "", "not valid TOML"),
    (broken("name", with: "name = \"t\"\nprecision = \"float16\""), "precision", "float32, float64"),
    (broken("name", with: "name = \"t\"\nsampels = 8"), "sampels", "unknown key"),
    (broken("sigma_b", with: "sigma_b = [0.1]\ndropout = 0.5"), "grid.dropout", "unknown key"),
    (broken("kind", with: "kind = \"uniform\""), "inputs.kind", "gram, gaussian, circle, file"),
    (broken("c0", with: "c0 = 1.5"), "inputs.c0", "out of range"),
    (broken("c0", with: "c0 = -0.6"), "inputs.c0", "out of range"),
    (broken("q0", with: "q0 = 0.0"), "inputs.q0", "> 0"),
    (broken("count", with: "count = 40"), "grid.width", "must be ≥ 41"),
    (broken("kind", with: "kind = \"file\"\npath = \"/nonexistent/x.npy\"").replacingOccurrences(of: "count = 3\n", with: "")
        .replacingOccurrences(of: "c0 = 0.5", with: ""), "inputs.path", "cannot read"),
    (broken("sigma_w", with: "sigma_w = { from = 0.5, to = 2.0 }"), "grid.sigma_w.steps", "missing"),
    (broken("sigma_w", with: "sigma_w = { from = 0.5, to = 2.0, steps = 0 }"), "grid.sigma_w.steps", "1 … 100000"),
    (broken("sigma_w", with: "sigma_w = \"big\""), "grid.sigma_w", "expected a number"),
    (valid.replacingOccurrences(of: "[grid]", with: "[grit]"), "grit", "unknown key"),
    (valid + "\n[network]\narchitecture = \"resnet\"", "network.architecture", "allowed: feedforward"),
    (valid + "\n[network]\ninit = \"xavier\"", "network.init", "gaussian, orthogonal"),
    (valid + "\n[observe]\nforward = [\"q\", \"jacobian\"]", "observe.forward", "allowed: q, c, gram"),
    (broken("width", with: "width = [100000]") + "\n[network]\nbackend = \"dense\"", "grid.width", "exceed one random stream"),
    (broken("width", with: "width = [100000]") + "\n[observe]\njacobian = {}", "grid.width", "the dense backend is needed because the full Jacobian"),
    (valid + "\n[network]\nbackend = \"implicit\"\n[observe]\nntk = true", "network.backend", "the empirical NTK"),
    (valid + "\n[observe]\nntk = 3", "observe.ntk", "expected true, false or a table { bins, range }"),
    (valid + "\n[observe]\nntk = { bins = 0 }", "observe.ntk.bins", "1 … 100000"),
    (valid + "\n[observe]\nntk = { depths = [2] }", "observe.ntk.depths", "unknown key"),
    (broken("width", with: "width = [4]") + "\n[network]\nbackend = \"implicit\"\n[observe]\nforward = [\"sensitivity\"]",
     "network.backend", "not wider than"),
    (valid + "\n[network]\nbackend = \"fast\"", "network.backend", "auto, dense, implicit"),
    (broken("sigma_w", with: "sigma_w = { from = 0.5, to = 2.0, steps = 1000000 }"), "grid.sigma_w.steps", "1 … 100000"),
    (broken("activation", with: "activation = [\"elu(-1)\"]"), "grid.activation", "elu"),
    (valid + "\n[observe]\njacobian = { range = [1.0, 0.5] }", "observe.jacobian.range", "0 < lo < hi"),
    (valid + "\n[observe]\njacobian = { depths = [0] }", "observe.jacobian.depths", "layer ≥ 1"),
    (valid + "\n[observe]\nlyapunov = { k = \"some\" }", "observe.lyapunov.k", "\"all\""),
    (valid + "\n[network]\narchitecture = \"feedforward\"\nresidual_scale = 0.5", "network.residual_scale", "not allowed"),
    (valid + "\n[network]\narchitecture = \"residual\"\nresidual_scale = -1.0", "network.residual_scale", "≥ 0"),
    (valid + "\n[network]\nweight_scaling = \"depth\"", "network.weight_scaling", "width, width*depth"),
    (valid + "\n[network]\narchitecture = \"batchnorm\"", "grid.sigma_b", "sigma_b = [0.0]"),
    (broken("sigma_b", with: "sigma_b = [0.0]") + "\n[network]\narchitecture = \"batchnorm-linear-chain\"",
     "grid.activation", "activation = [\"linear\"]"),
    (broken("sigma_b", with: "sigma_b = [0.0]").replacingOccurrences(of: "count = 3", with: "count = 1")
        + "\n[network]\narchitecture = \"batchnorm\"", "inputs.count", "≥ 2 inputs"),
    (broken("sigma_b", with: "sigma_b = [0.0]") + "\n[network]\narchitecture = \"batchnorm-residual\"\n[observe]\njacobian = {}",
     "observe.jacobian", "batch norm couples"),
    (valid + "\n[observe]\nnngp_depths = [1]", "observe.nngp_depths", "does not list \"nngp\""),
    (valid + "\n[observe]\nfluctuations = true\nfluctuations_order = 3", "observe.fluctuations_order", "must be 1"),
    (valid + "\n[observe]\nfluctuations_order = 2", "observe.fluctuations_order", "needs fluctuations = true"),
    (broken("c0", with: "c0 = 1.0") + "\n[observe]\nforward = [\"sensitivity\"]", "observe.forward", "inputs that differ"),
    (valid + "\n[network]\narchitecture = \"residual\"\nresidual_normalize = true", "network.residual_normalize",
     "batchnorm-residual only"),
    (broken("sigma_b", with: "sigma_b = [0.0]") + "\n[network]\narchitecture = \"batchnorm\"\n[observe]\nntk = true",
     "observe.ntk", "batch norm couples"),
    (valid + "\n[observe]\ngram_spectrum = { range = [0.0, 1.0] }", "observe.gram_spectrum.range", "0 < lo < hi"),
    (valid + "\n[observe]\nforward = [\"nngp\"]\nnngp_depths = [9]", "observe.nngp_depths", "deeper than every net"),
    (broken("kind", with: "kind = \"circle\"").replacingOccurrences(of: "count = 3", with: "count = 2")
        .replacingOccurrences(of: "c0 = 0.5", with: ""), "inputs.count", "≥ 3 points"),
    (broken("sigma_w", with: "sigma_w = [1.0, 2.0, 1.0]"), "grid.sigma_w", "lists 1.0 twice"),
    (broken("width", with: "width = [16, 32, 16]"), "grid.width", "lists 16 twice"),
    (broken("activation", with: "activation = [\"tanh\", \"tanh\"]"), "grid.activation", "lists tanh twice"),
    (valid + "\n[observe]\njacobian = { depths = [2, 4] }", "observe.jacobian.depths", "4 is deeper than the deepest network"),
    (valid + "\n[observe]\nlyapunov = { k = 17 }", "observe.lyapunov.k", "exceeds the narrowest width 16"),
    (broken("width", with: "width = [1e12]"), "grid.width", "an integer, a width ≥ 1, below 10⁹"),
    (conv.replacingOccurrences(of: "kernel_size = 3", with: "kernel_size = 4"), "network.kernel_size", "odd"),
    (conv.replacingOccurrences(of: "kernel_size = 3", with: "kernel_size = 9"), "network.kernel_size", "wider than"),
    (conv.replacingOccurrences(of: "shape = [2, 8]", with: "shape = [2, 8, 8, 8]"), "inputs.shape", "[C0, L] or [C0, H, W]"),
    (conv.replacingOccurrences(of: "shape = [2, 8]", with: "shape = [2, 0]"), "inputs.shape", "an extent ≥ 1"),
    (conv.replacingOccurrences(of: "shape = [2, 8]\n", with: ""), "inputs.shape", "missing"),
    (conv.replacingOccurrences(of: "init = [\"gaussian\", \"delta-orthogonal\"]", with: "init = \"orthogonal\""),
     "network.init", "delta-orthogonal"),
    (conv.replacingOccurrences(of: "forward = [\"q\", \"c\"]", with: "forward = [\"q\", \"orth_gap\"]"),
     "observe.forward", "not available for conv"),
    (valid + "\n[observe]\nforward = [\"q\", \"spatial\"]", "observe.forward", "feedforward nets have none"),
    (conv.replacingOccurrences(of: "architecture = \"conv\"", with: "architecture = [\"conv\", \"feedforward\"]"),
     "network.architecture", "cannot share a campaign"),
    (valid + "\n[network]\nkernel_size = 3", "network.kernel_size", "is not allowed here"),
    (conv.replacingOccurrences(of: "shape = [2, 8]", with: "shape = [2, 32, 32]")
        .replacingOccurrences(of: "forward = [\"q\", \"c\"]", with: "forward = [\"q\", \"eff_rank\"]")
        .replacingOccurrences(of: "depth = [3]", with: "depth = [1000]"), "observe.forward", "Gaussian integrals a layer"),
    (conv.replacingOccurrences(of: "architecture = \"conv\"", with: "architecture = \"conv-residual\""), "grid.width",
     "every width must equal C0"),
    (conv.replacingOccurrences(of: "architecture = \"conv\"", with: "architecture = [\"conv-batchnorm\", \"batchnorm\"]"),
     "network.architecture", "cannot share a campaign"),
    (conv.replacingOccurrences(of: "kernel_size = 3", with: "kernel_size = 3\nweight_scaling = \"width*depth\""),
     "network.weight_scaling", "fully connected"),
    (valid + "\n[network]\ninit = \"delta-orthogonal\"", "network.init", "convolutional kernel"),
    (broken("kind", with: "kind = \"gaussian\"\nshape = [2, 8]").replacingOccurrences(of: "c0 = 0.5", with: ""),
     "inputs.shape", "is not allowed here"),
    (broken("kind", with: "kind = \"gram\"\nshape = [2, 8]"), "inputs.shape", "only kind = \"gaussian\""),
    (conv.replacingOccurrences(of: "kind = \"gaussian\"\ncount = 2\nshape = [2, 8]",
                               with: "kind = \"file\"\npath = \"\(repository)/examples/data/sphere-train-x.npy\""),
     "inputs.path", "expected shape (B, C0, L) or (B, C0, H, W)"),
]

/// The repository's root, for its example files.
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A valid convolutional campaign: 1-D signals of 2 channels at 8 positions.
private let conv = """
name = "t"
samples = 4
[grid]
width = [16]
depth = [3]
[network]
architecture = "conv"
kernel_size = 3
init = ["gaussian", "delta-orthogonal"]
[inputs]
kind = "gaussian"
count = 2
shape = [2, 8]
[observe]
forward = ["q", "c"]
"""

@Suite struct ConfigTests {
    @Test func validCampaignExpandsInFixedOrder() throws {
        let c = try Campaign(toml: valid)
        #expect(c.samples == 4 && c.block == 2 && c.tasksPerPoint == 2 && c.seed == 3)
        #expect(c.points.map(\.network.sigmaW) == [1.0, 2.0])
        #expect(c.samples(ofTask: 1) == 2..<4)
        #expect(c.observables.forward == ["q", "c"])
    }

    /// A conv campaign: its points carry the spatial shape and the kernel; N₀ = C₀·P whatever
    /// the width, and the inputs a task samples from have those C₀·P rows (they once had the
    /// width's, unseen where the two were equal).
    @Test func convCampaignCarriesShapeAndKernel() throws {
        let c = try Campaign(toml: conv.replacingOccurrences(of: "width = [16]", with: "width = [24]"))
        #expect(c.points.count == 2)
        #expect(c.points.map(\.network.weightInit) == [.gaussian, .deltaOrthogonal])
        #expect(c.points.allSatisfy { $0.network.spatialShape == [8] && $0.network.architecture == .convolution(kernelSize: 3) })
        #expect(c.inputDimension(width: 24) == 16 && c.points[0].network.units == 192)
        let inputs = try TaskCatalog(campaign: c).prepared(0).inputs
        #expect(inputs.dimension == 16 && inputs.matrix.rows == 16)
    }

    /// Labatie's conv families parse: a residual conv net keeps C = C₀, batch norm wants σ_b = 0.
    @Test func convFamiliesParse() throws {
        let c = try Campaign(toml: conv.replacingOccurrences(of: "architecture = \"conv\"",
                                                             with: "architecture = [\"conv\", \"conv-residual\", \"conv-batchnorm\", \"conv-batchnorm-residual\"]\nresidual_scale = 0.5")
            .replacingOccurrences(of: "shape = [2, 8]", with: "shape = [16, 8]")
            .replacingOccurrences(of: "depth = [3]", with: "depth = [3]\nsigma_b = [0.0]"))
        #expect(Set(c.points.map(\.network.architecture.name)) == ["conv", "conv-residual", "conv-batchnorm", "conv-batchnorm-residual"])
        #expect(c.points.contains { $0.network.architecture == .convolution(kernelSize: 3, family: .residual(scale: 0.5)) })
    }

    @Test func rangesExpandEvenlyWithBothEnds() throws {
        let c = try Campaign(toml: broken("sigma_w", with: "sigma_w = { from = 0.5, to = 3.0, steps = 6 }"))
        #expect(c.grid.sigmaW == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    }

    @Test(arguments: brokenCampaigns.indices)
    func brokenCampaignIsRefusedNamingTheKey(_ i: Int) {
        let (toml, key, phrase) = brokenCampaigns[i]
        do {
            _ = try Campaign(toml: toml)
            Issue.record("case \(i) was accepted: \(key)")
        } catch {
            #expect(error.key == key, "case \(i): \(error)")
            #expect(error.description.contains(phrase), "case \(i): \(error)")
        }
    }

    @Test func hashChangesWithTheCampaignAndNotWithSpelling() throws {
        let a = try Campaign(toml: valid)
        let explicitDefault = try Campaign(toml: broken("name", with: "name = \"t\"\nprecision = \"float64\""))
        #expect(explicitDefault.hash == a.hash)
        let c = try Campaign(toml: broken("seed", with: "seed = 4"))
        #expect(c.hash != a.hash)
        // A conv campaign's kernel and its inputs' shape are part of what a resume must match.
        let k3 = try Campaign(toml: conv), k5 = try Campaign(toml: conv.replacingOccurrences(of: "kernel_size = 3", with: "kernel_size = 5"))
        let wider = try Campaign(toml: conv.replacingOccurrences(of: "shape = [2, 8]", with: "shape = [2, 9]"))
        #expect(k3.hash != k5.hash && k3.hash != wider.hash)
    }
}
