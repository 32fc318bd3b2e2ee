import Ensembles
import Foundation
import MeanField
import Randomness
import TOMLKit

extension Campaign {
    /// Reads and validates a campaign file (TOML; README, "A campaign file"). Relative input paths are
    /// resolved against the file's folder.
    public init(contentsOf path: String) throws(ConfigError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(key: "", "cannot read campaign file '\(path)'")
        }
        let folder = (path as NSString).deletingLastPathComponent
        try self.init(toml: String(decoding: data, as: UTF8.self), baseDirectory: folder.isEmpty ? "." : folder)
    }

    /// Parses and validates campaign TOML text.
    public init(toml text: String, baseDirectory: String = ".") throws(ConfigError) {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(key: "", "not valid TOML at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigError(key: "", "not valid TOML: \(error)")
        }
        let top = Section(table: ConfigTable(toml: root), path: "")
        try top.allow(["name", "seed", "samples", "block", "precision", "grid", "network", "inputs", "observe"])

        name = try top.string("name", default: "campaign")
        guard !name.isEmpty else { throw ConfigError(key: "name", "must not be empty") }
        let seedValue = try top.int("seed", default: 1)
        guard seedValue >= 0 else { throw ConfigError(key: "seed", "\(seedValue) is negative; use an integer ≥ 0") }
        seed = UInt64(seedValue)
        samples = try top.int("samples", default: 32)
        guard samples >= 2 else {
            throw ConfigError(key: "samples", "\(samples) is too few; need ≥ 2 networks per point for a standard error")
        }
        guard samples <= Int(Int32.max) else {
            throw ConfigError(key: "samples", "\(samples) is too many; at most \(Int32.max) networks per point")
        }
        block = try top.int("block", default: 8)
        guard block >= 1 else { throw ConfigError(key: "block", "\(block) must be ≥ 1 network per task") }
        let precisionName = try top.string("precision", default: "float64")
        guard let p = Precision(rawValue: precisionName) else {
            throw ConfigError(key: "precision", "'\(precisionName)' is not a precision; allowed: float32, float64")
        }
        precision = p

        guard let gridTable = try top.table("grid") else {
            throw ConfigError(key: "grid", "missing; a campaign needs a [grid] table with at least width and depth")
        }
        let network = try top.table("network") ?? Section(table: ConfigTable(), path: "network")
        try network.allow(["architecture", "init", "residual_scale", "residual_normalize", "weight_scaling", "backend",
                           "kernel_size"])
        let architectureNames = try network.stringList("architecture", default: ["feedforward"])
        let isConv = { (name: String) in name == "conv" || name.hasPrefix("conv-") }
        let convolutional = architectureNames.contains(where: isConv)
        if let conv = architectureNames.first(where: isConv), let other = architectureNames.first(where: { !isConv($0) }) {
            throw ConfigError(key: "network.architecture", "'\(conv)' cannot share a campaign with '\(other)': a conv net's "
                              + "inputs are signals over positions ([inputs] shape), a fully connected net's are vectors")
        }
        if !convolutional, network.table["kernel_size"] != nil {
            throw ConfigError(key: "network.kernel_size", "is not allowed here: kernel_size is the footprint of architecture = \"conv\"")
        }
        let kernelSize = try network.int("kernel_size", default: 3)
        let scale = try network.real("residual_scale", default: 1)
        guard scale.isFinite, scale >= 0 else {
            throw ConfigError(key: "network.residual_scale", "\(scale) is out of range; a must be finite and ≥ 0")
        }
        let normalize = try network.bool("residual_normalize", default: false)
        if normalize, !architectureNames.contains("batchnorm-residual") {
            throw ConfigError(key: "network.residual_normalize", "applies to batchnorm-residual only (x^l divided by √(1 + a²))")
        }
        var architectures: [Architecture] = []
        for name in architectureNames {
            guard let a = Architecture(name: name, residualScale: scale, normalized: normalize, kernelSize: kernelSize) else {
                throw ConfigError(key: "network.architecture", "'\(name)' is not available; allowed: "
                                  + Architecture.names.joined(separator: ", "))
            }
            architectures.append(a)
        }
        guard !architectures.isEmpty else { throw ConfigError(key: "network.architecture", "is an empty list; give at least one value") }
        if !architectures.contains(where: \.isResidual), network.table["residual_scale"] != nil {
            throw ConfigError(key: "network.residual_scale", "is not allowed here: residual_scale is the a of residual nets")
        }
        let scaling = try network.string("weight_scaling", default: architectureNames == ["residual"] ? "width*depth" : "width")
        guard let ws = WeightScaling(rawValue: scaling) else {
            throw ConfigError(key: "network.weight_scaling", "'\(scaling)' is not a scaling; allowed: width, width*depth")
        }
        weightScaling = ws
        grid = try Self.parseGrid(gridTable, network: network, architectures: architectures)
        let batchNorm = architectures.first(where: \.usesBatchNorm)
        if let bn = batchNorm, let b = grid.sigmaB.first(where: { $0 != 0 }) {
            throw ConfigError(key: "grid.sigma_b", "\(b) has no effect: batch norm subtracts each neuron's mean, bias "
                              + "included; set sigma_b = [0.0] for \(bn.name)")
        }
        if architectures.contains(.batchNormChain), let a = grid.activation.first(where: { $0 != .linear }) {
            throw ConfigError(key: "grid.activation", "'\(a.name)' is not linear; the batchnorm-linear-chain is "
                              + "H_{l+1} = BN(W_l H_l), set activation = [\"linear\"] (or use architecture = \"batchnorm\")")
        }

        let inputTable = try top.table("inputs") ?? Section(table: ConfigTable(), path: "inputs")
        inputs = try Self.parseInputs(inputTable, grid: grid, baseDirectory: baseDirectory, signals: convolutional)
        if convolutional {
            switch inputs {
            case .gaussianSignal, .signalFile: break
            default:
                throw ConfigError(key: "inputs.shape", "missing; a conv net needs signals: kind = \"gaussian\" with "
                                  + "shape = [C0, L] or [C0, H, W], or kind = \"file\" with a (B, C0, L) or (B, C0, H, W) .npy")
            }
            for weightInit in grid.weightInit where weightInit == .orthogonal {
                throw ConfigError(key: "network.init", "'\(weightInit.rawValue)' is for fully connected nets; a conv net's "
                                  + "orthogonal kernel is \"delta-orthogonal\"")
            }
            _ = try Convolution(shape: inputs.spatialShape, size: kernelSize, sigmaW: 1, kernel: .gaussian)
            if weightScaling != .width {
                throw ConfigError(key: "network.weight_scaling", "'\(weightScaling.rawValue)' is for fully connected nets; a "
                                  + "conv kernel's taps have variance σ_w²/(C_in k^d)")
            }
            let channels = inputs.dimension(width: 0) / max(1, inputs.spatialShape.reduce(1, *))
            if let residual = architectures.first(where: \.isResidual), let c = grid.width.first(where: { $0 != channels }) {
                throw ConfigError(key: "grid.width", "\(c) channels differ from the inputs' C0 = \(channels); \(residual.name) "
                                  + "adds x^{l−1} to φ(h^l), so every width must equal C0")
            }
        } else {
            if case .gaussianSignal = inputs {
                throw ConfigError(key: "inputs.shape", "is not allowed here: shape gives the signals of architecture = \"conv\"")
            }
            if grid.weightInit.contains(.deltaOrthogonal) {
                throw ConfigError(key: "network.init", "'delta-orthogonal' is a convolutional kernel; a fully connected "
                                  + "net's is \"orthogonal\"")
            }
        }
        // Every weight of a layer is one element of its random stream.
        let inputDimension = { [inputs] (w: Int) -> Int in inputs.dimension(width: w) }
        if batchNorm != nil, inputs.count < 2 {
            throw ConfigError(key: "inputs.count", "\(inputs.count) input cannot be batch-normalised; batch norm needs ≥ 2 inputs")
        }
        if architectures.contains(where: \.isResidual), case .file(_, let rows, _) = inputs, let w = grid.width.first(where: { $0 != rows[0].count }) {
            throw ConfigError(key: "grid.width", "\(w) differs from the input dimension \(rows[0].count); a residual net "
                              + "adds x^{l−1} to φ(h^l), so every width must equal the input dimension")
        }

        let observe = try top.table("observe") ?? Section(table: ConfigTable(), path: "observe")
        observables = try ObservableRegistry.parse(observe, depths: grid.depth, widths: grid.width, inputs: inputs, architectures: architectures)

        let backendName = try network.string("backend", default: "auto")
        guard let choice = BackendChoice(rawValue: backendName) else {
            throw ConfigError(key: "network.backend", "'\(backendName)' is not a backend; allowed: auto, dense, implicit")
        }
        backendChoice = choice
        // Each (width, init): the backend it gets, and whether its random streams can hold it.
        if let w = grid.width.first(where: { $0 > Int(Int32.max) }) {
            throw ConfigError(key: "grid.width", "\(w) is beyond BLAS's 32-bit dimensions (at most \(Int32.max))")
        }
        for w in grid.width {
            for weightInit in grid.weightInit {
                let probe = NetworkSpec(width: w, depth: 1, sigmaW: 1, sigmaB: 0, activation: .linear, weightInit: weightInit)
                let n0 = inputDimension(w)
                let shape = NetworkShape(spec: probe, batch: inputs.count, inputDimension: n0)
                let reason = observables.implicitUnsupported(shape)
                if choice == .implicit, let reason {
                    throw ConfigError(key: "network.backend", "implicit cannot sample width \(w) with \(weightInit.rawValue) "
                                      + "weights: \(reason); use backend = \"auto\" or \"dense\"")
                }
                if choice == .dense || reason != nil {
                    if w * max(w, n0) > RandomStream.elementLimit {
                        throw ConfigError(key: "grid.width", "\(w) is too large for dense sampling: a layer's \(w)×\(max(w, n0)) "
                                          + "weights exceed one random stream's 2^33 elements (widths up to 92681)"
                                          + (reason.map { "; the dense backend is needed because \($0) — drop it, or reduce the width" }
                                             ?? "; use backend = \"auto\" or \"implicit\", which never forms W"))
                    }
                } else {
                    let columns = inputs.count + observables.tangentColumns(shape)
                    if w * columns > RandomStream.elementLimit {
                        throw ConfigError(key: "grid.width", "\(w) is too large even for the implicit backend: a layer's "
                                          + "\(w)×\(columns) normals exceed one random stream's 2^33 elements")
                    }
                }
            }
        }
    }

    private static func parseGrid(_ g: Section, network: Section, architectures: [Architecture]) throws(ConfigError) -> Grid {
        try g.allow(["width", "depth", "sigma_w", "sigma_b", "activation"])
        let width = try g.intAxis("width", min: 1, what: "a width ≥ 1")
        let depth = try g.intAxis("depth", min: 1, what: "a depth ≥ 1")
        if let d = depth.first(where: { $0 > Int(StreamID.maxLayer) }) {
            throw ConfigError(key: "grid.depth", "\(d) is too deep; at most \(StreamID.maxLayer) layers")
        }
        let sigmaW = try g.realAxis("sigma_w", default: [1.0])
        for s in sigmaW where !(s > 0) || !s.isFinite {
            throw ConfigError(key: "grid.sigma_w", "\(s) is out of range; σ_w must be finite and > 0")
        }
        let sigmaB = try g.realAxis("sigma_b", default: [0.0])
        for s in sigmaB where !(s >= 0) || !s.isFinite {
            throw ConfigError(key: "grid.sigma_b", "\(s) is out of range; σ_b must be finite and ≥ 0")
        }
        var activations: [Activation] = []
        for name in try g.stringList("activation", default: ["tanh"]) {
            do { activations.append(try Activation(parsing: name)) } catch {
                throw ConfigError(key: "grid.activation", "\(error)")
            }
        }
        var inits: [WeightLaw] = []
        for name in try network.stringList("init", default: ["gaussian"]) {
            guard let w = WeightLaw(rawValue: name) else {
                throw ConfigError(key: "network.init", "'\(name)' is not an initialisation; allowed: gaussian, orthogonal, "
                                  + "delta-orthogonal (conv)")
            }
            inits.append(w)
        }
        for (key, count) in [("grid.activation", activations.count), ("network.init", inits.count)] where count == 0 {
            throw ConfigError(key: key, "is an empty list; give at least one value")
        }
        // Two equal values would make two grid points that look identical in every table.
        func refuseRepeats<T: Hashable>(_ key: String, _ values: [T], _ show: (T) -> String) throws(ConfigError) {
            var seen: Set<T> = []
            for v in values where !seen.insert(v).inserted {
                throw ConfigError(key: key, "lists \(show(v)) twice; each value once (repeats would make identical-looking points)")
            }
        }
        try refuseRepeats("grid.width", width) { "\($0)" }
        try refuseRepeats("grid.depth", depth) { "\($0)" }
        try refuseRepeats("grid.sigma_w", sigmaW) { "\($0)" }
        try refuseRepeats("grid.sigma_b", sigmaB) { "\($0)" }
        try refuseRepeats("grid.activation", activations) { $0.name }
        try refuseRepeats("network.init", inits) { $0.rawValue }
        let grid = Grid(width: width, depth: depth, sigmaW: sigmaW, sigmaB: sigmaB, activation: activations, weightInit: inits,
                        architecture: architectures)
        guard grid.count <= 10_000_000 else {
            throw ConfigError(key: "grid", "\(grid.count) grid points is more than 10^7; split the campaign")
        }
        return grid
    }

    /// `signals`: a conv campaign, whose files hold (B, C₀, L) or (B, C₀, H, W) arrays.
    private static func parseInputs(_ t: Section, grid: Grid, baseDirectory: String, signals: Bool) throws(ConfigError) -> InputSpec {
        try t.allow(["kind", "count", "q0", "c0", "path", "normalize", "shape"])
        let kind = try t.string("kind", default: "gram")
        let q0 = try t.real("q0", default: 1.0)
        guard q0 > 0, q0.isFinite else { throw ConfigError(key: "inputs.q0", "\(q0) is out of range; q0 = |x|²/N₀ must be finite and > 0") }
        switch kind {
        case "gram", "gaussian", "circle":
            try t.forbid(["path", "normalize"], because: "only kind = \"file\" reads a file")
            let count = try t.int("count", default: kind == "circle" ? 64 : 4)
            guard count >= 1 else { throw ConfigError(key: "inputs.count", "\(count) must be ≥ 1 input") }
            if kind == "circle" {
                try t.forbid(["c0"], because: "circle inputs have the correlations cos(2π(j − k)/count)")
                guard count >= 3 else { throw ConfigError(key: "inputs.count", "\(count) is too few; a circle needs ≥ 3 points") }
                if let w = grid.width.first(where: { $0 < 2 }) {
                    throw ConfigError(key: "grid.width", "\(w) is too small for circle inputs; the input dimension equals the width and must be ≥ 2")
                }
                return .circle(count: count, q0: q0)
            }
            if kind == "gaussian" {
                try t.forbid(["c0"], because: "Gaussian inputs have random correlations; use kind = \"gram\" to set c0")
                guard t.table["shape"] != nil else { return .gaussian(count: count, q0: q0) }
                let shape = try t.intAxis("shape", min: 1, what: "an extent ≥ 1")
                guard (2...3).contains(shape.count) else {
                    throw ConfigError(key: "inputs.shape", "\(shape) has \(shape.count) axes; a signal is [C0, L] or [C0, H, W]")
                }
                return .gaussianSignal(count: count, q0: q0, shape: shape)
            }
            try t.forbid(["shape"], because: "only kind = \"gaussian\" draws signals of a shape")
            let c0 = try t.real("c0", default: 0.5)
            let lower = count > 1 ? -1 / Double(count - 1) : -1
            // The Gram q0((1−c0)I + c0 11ᵀ) must be numerically positive definite for c0 < 0.
            guard c0 <= 1, c0 > lower || (count == 1 && c0 >= -1), c0 >= 0 || 1 + Double(count - 1) * c0 >= 1e-9 else {
                throw ConfigError(key: "inputs.c0", "\(c0) is out of range; with \(count) inputs of equal correlation c0 must be in (\(lower), 1]")
            }
            let needed = c0 >= 0 ? count + 1 : count
            if let w = grid.width.first(where: { $0 < needed }) {
                throw ConfigError(key: "grid.width", "\(w) is too small for \(count) gram inputs; the input dimension equals the width and must be ≥ \(needed)")
            }
            return .gram(count: count, q0: q0, c0: c0)
        case "file":
            try t.forbid(["count", "c0"], because: "a file's inputs are its rows")
            let path = try t.string("path", default: "")
            guard !path.isEmpty else { throw ConfigError(key: "inputs.path", "missing; kind = \"file\" needs path = \"inputs.npy\" (or .csv)") }
            let resolved = path.hasPrefix("/") ? path : baseDirectory + "/" + path
            let normalize = try t.bool("normalize", default: false)
            if signals {
                do {
                    let (rows, shape) = try InputFile.readSignals(path: resolved)
                    return .signalFile(path: path, rows: rows, q0: normalize ? q0 : nil, shape: shape)
                } catch {
                    throw ConfigError(key: "inputs.path", error.description)
                }
            }
            let rows: [[Double]]
            do { rows = try InputFile.read(path: resolved) } catch {
                throw ConfigError(key: "inputs.path", error.description)
            }
            return .file(path: path, rows: rows, q0: normalize ? q0 : nil)
        default:
            throw ConfigError(key: "inputs.kind", "'\(kind)' is not an input kind; allowed: gram, gaussian, circle, file")
        }
    }
}

extension ConfigTable {
    /// The tree of a TOML table, each value described as TOML writes it ("int 5").
    init(toml table: TOMLTable) {
        self.init(table.keys.map { key in (key, ConfigValue(toml: table[key]!)) })
    }
}

extension ConfigValue {
    init(toml v: TOMLValueConvertible) {
        let described = "\(v.type) \(v.debugDescription)"
        if let t = v.table {
            self.init(.table(ConfigTable(toml: t)), described: described)
        } else if let a = v.array {
            self.init(.array(a.map { ConfigValue(toml: $0) }), described: described)
        } else if let i = v.int {
            self.init(.integer(i), described: described)
        } else if let x = v.double {
            self.init(.real(x), described: described)
        } else if let s = v.string {
            self.init(.string(s), described: described)
        } else if let b = v.bool {
            self.init(.bool(b), described: described)
        } else {
            self.init(.other, described: described)
        }
    }
}
