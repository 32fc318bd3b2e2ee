import Ensembles
import Foundation
import MeanField
import Randomness
import TOMLKit

extension Campaign {
    /// Reads and validates a campaign file (TOML, DESIGN §4). Relative input paths are
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
        let top = Section(table: root, path: "")
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
        let network = try top.table("network") ?? Section(table: TOMLTable(), path: "network")
        try network.allow(["architecture", "init", "residual_scale", "residual_normalize", "weight_scaling", "backend"])
        let architectureNames = try network.stringList("architecture", default: ["feedforward"])
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
            switch name {
            case "feedforward": architectures.append(.feedforward)
            case "residual": architectures.append(.residual(scale: scale))
            case "batchnorm": architectures.append(.batchNorm)
            case "batchnorm-linear-chain": architectures.append(.batchNormChain)
            case "batchnorm-residual": architectures.append(.batchNormResidual(scale: scale, normalized: normalize))
            default:
                throw ConfigError(key: "network.architecture", "'\(name)' is not available; allowed: feedforward, "
                                  + "residual, batchnorm, batchnorm-residual, batchnorm-linear-chain")
            }
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

        let inputTable = try top.table("inputs") ?? Section(table: TOMLTable(), path: "inputs")
        inputs = try Self.parseInputs(inputTable, grid: grid, baseDirectory: baseDirectory)
        // Every weight of a layer is one element of its random stream.
        var fileDimension: Int?
        if case .file(_, let rows, _) = inputs { fileDimension = rows[0].count }
        let inputDimension = { (w: Int) -> Int in fileDimension ?? w }
        if batchNorm != nil, inputs.count < 2 {
            throw ConfigError(key: "inputs.count", "\(inputs.count) input cannot be batch-normalised; batch norm needs ≥ 2 inputs")
        }
        if architectures.contains(where: \.isResidual), case .file(_, let rows, _) = inputs, let w = grid.width.first(where: { $0 != rows[0].count }) {
            throw ConfigError(key: "grid.width", "\(w) differs from the input dimension \(rows[0].count); a residual net "
                              + "adds x^{l−1} to φ(h^l), so every width must equal the input dimension")
        }

