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
        m1 and m2 come from ln m1 and m2/m1², so depths where they leave Double's range are
        printed in full (8^400 as 1.72185e+361; JSON: log10_m1, log10_m2, m1/m2 null); where λ
        itself leaves the range the support and density are those of λ/m1, said in a note.
        A bounded φ at q beyond 2^500 has no limiting law of φ′²: exit 1, saying so.

        Example:
          signalprop spectrum --activation tanh --sigma-w 1.05 --sigma-b 0.05 --depth 16 --init orthogonal --json

        --universal-residual c prints Tarnowski et al.'s L → ∞ residual law instead, the same
        for every φ and for Gaussian and orthogonal weights: S(z) = a^{−2L} e^{−κ(1+2z)},
        κ = c/a² (a = --residual, default 1; L = --depth): m1 … m4 in closed form, the support
        edges λ(z±), z±(1 + z±) = 1/(2κ), and the density (at --at points, or on a grid).
        --d-law q prints the law of d = φ′(h)², h ~ N(0, q), the factor D² of every layer
        (atoms, E d² = χ1/σ_w², support, density).

          signalprop spectrum --activation tanh --sigma-w 1 --universal-residual 0.5 --at 0.5,1,2
          signalprop spectrum --activation tanh --sigma-w 1 --d-law 0.8 --json
        """
    )

    @OptionGroup var family: NetworkFamilyOptions

    @Option(help: "gaussian or orthogonal weights.")
    var `init`: String = "gaussian"

    @Option(parsing: .unconditional, help: ArgumentHelp("Residual scale a: x^l = φ(h^l) + a x^{l−1} (weights σ_w²/(N·L)).", valueName: "a"))
    var residual: Double?

    @Option(parsing: .unconditional, help: "Grid points for the density.")
    var points: Int = 100

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(name: .customLong("universal-residual"), parsing: .unconditional,
            help: ArgumentHelp("Print Tarnowski's universal residual law at gain c (≥ 0) instead.", valueName: "c"))
    var universalResidual: Double?

    @Option(name: .customLong("d-law"), parsing: .unconditional,
            help: ArgumentHelp("Print the law of φ′(h)², h ~ N(0, q), instead.", valueName: "q"))
    var dLaw: Double?

    @Option(help: ArgumentHelp("Comma-separated points at which to print the density (default: a grid).",
                               valueName: "x,y,…"))
    var at: String?

    /// The `--at` points, parsed.
    private var atPoints: [Double]? {
        at.map { $0.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
    }

    func validate() throws {
        guard WeightLaw(rawValue: self.`init`) != nil else {
            throw ValidationError("--init must be gaussian or orthogonal, got \(self.`init`)")
        }
        if let residual, !(residual > 0) { throw ValidationError("--residual a must be > 0, got \(residual)") }
        guard (2...100_000).contains(points) else { throw ValidationError("--points must be in 2 … 100000") }
        if let c = universalResidual, !(c >= 0 && c.isFinite) {
            throw ValidationError("--universal-residual c must be finite and ≥ 0, got \(c)")
        }
        if let q = dLaw, !(q >= 0 && q.isFinite) { throw ValidationError("--d-law q must be finite and ≥ 0, got \(q)") }
        if universalResidual != nil && dLaw != nil { throw ValidationError("--universal-residual and --d-law: pass one") }
        if let at, atPoints?.count != at.split(separator: ",").count || atPoints?.isEmpty == true {
            throw ValidationError("--at takes comma-separated numbers, e.g. 0.5,1,2; got '\(at)'")
        }
    }

    func run() throws {
        if let c = universalResidual { return try printUniversal(c: c) }
        if let q = dLaw { return try printSlopeLaw(q: q) }
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
        // log₂ m1 and log₂ m2 (m2 = m1² · m2/m1²), exact where m1, m2 leave Double's range.
        let log2M1 = moments.logFirstMoment / M_LN2
        let log2M2 = 2 * log2M1 + Foundation.log2(moments.normalizedSecondMoment)
        let (m1, m2) = (moments.firstMoment, moments.secondMoment)
        // λ itself where every λ and ρ(λ) on the grid is a normal double, else λ/m1 (mean 1).
        let unit = try law.normalizedSupportRange()
        let unitLow = max(unit.lowerBound, unit.upperBound * 1e-12)
        let plain = log2M1 == -.infinity || [unitLow * m1, unit.upperBound * m1, 1 / (unitLow * m1), 1 / (unit.upperBound * m1)]
            .allSatisfy(\.isNormal)
        let scale = plain ? m1 : 1
        let support = log2M1 == -.infinity ? 0...0 : (unit.lowerBound * scale)...(unit.upperBound * scale)
        let atoms = plain ? law.normalizedAtoms.map { SpectralAtom(location: $0.location * scale, weight: $0.weight) }
                          : law.normalizedAtoms
        let lo = max(support.lowerBound, support.upperBound * 1e-12), hi = support.upperBound
        let grid = (0..<points).map { lo * pow(hi / lo, Double($0) / Double(points - 1)) }
        let density = hi > lo ? try (plain ? law.density(at: grid) : law.normalizedDensity(at: grid)) : grid.map { _ in 0 }
        var warnings: [String] = []
        if !m1.isNormal && m1 != 0 || m1 == 0 && log2M1 > -.infinity {
            warnings.append("m1 is beyond Double's range: null in m1, exact in log10_m1")
        }
        if !m2.isNormal && log2M2 > -.infinity { warnings.append("m2 is beyond Double's range: null in m2, exact in log10_m2") }
        if !plain { warnings.append("λ spans beyond Double's range: lambda, support, atoms and density are of λ/m1 (mean 1)") }
        if json {
            print(try JSON.text([
                "activation": activation.name, "sigma_w": sigmaW, "sigma_b": sigmaB, "depth": depth,
                "init": weightInit.rawValue, "residual_scale": residual.map { $0 as Any } ?? NSNull(),
                "m1": JSON.number(m1.isNormal || m1 == 0 && log2M1 == -.infinity ? m1 : nil),
                "m2": JSON.number(m2.isNormal || m2 == 0 && log2M2 == -.infinity ? m2 : nil),
                "log10_m1": JSON.number(log2M1 * TheoryCommand.log10Of2), "log10_m2": JSON.number(log2M2 * TheoryCommand.log10Of2),
                "normalized": !plain, "warnings": warnings,
                "atoms": atoms.map { ["location": JSON.number($0.location), "weight": JSON.number($0.weight)] },
                "support": [JSON.number(support.lowerBound), JSON.number(support.upperBound)],
                "lambda": grid.map { JSON.number($0) }, "density": density.map { JSON.number($0) },
            ]))
            return
        }
        let x = plain ? "λ" : "λ/m1"
        print("\(residual == nil ? "feedforward" : "residual (a = \(residual!))") \(activation.name), σ_w = \(sigmaW), "
              + "σ_b = \(sigmaB), depth \(depth), \(weightInit.rawValue) weights")
        print("  m1 = \(TheoryCommand.magnitude(m1, log2: log2M1))   m2 = \(TheoryCommand.magnitude(m2, log2: log2M2))   "
              + String(format: "support of %@ ⊂ [%.4g, %.4g]", x, support.lowerBound, support.upperBound))
        for warning in warnings { print("  note: \(warning)") }
        for atom in atoms { print(String(format: "  atom: %.4g of the mass at %@ = %.6g", atom.weight, x, atom.location)) }
        print("\n" + x.leftPadded(10) + "ρ(\(x))".leftPadded(14))
        for (x, r) in zip(grid, density) { print(String(format: "  %10.4g  %12.6g", x, r)) }
    }

    /// `--universal-residual c`: the L → ∞ law of λ = a^{2L} λ̂.
    private func printUniversal(c: Double) throws {
        let a = residual ?? 1, depth = family.depth, kappa = c / (a * a)
        let scale = pow(a, 2 * Double(depth))
        let moments = ResidualSpectrum.universalMoments(kappa: kappa).enumerated().map { k, m in m * pow(scale, Double(k + 1)) }
        let law = ResidualSpectrum.universal(scale: a, depth: depth, c: c)
        let support = kappa > 0 ? ResidualSpectrum.universalSupport(kappa: kappa) : 1...1
        let edges = (support.lowerBound * scale)...(support.upperBound * scale)
        let grid = atPoints ?? (0..<points).map { edges.lowerBound + (edges.upperBound - edges.lowerBound) * Double($0) / Double(points - 1) }
        let density = kappa > 0 ? try law.density(at: grid) : grid.map { _ in 0 }
        if json {
            print(try JSON.text([
                "universal_residual": c, "residual_scale": a, "depth": depth, "kappa": kappa,
                "moments": moments.map { JSON.number($0) }, "support": [JSON.number(edges.lowerBound), JSON.number(edges.upperBound)],
                "atoms": law.atoms.map { ["location": JSON.number($0.location), "weight": $0.weight] },
                "lambda": grid, "density": density.map { JSON.number($0) },
            ]))
            return
        }
        print("universal residual law (Tarnowski et al. 2019): c = \(c), a = \(a), L = \(depth), κ = c/a² = \(kappa)")
        print(String(format: "  m1 = %.12g   m2 = %.12g   m3 = %.12g   m4 = %.12g", moments[0], moments[1], moments[2], moments[3]))
        print(String(format: "  support [%.12g, %.12g]", edges.lowerBound, edges.upperBound))
        for atom in law.atoms { print(String(format: "  atom: %.4g of the mass at λ = %.6g", atom.weight, atom.location)) }
        print("\n" + "λ".leftPadded(12) + "ρ(λ)".leftPadded(14))
        for (x, r) in zip(grid, density) { print(String(format: "  %10.6g  %12.6g", x, r)) }
    }

    /// `--d-law q`: the law of φ′(h)², h ~ N(0, q).
    private func printSlopeLaw(q: Double) throws {
        let law = SlopeLaw(activation: family.activation, q: q)
        let support = law.support
        let grid = atPoints ?? (0..<points).map {
            support.lowerBound + (support.upperBound - support.lowerBound) * (Double($0) + 0.5) / Double(points)
        }
        let density = law.density(at: grid)
        let chi1 = family.sigmaW * family.sigmaW * law.mean
        if json {
            print(try JSON.text([
                "activation": family.activation.name, "q": q, "sigma_w": family.sigmaW, "mean": law.mean,
                "second_moment": law.secondMoment, "chi1": chi1, "continuous_mass": law.continuousMass,
                "atoms": law.atoms.map { ["location": $0.location, "weight": $0.weight] },
                "support": [support.lowerBound, support.upperBound], "t": grid, "density": density.map { JSON.number($0) },
            ]))
            return
        }
        print("law of d = \(family.activation.name)′(h)², h ~ N(0, \(q)) (the D² of one layer; Pennington et al. 2017)")
        print(String(format: "  E d = %.12g (χ1 = σ_w² E d = %.12g at σ_w = %g)   E d² = %.12g   support [%.6g, %.6g]",
                     law.mean, chi1, family.sigmaW, law.secondMoment, support.lowerBound, support.upperBound))
        for atom in law.atoms { print(String(format: "  atom: %.6g of the mass at d = %.6g", atom.weight, atom.location)) }
        print("\n" + "d".leftPadded(12) + "ρ(d)".leftPadded(14))
        for (x, r) in zip(grid, density) { print(String(format: "  %10.6g  %12.6g", x, r)) }
    }
}
