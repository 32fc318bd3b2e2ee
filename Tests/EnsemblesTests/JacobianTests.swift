import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Testing

private let noStream = RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs))

/// Samples `samples` networks of `spec` on `inputs` (default: `batch` gram inputs, c0 = 0.3).
func sample(_ spec: NetworkSpec, observables: Observables, samples: Int, seed: UInt64 = 1,
            batch: Int = 2, inputs: InputSpec? = nil) throws -> EnsembleStatistics {
    let inputs = try InputBatch(spec: inputs ?? .gram(count: batch, q0: 1, c0: 0.3), dimension: spec.width,
                                stream: noStream)
    var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observables, seed: seed, point: 0)
    var statistics = sampler.makeStatistics()
    for s in 0..<samples { try sampler.run(sample: s, into: &statistics) }
    return statistics
}

func moments(_ s: EnsembleStatistics, _ name: String, layer: Int) -> RunningMoments {
    s.moments[s.names.firstIndex(of: name)!][layer - 1]
}

@Suite struct JacobianTests {
    /// Orthogonal linear layers: J = σ_w^L O_L⋯O_1, so every squared singular value is σ_w^{2L}.
    @Test func orthogonalLinearNetsAreExactIsometries() throws {
        let spec = NetworkSpec(width: 48, depth: 12, sigmaW: 1.3, sigmaB: 0.2, activation: .linear, weightInit: .orthogonal)
        let s = try sample(spec, observables: Observables([MeanSquaredLength(), JacobianSpectrum(depths: [3, 12])]),
                           samples: 3)
        for depth in [3, 12] {
            let expected = pow(1.3, 2 * Double(depth))
            for name in ["jac_m1", "jac_max", "jac_min"] {
                let m = moments(s, name, layer: depth)
                #expect(m.count == 3 && abs(m.mean / expected - 1) < 1e-10, "\(name) at \(depth): \(m.mean) vs \(expected)")
            }
            #expect(abs(moments(s, "jac_meanlog", layer: depth).mean - log(expected)) < 1e-10)
            #expect(moments(s, "jac_floor_frac", layer: depth).mean == 0)
        }
        #expect(s.histograms.count == 2 && s.histograms[1].total == 3 * 48)
    }

    /// Gaussian linear nets, exact finite-N moments. With B = JJᵀ and W iid N(0, v), v = σ²/N,
    /// Wick pairings give E tr(WBWᵀ)² = v²[N (tr B)² + (N² + N) tr B²] and
    /// E (tr WBWᵀ)² = v²[N² (tr B)² + 2N tr B²]; from J = I: m1 = σ^{2L}, m2 = X_L/N.
    @Test func gaussianLinearMomentsMatchExactFiniteWidthValues() throws {
        let n = 12, depth = 3, sigma = 1.1, samples = 600
        let spec = NetworkSpec(width: n, depth: depth, sigmaW: sigma, sigmaB: 0, activation: .linear)
        let s = try sample(spec, observables: Observables([MeanSquaredLength(), JacobianSpectrum(depths: [1, 3])]),
                           samples: samples)
        let v = sigma * sigma / Double(n), N = Double(n)
        var x = N, y = N * N  // E tr B², E (tr B)² at J = I
        for layer in 1...depth {
            (x, y) = (v * v * (N * y + (N * N + N) * x), v * v * (N * N * y + 2 * N * x))
            guard layer == 1 || layer == 3 else { continue }
            let m1 = moments(s, "jac_m1", layer: layer), m2 = moments(s, "jac_m2", layer: layer)
            let expected1 = pow(sigma, 2 * Double(layer)), expected2 = x / N
            #expect(abs(m1.mean - expected1) < 4 * m1.standardError!, "m1 layer \(layer): \(m1.mean) vs \(expected1)")
            #expect(abs(m2.mean - expected2) < 4 * m2.standardError!, "m2 layer \(layer): \(m2.mean) vs \(expected2)")
        }
    }

    /// Newman (1986): the exponents of a product of d×d Gaussian matrices. Each QR step
    /// sees W Q with iid Gaussian entries, so E ln R_kk is exactly Newman's value at every
    /// layer: the test holds at 3 standard errors for any depth.
    @Test func lyapunovExponentsMatchNewman() throws {
        let d = 64, k = 6, sigma = 1.2
        let spec = NetworkSpec(width: d, depth: 16, sigmaW: sigma, sigmaB: 0, activation: .linear)
        let s = try sample(spec, observables: Observables([MeanSquaredLength(), LyapunovExponents(k: k)]),
                           samples: 64, seed: 5)
        for i in 1...k {
            let m = moments(s, "lyap_\(i)", layer: 16)
            let theory = LyapunovTheory.gaussianProduct(dimension: d, k: i, sigma: sigma, varianceDenominator: Double(d))
            #expect(abs(m.mean - theory) < 3 * m.standardError!, "λ_\(i): \(m.mean) vs \(theory) ± \(m.standardError!)")
        }
        #expect(!s.names.contains("jac_m1") && s.names.last == "lyap_gap")
        // The rank-collapse rate of the linear chain without normalisation (Daneshmand et al. 2021): λ1 − λ2.
        let gap = moments(s, "lyap_gap", layer: 16)
        let theoryGap = LyapunovTheory.gaussianProduct(dimension: d, k: 1, sigma: sigma, varianceDenominator: Double(d))
            - LyapunovTheory.gaussianProduct(dimension: d, k: 2, sigma: sigma, varianceDenominator: Double(d))
        #expect(abs(gap.mean - theoryGap) < 3 * gap.standardError!, "λ1 − λ2: \(gap.mean) vs \(theoryGap)")
    }

    /// Deep nets in either phase: the logs stay finite, overflow of λ itself is reported as
    /// divergence (non-finite, excluded from the mean), and nothing is NaN.
    @Test(arguments: [(Activation.relu, 4.0), (Activation.tanh, 0.5)])
    func depth500StaysFinite(_ phi: Activation, _ sigmaW: Double) throws {
        let spec = NetworkSpec(width: 24, depth: 500, sigmaW: sigmaW, sigmaB: 0.05, activation: phi)
        let s = try sample(spec, observables: Observables([MeanSquaredLength(), JacobianSpectrum(depths: [100, 500]),
                                                          LyapunovExponents(k: 2)]), samples: 2)
        let meanLog = moments(s, "jac_meanlog", layer: 500)
        #expect(meanLog.count == 2 && meanLog.mean.isFinite)
        let expectedSign: Double = phi == .relu ? 1 : -1
        #expect(meanLog.mean * expectedSign > 100, "mean log λ \(meanLog.mean)")
        let lyap = moments(s, "lyap_1", layer: 500)
        #expect(lyap.count == 2 && lyap.mean.isFinite)
        if phi == .relu {
            #expect(moments(s, "jac_m1", layer: 500).nonFinite == 2, "λ ~ 8^500 overflows: reported, not averaged")
        }
        for row in s.moments { for m in row { #expect(!m.mean.isNaN && !(m.variance ?? 0).isNaN) } }
    }
}
