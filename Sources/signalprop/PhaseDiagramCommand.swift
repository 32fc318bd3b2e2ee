import ArgumentParser
import Dispatch
import Foundation
import MeanField
import Sweep
import Synchronization

/// An evenly spaced range written `from:to:steps`.
struct Span: ExpressibleByArgument {
    /// Steps per axis at most.
    static let maxSteps = 10_000
    let values: [Double]
    init?(argument: String) {
        let parts = argument.split(separator: ":").map { Double($0) }
        guard parts.count == 3, let from = parts[0], let to = parts[1], let n = parts[2], from.isFinite, to.isFinite,
              n >= 2, n <= Double(Self.maxSteps), n == n.rounded()
        else { return nil }
        values = (0..<Int(n)).map { from + (to - from) * Double($0) / (n - 1) }
    }
}

struct PhaseDiagramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phase-diagram",
        abstract: "Order-to-chaos phase diagram: q*, c*, χ1, ξ_q, ξ_c on a σ_w × σ_b grid, as CSV.",
        discussion: """
        For every (σ_w, σ_b) on the grid, the mean-field fixed points and depth scales of
        Poole et al. (2016) and Schoenholz et al. (2017). The critical line χ1 = 1 separates
        the ordered (χ1 < 1) from the chaotic (χ1 > 1) phase; ξ_c diverges on it.
        Columns: activation,sigma_w,sigma_b,q_star,c_star,chi1,xi_q,xi_c,phase,layers_to_1pct
        (an empty cell is undefined or infinite; layers_to_1pct: layers from q⁰ = 1 until q^l is
        within 1 % of q*, Poole et al. Fig. 1D).

        Example (the figure of Poole et al. Fig. 2 / Schoenholz et al. Fig. 1):
          signalprop phase-diagram --activation tanh --sigma-w 0.5:4:60 --sigma-b 0:0.5:40 --out out/quickstart/phase_diagram.csv
          python3 scripts/plot.py out/quickstart
        """
    )

    /// Grid points at most: each is a fixed-point search (ms), and the table is held whole.
    static let maxCells = 4_000_000

    @Option(parsing: .upToNextOption, help: ArgumentHelp("One or more activations.", valueName: "name"))
    var activation: [Activation] = [.tanh]

    @Option(name: .customLong("sigma-w"), help: ArgumentHelp("σ_w range (σ_w > 0), 2 to 10000 steps.", valueName: "from:to:steps"))
    var sigmaW: Span = Span(argument: "0.5:4:50")!

    @Option(name: .customLong("sigma-b"), help: ArgumentHelp("σ_b range (σ_b ≥ 0), 2 to 10000 steps.", valueName: "from:to:steps"))
    var sigmaB: Span = Span(argument: "0:0.5:30")!

    @Option(help: ArgumentHelp("CSV file to write (default: standard output).", valueName: "file"))
    var out: String?

    func validate() throws {
        guard sigmaW.values.allSatisfy({ $0 > 0 }) else { throw ValidationError("--sigma-w values must be > 0") }
        guard sigmaB.values.allSatisfy({ $0 >= 0 }) else { throw ValidationError("--sigma-b values must be ≥ 0") }
        let cells = activation.count * sigmaW.values.count * sigmaB.values.count
        guard cells <= Self.maxCells else {
            throw ValidationError("the grid has \(cells) points (activations × σ_w steps × σ_b steps); at most "
                                  + "\(Self.maxCells) (about a minute per million on one core): use fewer steps")
        }
    }

    func run() throws {
        let cells = activation.flatMap { a in sigmaB.values.flatMap { b in sigmaW.values.map { w in (a, w, b) } } }
        let rows = Mutex([String?](repeating: nil, count: cells.count))
        DispatchQueue.concurrentPerform(iterations: cells.count) { i in
            let (a, w, b) = cells[i]
            let f = MeanFieldMaps(activation: a, sigmaW: w, sigmaB: b).fixedPoints()
            let cellsText = [a.name, "\(w)", "\(b)"] + [f.qStar, f.cStar, f.chi1, f.xiQ, f.xiC].map { x in
                x.flatMap { $0.isFinite ? "\($0)" : nil } ?? ""
            } + [f.phase.rawValue, f.layersToOnePercent.map(String.init) ?? ""]
            rows.withLock { $0[i] = cellsText.joined(separator: ",") }
        }
        let text = "activation,sigma_w,sigma_b,q_star,c_star,chi1,xi_q,xi_c,phase,layers_to_1pct\n"
            + rows.withLock { $0.map { $0! + "\n" }.joined() }
        if let out {
            do { try AtomicFile.write(text, to: out) } catch { throw CommandFailure(message: error.description, status: 1) }
            FileHandle.standardError.write(Data("phase-diagram: \(cells.count) points → \(out)\n".utf8))
        } else {
            print(text, terminator: "")
        }
    }
}
