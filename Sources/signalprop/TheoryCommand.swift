import ArgumentParser
import Ensembles
import Foundation
import MeanField

extension MapCurve.Kind: ExpressibleByArgument {}

/// Parses an activation name as an option value.
extension Activation: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public static var allValueStrings: [String] { allowedNames }
}

struct TheoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "theory",
        abstract: "Mean-field predictions for one network family: fixed points, depth scales, q^l and c^l.",
        discussion: """
        Iterates the length and correlation maps of Poole et al. (2016) from two inputs with
        |x|²/N₀ = q0 and correlation c0 (first layer q¹ = σ_w² q0 + σ_b²), and reports the
        fixed points q*, c*, χ1 = σ_w² E φ′(√q* z)², the depth scales ξ_q, ξ_c
        (Schoenholz et al. 2017), the phase, the critical σ_w at this σ_b, and the layers
        until q^l is within 1% of q*. Undefined values are null with a status saying why.

        --map q prints the length map V(q) = σ_w² E φ(√q z)² + σ_b² on [0, --to] instead
        (Poole et al. 2016, Fig. 1A), --map c the correlation map C(c) at q* on [−1, 1]
        (Fig. 2A), each with its fixed point (q*, or c*), where the curve crosses the diagonal.

        --conv-shape L (or H,W) with --kernel-size k adds the depth scale of every spatial
        Fourier mode of a conv net with Gaussian kernels (Xiao et al. 2018, §3): near the
        stationary fixed point a covariance's deviation in mode k shrinks per layer by V′(q*) λ_k
        (lengths) and χ_c λ_k (cross terms), λ_k = Π_i k⁻¹ Σ_t cos(2π k_i t/n_i) the eigenvalue
        of the footprint average 𝒜, so ξ_q,k = −1/ln|V′(q*) λ_k| and ξ_c,k = −1/ln|χ_c λ_k|
        (— where the mode does not decay). Delta-orthogonal kernels have λ_k = 1: every mode
        has the fully connected ξ_q and ξ_c.

        Examples:
          signalprop theory --activation tanh --sigma-w 1.5 --sigma-b 0.3 --depth 10 --q0 1 --c0 0.5 --json
          signalprop theory --activation tanh --sigma-w 1.122539 --sigma-b 0.05 --conv-shape 8 --kernel-size 3
          signalprop theory --activation tanh --sigma-w 2.5 --sigma-b 0.3 --map c --points 201 --csv
        """
    )

    @OptionGroup var family: NetworkFamilyOptions

    @Option(parsing: .unconditional, help: "Correlation of the two inputs, in [-1, 1].")
    var c0: Double = 0.5

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Print a map on a grid instead: q (V(q) on [0, --to]) or c (C(c) at q* on [−1, 1]).",
                               valueName: "q|c"))
    var map: MapCurve.Kind?

    @Option(parsing: .unconditional, help: ArgumentHelp("Upper end of the q grid of --map q (default: 2 max(q*, q0, 1)).",
                                                        valueName: "q"))
    var to: Double?

    @Option(parsing: .unconditional, help: "Grid points of --map (2 … 100000).")
    var points: Int = 101

    @Flag(help: "With --map: print CSV (x, map) instead of a table.")
    var csv = false

    @Option(help: ArgumentHelp("A conv net's spatial shape, L or H,W: print each Fourier mode's depth scales.",
                               valueName: "L|H,W"))
    var convShape: String?

    @Option(help: "The conv kernel's odd size k (with --conv-shape).")
    var kernelSize: Int = 3

    /// The conv layer of `--conv-shape` and `--kernel-size` (Gaussian kernel), or nil.
    func convolution() throws -> Convolution? {
        guard let convShape else { return nil }
        let shape = convShape.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !shape.isEmpty, shape.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--conv-shape must be L or H,W (positive integers), got '\(convShape)'")
        }
        do {
            return try Convolution(shape: shape.map { $0! }, size: kernelSize, sigmaW: family.sigmaW, kernel: .gaussian)
        } catch {
            throw ValidationError(error.description.replacingOccurrences(of: "inputs.shape", with: "--conv-shape")
                .replacingOccurrences(of: "network.kernel_size", with: "--kernel-size"))
        }
    }

    func validate() throws {
        guard (-1...1).contains(c0) else { throw ValidationError("--c0 must be in [-1, 1], got \(c0)") }
        guard (2...100_000).contains(points) else { throw ValidationError("--points must be in 2 … 100000, got \(points)") }
        if let to, !(to > 0 && to.isFinite) { throw ValidationError("--to must be finite and > 0, got \(to)") }
        if map == nil && (to != nil || csv) { throw ValidationError("--to and --csv go with --map q|c") }
        if csv && json { throw ValidationError("--csv and --json: pass one of them") }
        if convShape != nil && map != nil { throw ValidationError("--conv-shape goes without --map") }
        _ = try convolution()
    }

    /// Each spatial mode of the conv net (one of each pair k, −k): its footprint eigenvalue and
    /// depth scales, from the fixed point's slopes; empty without --conv-shape.
    func modes(_ maps: MeanFieldMaps, _ fixed: FixedPointReport) throws -> [(mode: [Int], lambda: Double, xiQ: Double?, xiC: Double?)] {
        guard let conv = try convolution(), let qStar = fixed.qStar, qStar > 0, let cStar = fixed.cStar else { return [] }
        let slopeQ = maps.lengthMapDerivative(qStar), slopeC = cStar == 1 ? maps.chi1(q: qStar) : maps.chiC(q: qStar, c: cStar)
        return Convolution.fourierModes(conv.shape).map { k in
            let lambda = conv.footprintEigenvalue(mode: k)
            return (k, lambda, Convolution.modeDepthScale(slope: slopeQ, eigenvalue: lambda),
                    Convolution.modeDepthScale(slope: slopeC, eigenvalue: lambda))
        }
    }

    func run() throws {
        if let map { return try printMap(map) }
        let (activation, sigmaW, sigmaB, depth, q0) = (family.activation, family.sigmaW, family.sigmaB, family.depth,
                                                      family.q0)
        let maps = MeanFieldMaps(activation: activation, sigmaW: sigmaW, sigmaB: sigmaB)
        let spec = NetworkSpec(width: 2, depth: depth, sigmaW: sigmaW, sigmaB: sigmaB, activation: activation)
        let layers = spec.meanField(inputGram: [q0, c0 * q0, c0 * q0, q0], count: 2)
        let fixed = maps.fixedPoints()
        let critical = try? MeanFieldMaps.criticalSigmaW(sigmaB: sigmaB, activation: activation)
        let q = layers.map(\.meanQ), c = layers.map { $0.meanC ?? .nan }
        var warnings: [String] = []
        if let l = layers.first(where: \.overflows) {
            warnings.append("q^l is beyond Double's range from layer \(l.layer): null in q, exact in log10_q")
        }
        if let l = layers.first(where: \.underflows) {
            warnings.append("q^l is below Double's normal range from layer \(l.layer): rounded in q, exact in log10_q")
        }
        if json {
            var object: [String: Any] = [
                "activation": activation.name, "sigma_w": sigmaW, "sigma_b": sigmaB, "depth": depth,
                "q0": q0, "c0": c0,
                "q_star": JSON.number(fixed.qStar), "c_star": JSON.number(fixed.cStar), "chi1": JSON.number(fixed.chi1),
                "xi_q": JSON.number(fixed.xiQ), "xi_c": JSON.number(fixed.xiC), "phase": fixed.phase.rawValue,
                "status": fixed.status, "layers_to_1pct": fixed.layersToOnePercent.map { $0 as Any } ?? NSNull(),
                "critical_sigma_w": JSON.number(critical ?? nil),
                "q": q.map { JSON.number($0) }, "c": c.map { JSON.number($0) },
                "log10_q": layers.map { JSON.number($0.log2MeanQ * Self.log10Of2) }, "warnings": warnings,
            ]
            if convShape != nil {
                object["modes"] = try modes(maps, fixed).map { m -> [String: Any] in
                    ["mode": m.mode, "eigenvalue": m.lambda, "xi_q": JSON.number(m.xiQ), "xi_c": JSON.number(m.xiC)]
                }
            }
            print(try JSON.text(object))
            return
        }
        func show(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "—" }
        print("\(activation.name)  σ_w = \(sigmaW)  σ_b = \(sigmaB)  (inputs: q0 = \(q0), c0 = \(c0))")
        print("  q* = \(show(fixed.qStar))   c* = \(show(fixed.cStar))   χ1 = \(show(fixed.chi1))   phase: \(fixed.phase.rawValue)")
        print("  ξ_q = \(show(fixed.xiQ))   ξ_c = \(show(fixed.xiC))   σ_w* at this σ_b = \(show(critical ?? nil))"
              + "   layers to 1% of q*: \(fixed.layersToOnePercent.map(String.init) ?? "—")")
        if fixed.status != "ok" { print("  status: \(fixed.status)") }
        for warning in warnings { print("  note: \(warning)") }
        let spatial = try modes(maps, fixed)
        if !spatial.isEmpty {
            print("\n  conv \(convShape!), k = \(kernelSize): mode k, eigenvalue λ_k of 𝒜, depth scales ξ_q,k and ξ_c,k")
            for m in spatial {
                print("  " + m.mode.map(String.init).joined(separator: ",").leftPadded(7) + show(m.lambda).leftPadded(15)
                      + show(m.xiQ).leftPadded(15) + show(m.xiC).leftPadded(15))
            }
        } else if convShape != nil {
            print("\n  conv modes: no finite q* (or c*) to linearise about")
        }
        print("\n  layer            q^l            c^l")
        for (l, layer) in layers.enumerated() {
            print("  " + String(l + 1).leftPadded(5) + Self.magnitude(layer).leftPadded(15) + show(layer.meanC).leftPadded(15))
        }
    }

    static let log10Of2 = 0.301_029_995_663_981_2

    /// `--map`: the curve, as a table, CSV or JSON.
    func printMap(_ kind: MapCurve.Kind) throws {
        let maps = MeanFieldMaps(activation: family.activation, sigmaW: family.sigmaW, sigmaB: family.sigmaB)
        let curve: MapCurve
        switch kind {
        case .q:
            let qStar = maps.fixedPoints().qStar ?? 0
            curve = maps.lengthCurve(upTo: to ?? 2 * max(qStar, family.q0, 1), points: points)
        case .c:
            guard let c = maps.correlationCurve(points: points) else {
                throw CommandFailure(message: "no correlation map: q* is \(maps.fixedPoints().qStar.map { "\($0)" } ?? "unbounded") "
                                     + "(the C-map needs a finite, positive q*)", status: 1)
            }
            curve = c
        }
        let name = kind == .q ? "V" : "C"
        if csv {
            print("\(kind.rawValue),\(name)")
            for (x, y) in zip(curve.x, curve.y) { print("\(x),\(y)") }
        } else if json {
            print(try JSON.text([
                "activation": family.activation.name, "sigma_w": family.sigmaW, "sigma_b": family.sigmaB,
                "map": kind.rawValue, "x": curve.x, "y": curve.y.map { JSON.number($0) },
                "fixed_point": JSON.number(curve.fixedPoint),
            ]))
        } else {
            print("\(family.activation.name)  σ_w = \(family.sigmaW)  σ_b = \(family.sigmaB)   "
                  + "fixed point \(kind == .q ? "q*" : "c*") = \(curve.fixedPoint.map { String(format: "%.12g", $0) } ?? "—")")
            print("\n" + kind.rawValue.leftPadded(14) + "\(name)(\(kind.rawValue))".leftPadded(20))
            for (x, y) in zip(curve.x, curve.y) { print(String(format: "  %12.6g  %18.12g", x, y)) }
        }
    }

    /// q^l to six digits, from its logarithm where Double cannot hold it (10⁴⁰⁰ is printed
    /// as such, not as inf).
    static func magnitude(_ layer: LayerTheory) -> String { magnitude(layer.meanQ, log2: layer.log2MeanQ) }

    /// x to six digits, from log₂ x where x itself (its rounded double) is not normal.
    static func magnitude(_ x: Double, log2: Double) -> String {
        if x.isNormal || x == 0 && log2 == -.infinity { return String(format: "%.6g", x) }
        let decimal = log2 * log10Of2, exponent = decimal.rounded(.down)
        return String(format: "%.5fe%+d", pow(10, decimal - exponent), Int(exponent))
    }
}