        let observe = try top.table("observe") ?? Section(table: TOMLTable(), path: "observe")
        try observe.allow(["forward", "jacobian", "lyapunov", "nngp_depths", "gram_spectrum", "ntk"])
        let names = try observe.stringList("forward", default: ["q", "c"])
        var forward: [ForwardObservable] = []
        for n in names {
            guard let o = ForwardObservable(rawValue: n) else {
                throw ConfigError(key: "observe.forward", "'\(n)' is not an observable; allowed: \(ForwardObservable.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !forward.contains(o) { forward.append(o) }
        }
        guard !forward.isEmpty else { throw ConfigError(key: "observe.forward", "is empty; name at least one of q, c, gram") }
        let nngpDepths = try observe.intAxis("nngp_depths", min: 1, what: "a layer ≥ 1", default: [])
        if !nngpDepths.isEmpty, !forward.contains(.nngp) {
            throw ConfigError(key: "observe.nngp_depths", "is set but forward does not list \"nngp\"")
        }
        if forward.contains(.sensitivity) {
            var identical = false
            switch inputs {
            case .gram(let count, _, let c0): identical = count > 1 && c0 == 1
            case .file(_, let rows, _): identical = rows.count > 1 && rows.allSatisfy { $0 == rows[0] }
            case .gaussian, .circle: identical = false
            }
            if identical {
                throw ConfigError(key: "observe.forward", "'sensitivity' needs inputs that differ: its signal is their "
                                  + "spread Tr C[x⁰], which is 0 for identical inputs")
            }
        }
        let deepest = grid.depth.max() ?? 0
        if let d = nngpDepths.first(where: { $0 > deepest }) {
            throw ConfigError(key: "observe.nngp_depths", "\(d) is deeper than every net of the grid (depths \(grid.depth))")
        }
        let jacobian = try Self.parseJacobian(observe), lyapunov = try Self.parseLyapunov(observe)
        let ntk = try observe.bool("ntk", default: false)
        if let bn = batchNorm, jacobian != nil || lyapunov != nil || ntk {
            throw ConfigError(key: jacobian != nil ? "observe.jacobian" : (lyapunov != nil ? "observe.lyapunov" : "observe.ntk"),
                              "is not available for \(bn.name): batch norm couples the inputs of the batch, so "
                              + "∂x^L/∂x^0 of one input is not the product the Jacobian observables sample")
        }
        observables = Observables(forward: forward, jacobian: jacobian, lyapunov: lyapunov,
                                  nngpDepths: Array(Set(nngpDepths)).sorted(), gramSpectrum: try Self.parseGramSpectrum(observe),
                                  ntk: ntk)

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
                let reason = Backend.implicitUnsupported(spec: probe, observables: observables, inputDimension: n0,
                                                         batch: inputs.count)
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
                    let columns = inputs.count + (observables.lyapunov?.count(inputDimension: n0, width: w) ?? 0)
                        + (forward.contains(.sensitivity) ? inputs.count : 0)
                    if w * columns > RandomStream.elementLimit {
                        throw ConfigError(key: "grid.width", "\(w) is too large even for the implicit backend: a layer's "
                                          + "\(w)×\(columns) normals exceed one random stream's 2^33 elements")
                    }
                }
            }
        }
    }

    private static func parseJacobian(_ observe: Section) throws(ConfigError) -> JacobianObservable? {
        guard let t = try observe.table("jacobian") else { return nil }
        try t.allow(["depths", "bins", "range"])
        let depths = try t.intAxis("depths", min: 1, what: "a layer ≥ 1", default: [])
        let (bins, range) = try histogram(t, bins: 200, range: 1e-12...1e4, of: "λ")
        return JacobianObservable(depths: Array(Set(depths)).sorted(), bins: bins, range: range)
    }

    /// A pooled histogram's `bins` (1 … 100000) and log-spaced `range` ([lo, hi], 0 < lo < hi).
    private static func histogram(_ t: Section, bins defaultBins: Int, range defaultRange: ClosedRange<Double>,
                                  of quantity: String) throws(ConfigError) -> (Int, ClosedRange<Double>) {
        let bins = try t.int("bins", default: defaultBins)
        guard (1...100_000).contains(bins) else {
            throw ConfigError(key: t.key("bins"), "\(bins) is out of range; use 1 … 100000 bins")
        }
        let range = try t.realAxis("range", default: [defaultRange.lowerBound, defaultRange.upperBound])
        guard range.count == 2, range[0] > 0, range[1] > range[0], range.allSatisfy(\.isFinite) else {
            throw ConfigError(key: t.key("range"), "\(range) is not a range of \(quantity); write [lo, hi] with 0 < lo < hi")
        }
        return (bins, range[0]...range[1])
    }

    /// `gram_spectrum = true` or `{ bins = 100, range = [1e-4, 1e4] }`.
    private static func parseGramSpectrum(_ observe: Section) throws(ConfigError) -> GramSpectrumObservable? {
        if let flag = observe.table["gram_spectrum"]?.bool { return flag ? GramSpectrumObservable() : nil }
        guard let t = try observe.table("gram_spectrum") else { return nil }
        try t.allow(["bins", "range"])
        let (bins, range) = try histogram(t, bins: 100, range: 1e-4...1e4, of: "eigenvalues")
        return GramSpectrumObservable(bins: bins, range: range)
    }

    private static func parseLyapunov(_ observe: Section) throws(ConfigError) -> LyapunovObservable? {
        guard let t = try observe.table("lyapunov") else { return nil }
        try t.allow(["k"])
        guard let v = t.table["k"] else { return LyapunovObservable(k: 16) }
        if v.string == "all" { return LyapunovObservable(k: nil) }
        guard let k = v.int, k >= 1 else {
            throw ConfigError(key: t.key("k"), "expected an integer ≥ 1 or \"all\", got \(v.type) \(v.debugDescription)")
        }
        return LyapunovObservable(k: k)
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
        var inits: [WeightInit] = []
        for name in try network.stringList("init", default: ["gaussian"]) {
            guard let w = WeightInit(rawValue: name) else {
                throw ConfigError(key: "network.init", "'\(name)' is not an initialisation; allowed: gaussian, orthogonal")
            }
            inits.append(w)
        }
        for (key, count) in [("grid.activation", activations.count), ("network.init", inits.count)] where count == 0 {
            throw ConfigError(key: key, "is an empty list; give at least one value")
        }
        let grid = Grid(width: width, depth: depth, sigmaW: sigmaW, sigmaB: sigmaB, activation: activations, weightInit: inits,
                        architecture: architectures)
        guard grid.count <= 10_000_000 else {
            throw ConfigError(key: "grid", "\(grid.count) grid points is more than 10^7; split the campaign")
        }
        return grid
    }

    private static func parseInputs(_ t: Section, grid: Grid, baseDirectory: String) throws(ConfigError) -> InputSource {
        try t.allow(["kind", "count", "q0", "c0", "path", "normalize"])
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
                return .gaussian(count: count, q0: q0)
            }
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
            let rows: [[Double]]
            do { rows = try InputFile.read(path: resolved) } catch {
                throw ConfigError(key: "inputs.path", error.description)
            }
            let normalize = try t.bool("normalize", default: false)
            return .file(path: path, rows: rows, q0: normalize ? q0 : nil)
        default:
            throw ConfigError(key: "inputs.kind", "'\(kind)' is not an input kind; allowed: gram, gaussian, circle, file")
        }
    }
}

/// A TOML table with its dotted path, and typed getters that fail with a ``ConfigError``
/// naming the key, the value and what was expected.
struct Section {
    let table: TOMLTable
    let path: String

    func key(_ k: String) -> String { path.isEmpty ? k : "\(path).\(k)" }

