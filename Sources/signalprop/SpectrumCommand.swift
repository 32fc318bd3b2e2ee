import ArgumentParser
import Ensembles
import Foundation
import FreeProbability
import MeanField
import Randomness
import Sweep

struct SpectrumCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spectrum",
        abstract: "Free-probability law of the Jacobian's squared singular values (JJᵀ) at a depth.",
        discussion: """
        Feedforward nets (Pennington, Schoenholz & Ganguli 2017): S_{JJᵀ} = Π_l S_{D_l²} S_{WᵀW},
        each layer with its own q^l from the mean-field recursion (inputs with |x|²/N = q0).
        Residual nets (--residual a, weights σ_w²/(N·L); Tarnowski et al. 2019): the finite-L
        product form S = a^{−2L} Π_l (1 − c_l (1+2z)/(a² L)), first order in the layer gain.
        Prints the moments m1 = E λ and m2 = E λ² (exact at infinite width for both
        architectures, from the two-moment recursion through (a + DW) A (a + DW)ᵀ), the point
        masses, and the density ρ(λ) on a log grid over the support.
        The same code writes the theory column of spectra.csv in a sweep.

        Example:
          signalprop spectrum --activation tanh --sigma-w 1.05 --sigma-b 0.05 --depth 16 --init orthogonal --json
        """
    )

    @OptionGroup var family: NetworkFamilyOptions

    @Option(help: "gaussian or orthogonal weights.")
    var `init`: String = "gaussian"

    @Option(help: ArgumentHelp("Residual scale a: x^l = φ(h^l) + a x^{l−1} (weights σ_w²/(N·L)).", valueName: "a"))
    var residual: Double?

    @Option(help: "Grid points for the density.")
    var points: Int = 100

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard WeightLaw(rawValue: self.`init`) != nil else {
            throw ValidationError("--init must be gaussian or orthogonal, got \(self.`init`)")
        }
        if let residual, !(residual > 0) { throw ValidationError("--residual a must be > 0, got \(residual)") }
        guard (2...100_000).contains(points) else { throw ValidationError("--points must be in 2 … 100000") }
    }

    func run() throws {
        let (activation, sigmaW, sigmaB, depth, q0) = (family.activation, family.sigmaW, family.sigmaB, family.depth,
                                                      family.q0)
        let weightInit = WeightLaw(rawValue: self.`init`)!
        let spec = NetworkSpec(width: 2, depth: depth, sigmaW: sigmaW, sigmaB: sigmaB, activation: activation,
                               weightInit: weightInit,
                               architecture: residual.map { .residual(scale: $0) } ?? .feedforward,
                               weightScaling: residual == nil ? .width : .widthTimesDepth)
        let stream = RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs))
        let inputs = try InputBatch(spec: .gram(count: 1, q0: q0, c0: 1), dimension: 2, stream: stream)
        let (jacobian, law, note) = JacobianSpectrum.theory(TheoryContext(network: spec, inputs: inputs), layer: depth)
        guard let law, let moments = jacobian else { throw CommandFailure(message: note ?? "", status: 1) }
        let (support, atoms): (ClosedRange<Double>, [SpectralAtom]) = try {
            switch law {
            case .feedforward(let f): return (try f.supportRange(), f.atoms)
            case .residual(let r): return (try r.supportRange(), r.atoms)
            }
        }()
        let lo = max(support.lowerBound, support.upperBound * 1e-12), hi = support.upperBound
        let grid = (0..<points).map { lo * pow(hi / lo, Double($0) / Double(points - 1)) }
        let density = hi > lo ? try law.density(at: grid) : grid.map { _ in 0 }
        if json {
            print(try JSON.text([
                "activation": activation.name, "sigma_w": sigmaW, "sigma_b": sigmaB, "depth": depth,
                "init": weightInit.rawValue, "residual_scale": residual.map { $0 as Any } ?? NSNull(),
                "m1": JSON.number(moments.firstMoment), "m2": JSON.number(moments.secondMoment),
                "atoms": atoms.map { ["location": $0.location, "weight": $0.weight] },
                "support": [support.lowerBound, support.upperBound], "lambda": grid, "density": density.map { JSON.number($0) },
            ]))
            return
        }
        print("\(residual == nil ? "feedforward" : "residual (a = \(residual!))") \(activation.name), σ_w = \(sigmaW), "
              + "σ_b = \(sigmaB), depth \(depth), \(weightInit.rawValue) weights")
        print(String(format: "  m1 = %.6g   m2 = %.6g   support ⊂ [%.4g, %.4g]", moments.firstMoment, moments.secondMoment,
                     support.lowerBound, support.upperBound))
        for atom in atoms { print(String(format: "  atom: %.4g of the mass at λ = %.6g", atom.weight, atom.location)) }
        print("\n        λ          ρ(λ)")
        for (x, r) in zip(grid, density) { print(String(format: "  %10.4g  %12.6g", x, r)) }
    }
}
