import Ensembles
import Foundation
import MeanField
import Randomness
import Testing

/// Representation geometry (Daneshmand et al. 2021; Labatie 2019): the Gram-matrix formulas on known answers, and
/// batch norm's orthogonalisation against rank collapse without it.
@Suite struct RepresentationTests {
    @Test func gramGeometryKnownAnswers() throws {
        let b = 6
        let identity = (0..<(b * b)).map { $0 / b == $0 % b ? 2.0 : 0 }
        // Orthogonal, equal lengths: no gap; centred, the cloud spans B − 1 equal directions.
        #expect(GramGeometry.orthogonalityGap(identity, count: b) < 1e-15)
        #expect(abs(try GramGeometry.effectiveRank(identity, count: b) - Double(b - 1)) < 1e-12)
        // Collapsed: gap √(1 − 1/B), nothing around the centre.
        let ones = [Double](repeating: 3, count: b * b)
        #expect(abs(GramGeometry.orthogonalityGap(ones, count: b) - (1 - 1 / Double(b)).squareRoot()) < 1e-15)
        #expect(try GramGeometry.effectiveRank(ones, count: b).isNaN)
        // B points on a circle of radius √q: a regular polygon of side 2√q sin(π/B), and a
        // two-dimensional centred cloud with equal variances (effective rank 2).
        let q = 1.7
        let circle = (0..<(b * b)).map { q * cos(2 * Double.pi * Double($0 / b - $0 % b) / Double(b)) }
        #expect(abs(GramGeometry.trajectoryLength(circle, count: b) - Double(b) * 2 * q.squareRoot() * sin(Double.pi / Double(b))) < 1e-12)
        #expect(abs(try GramGeometry.effectiveRank(circle, count: b) - 2) < 1e-12)
    }