    func allow(_ keys: [String]) throws(ConfigError) {
        for k in table.keys where !keys.contains(k) {
            throw ConfigError(key: key(k), "unknown key; allowed here: \(keys.joined(separator: ", "))")
        }
    }

    func forbid(_ keys: [String], because reason: String) throws(ConfigError) {
        for k in keys where table.keys.contains(k) {
            throw ConfigError(key: key(k), "not allowed with this input kind: \(reason)")
        }
    }

    func table(_ k: String) throws(ConfigError) -> Section? {
        guard let v = table[k] else { return nil }
        guard let t = v.table else { throw ConfigError(key: key(k), "expected a table, got \(describe(v))") }
        return Section(table: t, path: key(k))
    }

    func string(_ k: String, default d: String) throws(ConfigError) -> String {
        guard let v = table[k] else { return d }
        guard let s = v.string else { throw ConfigError(key: key(k), "expected a string, got \(describe(v))") }
        return s
    }

    func int(_ k: String, default d: Int) throws(ConfigError) -> Int {
        guard let v = table[k] else { return d }
        guard let i = v.int else { throw ConfigError(key: key(k), "expected an integer, got \(describe(v))") }
        return i
    }

    func real(_ k: String, default d: Double) throws(ConfigError) -> Double {
        guard let v = table[k] else { return d }
        if let x = v.double { return x }
        if let i = v.int { return Double(i) }
        throw ConfigError(key: key(k), "expected a number, got \(describe(v))")
    }

    func bool(_ k: String, default d: Bool) throws(ConfigError) -> Bool {
        guard let v = table[k] else { return d }
        guard let b = v.bool else { throw ConfigError(key: key(k), "expected true or false, got \(describe(v))") }
        return b
    }

    /// A string or a list of strings.
    func stringList(_ k: String, default d: [String]) throws(ConfigError) -> [String] {
        guard let v = table[k] else { return d }
        if let s = v.string { return [s] }
        guard let a = v.array else { throw ConfigError(key: key(k), "expected a string or a list of strings, got \(describe(v))") }
        var out: [String] = []
        for e in a {
            guard let s = e.string else { throw ConfigError(key: key(k), "expected a list of strings, found \(describe(e))") }
            out.append(s)
        }
        return out
    }

    /// A number, a list of numbers, or `{ from, to, steps }` (evenly spaced, both ends included).
    func realAxis(_ k: String, default d: [Double]?) throws(ConfigError) -> [Double] {
        guard let v = table[k] else {
            if let d { return d }
            throw ConfigError(key: key(k), "missing; give a list like [1.0, 2.0] or { from = 1.0, to = 2.0, steps = 5 }")
        }
        let values: [Double]
        if let x = v.double ?? v.int.map(Double.init) {
            values = [x]
        } else if let a = v.array {
            var out: [Double] = []
            for e in a {
                guard let x = e.double ?? e.int.map(Double.init) else {
                    throw ConfigError(key: key(k), "expected a list of numbers, found \(describe(e))")
                }
                out.append(x)
            }
            values = out
        } else if let t = v.table {
            let range = Section(table: t, path: key(k))
            try range.allow(["from", "to", "steps"])
            for required in ["from", "to", "steps"] where t[required] == nil {
                throw ConfigError(key: range.key(required), "missing; a range is { from = a, to = b, steps = n }")
            }
            let from = try range.real("from", default: 0), to = try range.real("to", default: 0)
            let steps = try range.int("steps", default: 0)
            guard (1...100_000).contains(steps) else {
                throw ConfigError(key: range.key("steps"), "\(steps) is out of range; use 1 … 100000 steps")
            }
            guard steps > 1 || from == to else {
                throw ConfigError(key: range.key("steps"), "1 step cannot span from \(from) to \(to); use steps ≥ 2 or from = to")
            }
            values = steps == 1 ? [from] : (0..<steps).map { i in
                i == steps - 1 ? to : from + (to - from) * Double(i) / Double(steps - 1)
            }
        } else {
            throw ConfigError(key: key(k), "expected a number, a list of numbers or { from, to, steps }, got \(describe(v))")
        }
        guard !values.isEmpty else { throw ConfigError(key: key(k), "is an empty list; give at least one value") }
        return values
    }

    /// Like ``realAxis`` but every value must be an integer ≥ `min`.
    func intAxis(_ k: String, min: Int, what: String, default d: [Int]? = nil) throws(ConfigError) -> [Int] {
        if table[k] == nil, let d { return d }
        var out: [Int] = []
        for x in try realAxis(k, default: nil) {
            guard x == x.rounded(), x >= Double(min), x < 1e9 else {
                throw ConfigError(key: key(k), "\(x) is out of range; each value must be \(what)")
            }
            out.append(Int(x))
        }
        return out
    }

    private func describe(_ v: TOMLValueConvertible) -> String {
        "\(v.type) \(v.debugDescription)"
    }
}
