import Ensembles
import FreeProbability
@testable import Sweep
import Testing

/// Representation observables against their infinite-width values from the mean-field
/// covariance (Labatie's sensitivity, Raghu et al.'s trajectory length), through the same
/// catalogue, sampler and theory a sweep uses.
@Suite struct RepresentationTheoryTests {
    func campaign(_ activation: String, architecture: String) -> String {
        """
        seed = 5
        samples = 16
        block = 4
        [grid]
        width = [512]
        depth = [10]
        sigma_w = [1.5]
        sigma_b = [0.1]
        activation = ["\(activation)"]
        [network]
        architecture = "\(architecture)"
        weight_scaling = "width"
        [inputs]
        kind = "circle"
        count = 16
        [observe]
        forward = ["q", "traj_length", "sensitivity"]
        """
    }

    /// 4 standard errors plus a finite-width allowance of 2l/N relative: both quantities are
    /// ratios and square roots of sums over l layers of free factors, each carrying an O(1/N)
    /// relative correction (the same count as for the Jacobian's m1, doubled for the
    /// nonlinear estimator).
    @Test(arguments: [("tanh", "feedforward"), ("relu", "feedforward"), ("tanh", "residual")])
    func sensitivityAndTrajectoryLengthMatchTheory(_ activation: String, _ architecture: String) throws {
        let (s, theory, _) = try measureCampaign(campaign(activation, architecture: architecture))
        for name in ["sensitivity", "traj_length"] {
            for layer in 1...10 {
                let m = s.moments[s.names.firstIndex(of: name)!][layer - 1]
                let expected = try #require(theory.value(of: name, layer: layer))
                let tolerance = 4 * m.standardError! + 2 * Double(layer) / 512 * expected
                #expect(abs(m.mean - expected) <= tolerance,
                        "\(activation) \(architecture) \(name) layer \(layer): \(m.mean) vs \(expected) ± \(tolerance)")
            }
        }
    }

    /// Louart, Liao & Couillet's deterministic equivalent against the pooled eigenvalues of
    /// FᵀF/B (N = 512, B = 64, 16 networks): the L1 statistic of the Jacobian histograms
    /// within 2× the multinomial noise; the Marchenko–Pastur law that ignores the data kernel
    /// (Φ replaced by its mean eigenvalue times I) is far outside.
    @Test(arguments: ["tanh", "relu"])
    func gramSpectrumFitsTheDeterministicEquivalent(_ activation: String) throws {
        let toml = """
        seed = 9
        samples = 16
        block = 4
        [grid]
        width = [512]
        depth = [1]
        sigma_w = [1.5]
        sigma_b = [0.1]
        activation = ["\(activation)"]
        [inputs]
        kind = "gaussian"
        count = 64
        [observe]
        forward = ["q"]
        gram_spectrum = { bins = 30, range = [1e-2, 1e3] }
        """
        let (s, _, campaign) = try measureCampaign(toml)
        let histogram = try #require(s.histograms.last)
        let law = try #require(try GramSpectrum.law(try theoryContext(campaign)))
        let bins = (0..<histogram.counts.count).map { histogram.edges($0) }
        func masses(_ law: GramSpectrumLaw) throws -> [Double] {
            zip(try LogBins.averages(bins, density: law.density(at:)), bins).map { $0 * ($1.1 - $1.0) }
        }
        let (distance, noise) = histogramFit(histogram, masses: try masses(law))
        #expect(distance <= 2 * noise, "\(activation): L1 \(distance) vs 2× noise \(2 * noise)")
        let mean = law.kernelEigenvalues.reduce(0, +) / 64
        let flat = GramSpectrumLaw(kernelEigenvalues: [Double](repeating: mean, count: 64), width: 512, batch: 64)
        #expect(histogramFit(histogram, masses: try masses(flat)).distance > 2 * noise)
    }
}