    @Test func circleInputsHaveTheirGram() throws {
        let batch = try InputBatch(spec: .circle(count: 8, q0: 0.7), dimension: 5,
                                   stream: RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        for a in 0..<8 {
            for c in 0..<8 {
                let expected = 0.7 * cos(2 * Double.pi * Double(a - c) / 8)
                #expect(abs(batch.gram[a, c] - expected) < 1e-14)
            }
        }
    }

    /// Daneshmand, Joudaki & Bach (2021): with BN the chain's orthogonality gap falls to
    /// O(B/√N) — here below B/√N at two widths, and by the 1/√N law between them (ratio 2 for
    /// a 4× width, ± 4 standard errors of the ratio) — while the same chain without BN does
    /// not orthogonalise: its gap stays ≥ half its initial value (rank collapse).
    @Test func batchNormOrthogonalisesTheLinearChain() throws {
        let b = 8, depth = 50
        let inputs = InputSpec.gram(count: b, q0: 1, c0: 0.6)
        var gaps: [RunningMoments] = []
        for width in [64, 256] {
            let chain = NetworkSpec(width: width, depth: depth, sigmaW: 1, sigmaB: 0, activation: .linear,
                                    architecture: .batchNormChain)
            let s = try sample(chain, observables: observe("orth_gap"), samples: 24, inputs: inputs)
            let gap = moments(s, "orth_gap", layer: depth)
            #expect(gap.mean < Double(b) / Double(width).squareRoot(), "N = \(width): \(gap.mean)")
            gaps.append(gap)

            let plain = NetworkSpec(width: width, depth: depth, sigmaW: 1, sigmaB: 0, activation: .linear)
            let p = try sample(plain, observables: observe("orth_gap"), samples: 24, inputs: inputs)
            let first = moments(p, "orth_gap", layer: 1).mean, last = moments(p, "orth_gap", layer: depth).mean
            #expect(last >= 0.5 * first, "no BN, N = \(width): \(first) → \(last)")
        }
        let ratio = gaps[0].mean / gaps[1].mean
        let relative = gaps.map { $0.standardError! / $0.mean }
        let ratioError = ratio * (relative[0] * relative[0] + relative[1] * relative[1]).squareRoot()
        #expect(abs(ratio - 2) < 4 * ratioError, "gap(64)/gap(256) = \(ratio) ± \(ratioError)")
    }

    /// Labatie (2019): a vanilla ReLU net's representations collapse towards one direction
    /// (effective rank → 1), a BN-ResNet's keep a good share of the batch's dimensions — at a
    /// width well above the depth: the BN-ResNet's rank also decays, as a finite-width effect
    /// (B = 16, depth 100: 1.8 at N = 128, 3.7 at 512, 6.1 at 1024, 7.1 at 2048).
    @Test func batchNormResNetKeepsItsRank() throws {
        let b = 16, depth = 100, width = 1024
        let inputs = InputSpec.gaussian(count: b, q0: 1)
        let observables = observe("eff_rank")
        let vanilla = NetworkSpec(width: width, depth: depth, sigmaW: 2.0.squareRoot(), sigmaB: 0, activation: .relu)
        let resnet = NetworkSpec(width: width, depth: depth, sigmaW: 2.0.squareRoot(), sigmaB: 0, activation: .relu,
                                 architecture: .batchNormResidual(scale: 1))
        let v = moments(try sample(vanilla, observables: observables, samples: 4, inputs: inputs), "eff_rank", layer: depth)
        let r = moments(try sample(resnet, observables: observables, samples: 8, inputs: inputs), "eff_rank", layer: depth)
        #expect(v.mean < 1.5, "vanilla ReLU: \(v.mean)")
        #expect(r.mean > 0.25 * Double(b), "BN-ResNet: \(r.mean) ± \(r.standardError!)")
    }

    /// Labatie (2019): in a BN-ResNet each branch is diluted by the accumulated stream, so its
    /// sensitivity grows far more slowly than a BN feedforward net's; dividing the stream by
    /// √(1 + a²) every layer keeps the branch's share of the stream fixed at ½ and speeds the
    /// growth back up. To first order the per-layer growth of ln χ scales with the branch's
    /// share of the stream's variance: ≈ 1/l unnormalised (the stream holds l branches of
    /// equal variance) against ½ normalised, a rate ratio ≈ l/2 ≈ 22 over layers 30–60; the
    /// test asks for more than 4.
    @Test func residualNormalisationRestoresFastSensitivityGrowth() throws {
        let inputs = InputSpec.gaussian(count: 16, q0: 1)
        var rates: [Double] = []
        for normalized in [false, true] {
            let spec = NetworkSpec(width: 256, depth: 60, sigmaW: 2.0.squareRoot(), sigmaB: 0, activation: .relu,
                                   architecture: .batchNormResidual(scale: 1, normalized: normalized))
            let s = try sample(spec, observables: observe("sensitivity"), samples: 8, inputs: inputs)
            let chi = [30, 60].map { log(moments(s, "sensitivity", layer: $0).mean) }
            rates.append((chi[1] - chi[0]) / 30)
        }
        #expect(rates[0] > 0 && rates[1] > 4 * rates[0], "d ln χ/dl over layers 30–60 without, with normalisation: \(rates)")
    }

    /// The empirical NNGP kernel h_a·h_b/N against the mean-field covariance: every entry
    /// within 4 standard errors plus an O(1/N) allowance, and the error shrinking like
    /// 1/√(N·M) — the standard error of the M-network mean scales as 1/√N between widths:
    /// ratio 2 for a 4× width, within 3 of its own standard errors (an estimated standard
    /// error is off by 1/√(2(M − 1)) relative, the ratio of two by 1/√(M − 1)).
    @Test func empiricalNNGPConvergesToTheAnalyticKernel() throws {
        let b = 4, depth = 4, samples = 128
        var errors: [Double] = []
        for width in [128, 512] {
            let spec = NetworkSpec(width: width, depth: depth, sigmaW: 1.4, sigmaB: 0.2, activation: .tanh)
            let inputs = InputSpec.gram(count: b, q0: 1, c0: 0.4)
            let batch = try InputBatch(spec: inputs, dimension: width,
                                       stream: RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs)))
            let theory = spec.meanField(inputGram: batch.gram.elements, count: b)[depth - 1].covariance
            let s = try sample(spec, observables: Observables([NNGPKernel(depths: [depth])]), samples: samples,
                               inputs: inputs)
            var squared = 0.0
            for a in 0..<b {
                for c in a..<b {
                    let m = moments(s, "nngp_\(a)_\(c)", layer: depth)
                    #expect(m.count == samples)
                    let allowance = 2 * Double(depth) / Double(width) * abs(theory[a * b + c])
                    #expect(abs(m.mean - theory[a * b + c]) < 4 * m.standardError! + allowance, "N = \(width) (\(a),\(c))")
                    squared += m.standardError! * m.standardError!
                }
            }
            errors.append(squared.squareRoot())
            // Measured only at its layer.
            #expect(moments(s, "nngp_0_0", layer: 1).count == 0)
        }
        #expect(abs(errors[0] / errors[1] - 2) < 3 * 2 / Double(samples - 1).squareRoot(), "standard errors \(errors)")
    }

    /// Labatie's sensitivity of a fully connected net on inputs of few dimensions (N₀ = 3,
    /// four Gaussian inputs): the input noise is correlated with the input at O(1/N₀), which
    /// the theory carries (``Sensitivity``, the convolutional recursion with one position). The
    /// measured χ^l of 32 networks at N = 512 is within 4 standard errors plus 2l/N relative
    /// (RepresentationTheoryTests) and the square root's Jensen term 1/(4N₀²B). For tanh the
    /// recursion without the correlation (each input's noise scaled by χ1 alone) misses by more
    /// than that; for relu the two coincide (E[φ′²u²]/q² = E[φ′²]/q: φ′ does not see the scale).
    @Test(arguments: [Activation.tanh, .relu])
    func sensitivityOfFewInputDimensionsCarriesTheirNoiseCorrelation(_ phi: Activation) throws {
        let width = 512, depth = 8, dimension = 3, batch = 4
        let spec = NetworkSpec(width: width, depth: depth, sigmaW: 1.4, sigmaB: 0.1, activation: phi)
        let inputs = try InputBatch(spec: .gaussian(count: batch, q0: 1), dimension: dimension,
                                    stream: RandomStream(StreamID(seed: 3, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("sensitivity"), seed: 17, point: 0)
        var stats = sampler.makeStatistics()
        for s in 0..<32 { try sampler.run(sample: s, into: &stats) }
        let theory = TheoryContext(network: spec, inputs: inputs)
        let predicted = Sensitivity().predict(theory).values[0]
        let jensen = 1 / (4 * Double(dimension * dimension * batch))
        let signal0 = GramGeometry.centredTrace(inputs.gram.elements, count: batch)
        var v = [Double](repeating: 1, count: batch), worst = 0.0
        for l in 1...depth {
            let m = stats.moments[0][l - 1], expected = try #require(predicted[l - 1])
            let tolerance = 4 * m.standardError! + (2 * Double(l) / Double(width) + jensen) * expected
            #expect(abs(m.mean - expected) <= tolerance, "\(phi.name) layer \(l): \(m.mean) vs \(expected) ± \(tolerance)")
            let t = theory.layers[l - 1]
            let uncorrected = (signal0 * 1.96 * v.reduce(0, +) / Double(batch)
                               / GramGeometry.centredTrace(t.covariance, count: batch)).squareRoot()
            worst = max(worst, abs(m.mean - uncorrected) / tolerance)
            v = (0..<batch).map { v[$0] * theory.maps.chi1(q: t.q[$0]) }
        }
        if phi == .tanh { #expect(worst > 1.5, "tanh: the uncorrected noise passed (\(worst) of the tolerance)") }
    }
}
