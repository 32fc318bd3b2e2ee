import ArgumentParser
import Ensembles
import Foundation
import GaussianProcess
import MeanField
import Sweep

struct GPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gp",
        abstract: "Posterior of the infinite-width network as a Gaussian process (NNGP and NTK-GP).",
        discussion: """
        Exact Bayesian prediction with the kernels of a random feedforward net of the given
        depth, φ, σ_w and σ_b (Lee et al. 2018; Jacot et al. 2018): the NNGP posterior mean
        K*X K⁻¹ Y and variance K** − K*X K⁻¹ KX*, and the mean and variance of the infinitely
        wide net trained to convergence by gradient flow on the squared loss, over its
        random initialisation (Lee et al. 2019, eq. 16, with the NTK Θ). Kernels of the
        output h^L from the joint Gram x·x'/N₀ of the training and test inputs; Cholesky
        solves. A K(X, X) that is not numerically positive definite (repeated or nearly
        collinear inputs) is refused with the reason; --jitter adds to its diagonal.

        Files: .npy (float32/float64, C order; 1-D read as one column) or .csv, one input
        (or target) per row. The network comes from the flags or from --config, a campaign
        of a feedforward net (weight_scaling = "width") whose grid has one value of activation,
        sigma_w, sigma_b and depth; the initialisation does not matter (Gaussian and orthogonal
        weights share the infinite-width kernels).

        Example:
          signalprop gp --train x.npy y.npy --test xs.npy --activation relu --sigma-w 1.4 --sigma-b 0.1 --depth 5
        """
    )

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Training inputs and targets: two files.", valueName: "X Y"))
    var train: [String]

    @Option(help: ArgumentHelp("Test inputs.", valueName: "Xs"))
    var test: String

    @Option(help: ArgumentHelp("Take φ, σ_w, σ_b and depth from this campaign file.", valueName: "campaign.toml"))
    var config: String?

    @Option(help: ArgumentHelp("φ: \(Activation.allowedNames.joined(separator: ", ")).", valueName: "name"))
    var activation: Activation?

    @Option(name: .customLong("sigma-w"), parsing: .unconditional, help: "Weight scale σ_w (> 0).")
    var sigmaW: Double?

    @Option(name: .customLong("sigma-b"), parsing: .unconditional, help: "Bias scale σ_b (≥ 0; default 0).")
    var sigmaB: Double?

    @Option(parsing: .unconditional, help: "Number of layers (default 1).")
    var depth: Int?

    @Option(parsing: .unconditional, help: "Added to the diagonal of the training kernels (≥ 0).")
    var jitter: Double = 0

    @Option(help: ArgumentHelp("Also write the posterior as CSV here.", valueName: "file.csv"))
    var out: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard train.count == 2 else { throw ValidationError("--train takes two files, the inputs and the targets: --train X.npy Y.npy") }
        guard jitter >= 0, jitter.isFinite else { throw ValidationError("--jitter must be finite and ≥ 0, got \(jitter)") }
        if config != nil, activation != nil || sigmaW != nil || sigmaB != nil || depth != nil {
            throw ValidationError("give the network either with --config or with --activation/--sigma-w/--sigma-b/--depth, not both")
        }
        if config == nil, activation == nil || sigmaW == nil {
            throw ValidationError("--activation and --sigma-w are needed (or --config campaign.toml)")
        }
        if let sigmaW { guard sigmaW > 0, sigmaW.isFinite else { throw ValidationError("--sigma-w must be finite and > 0") } }
        if let sigmaB { guard sigmaB >= 0, sigmaB.isFinite else { throw ValidationError("--sigma-b must be finite and ≥ 0") } }
        if let depth { guard depth >= 1 else { throw ValidationError("--depth must be ≥ 1, got \(depth)") } }
    }

    /// (φ, σ_w, σ_b, depth) from the flags or the campaign's one-point grid.
    func network() throws -> (Activation, Double, Double, Int) {
        guard let config else { return (activation!, sigmaW!, sigmaB ?? 0, depth ?? 1) }
        let campaign = try Campaign(contentsOf: config)
        let grid = campaign.grid
        guard grid.architecture == [.feedforward], campaign.weightScaling == .width else {
            throw CommandFailure(message: "\(config): gp's kernels are those of a feedforward net with weights σ_w²/N; "
                                 + "this campaign has architecture \(grid.architecture.map(\.name)) and weight_scaling "
                                 + "\(campaign.weightScaling.rawValue)", status: usageExitCode)
        }
        for (key, count) in [("activation", grid.activation.count), ("sigma_w", grid.sigmaW.count),
                             ("sigma_b", grid.sigmaB.count), ("depth", grid.depth.count)] where count != 1 {
            throw CommandFailure(message: "\(config): grid.\(key) has \(count) values; gp needs one network", status: usageExitCode)
        }
        return (grid.activation[0], grid.sigmaW[0], grid.sigmaB[0], grid.depth[0])
    }

    func run() throws {
        let (phi, sw, sb, l) = try network()
        func read(_ path: String) throws -> [[Double]] {
            do { return try InputFile.read(path: path) } catch { throw CommandFailure(message: error.description, status: usageExitCode) }
        }
        let (x, y, xs) = (try read(train[0]), try read(train[1]), try read(test))
        let gp = NetworkGaussianProcess(activation: phi, sigmaW: sw, sigmaB: sb, depth: l)
        let (nngp, ntk): (Posterior, Posterior)
        do { (nngp, ntk) = try gp.posterior(train: x, targets: y, test: xs, jitter: jitter) } catch {
            throw CommandFailure(message: error.description, status: error.kind == .input ? usageExitCode : 1)
        }
        let outputs = y[0].count
        let header = ["test"] + (0..<outputs).map { "nngp_mean_\($0)" } + ["nngp_var"]
            + (0..<outputs).map { "ntk_mean_\($0)" } + ["ntk_var"]
        let rows = xs.indices.map { i in
            [Double(i)] + nngp.means[i] + [nngp.variances[i]] + ntk.means[i] + [ntk.variances[i]]
        }
        if let out {
            let text = ([header.joined(separator: ",")] + rows.map { r in
                ([String(Int(r[0]))] + r.dropFirst().map { "\($0)" }).joined(separator: ",")
            }).joined(separator: "\n") + "\n"
            do { try AtomicFile.write(text, to: out) } catch { throw CommandFailure(message: error.description, status: 1) }
        }
        if json {
            print(try JSON.text([
                "activation": phi.name, "sigma_w": sw, "sigma_b": sb, "depth": l, "jitter": jitter,
                "train": x.count, "test": xs.count, "outputs": outputs,
                "nngp": ["mean": nngp.means, "variance": nngp.variances.map { JSON.number($0) }],
                "ntk": ["mean": ntk.means, "variance": ntk.variances.map { JSON.number($0) }],
            ]))
            return
        }
        print("\(phi.name), σ_w = \(sw), σ_b = \(sb), depth \(l): \(x.count) training inputs, \(xs.count) test inputs")
        print(header.map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined(separator: " "))
        for r in rows {
            print(([String(Int(r[0]))] + r.dropFirst().map { String(format: "%.6g", $0) })
                .map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined(separator: " "))
        }
    }
}
