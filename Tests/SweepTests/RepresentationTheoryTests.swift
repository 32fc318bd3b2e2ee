import Ensembles
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
                let expected = try #require(theory.value(of: name, layer: layer, batch: 16))
                let tolerance = 4 * m.standardError! + 2 * Double(layer) / 512 * expected
                #expect(abs(m.mean - expected) <= tolerance,
                        "\(activation) \(architecture) \(name) layer \(layer): \(m.mean) vs \(expected) ± \(tolerance)")
            }
        }
    }
}