/// The options naming one network family, shared by `theory` and `spectrum`.
struct NetworkFamilyOptions: ParsableArguments {
    /// Layers at most: the recursion keeps every layer's B×B state (and `spectrum` its
    /// density inputs); 10⁶ layers take seconds.
    static let maxDepth = 1_000_000

    @Option(help: ArgumentHelp("φ: \(Activation.allowedNames.joined(separator: ", ")).", valueName: "name"))
    var activation: Activation

    @Option(name: .customLong("sigma-w"), parsing: .unconditional, help: "Weight scale σ_w (> 0); W_ij ~ N(0, σ_w²/N).")
    var sigmaW: Double

    @Option(name: .customLong("sigma-b"), parsing: .unconditional, help: "Bias scale σ_b (≥ 0).")
    var sigmaB: Double = 0

    @Option(parsing: .unconditional, help: "Number of layers.")
    var depth: Int = 10

    @Option(parsing: .unconditional, help: "Input squared length per dimension |x|²/N₀ (> 0).")
    var q0: Double = 1

    func validate() throws {
        guard sigmaW > 0, sigmaW.isFinite else { throw ValidationError("--sigma-w must be finite and > 0, got \(sigmaW)") }
        guard sigmaB >= 0, sigmaB.isFinite else { throw ValidationError("--sigma-b must be finite and ≥ 0, got \(sigmaB)") }
        guard (1...Self.maxDepth).contains(depth) else {
            throw ValidationError("--depth must be between 1 and \(Self.maxDepth), got \(depth)")
        }
        guard q0 > 0, q0.isFinite else { throw ValidationError("--q0 must be finite and > 0, got \(q0)") }
    }
}

/// JSON helpers shared by the commands: non-finite and missing numbers become null.
enum JSON {
    static func number(_ x: Double?) -> Any {
        guard let x, x.isFinite else { return NSNull() }
        return x
    }

    static func text(_ object: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
