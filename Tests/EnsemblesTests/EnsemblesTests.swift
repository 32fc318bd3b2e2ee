import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Testing

private let noStream = RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs))

@Suite struct RunningMomentsTests {
    @Test func chanMergeEqualsOnePass() {
        let xs: [Double] = (0..<1000).map { (i: Int) -> Double in
            let wave: Double = Double(i % 37) * 0.25
            return wave - 3 + Double(i) * 1e-3
        }
        var whole = RunningMoments()
        xs.forEach { whole.add($0) }
        var left = RunningMoments(), right = RunningMoments()
        xs[..<313].forEach { left.add($0) }
        xs[313...].forEach { right.add($0) }
        left.merge(right)
        #expect(left.count == 1000)
        #expect(abs(left.mean - whole.mean) < 1e-12)
        #expect(abs(left.variance! - whole.variance!) < 1e-10)
        let mean: Double = xs.reduce(0, +) / 1000
        let squares: Double = xs.reduce(0) { (s: Double, x: Double) -> Double in s + (x - mean) * (x - mean) }
        let variance: Double = squares / 999
        #expect(abs(whole.mean - mean) < 1e-12 && abs(whole.variance! - variance) < 1e-10)
    }

    @Test func nonFiniteValuesAreCountedNotAveraged() {
        var m = RunningMoments()
        [1.0, .nan, 3.0, .infinity].forEach { m.add($0) }
        #expect(m.count == 2 && m.mean == 2 && m.nonFinite == 2)
    }
}

@Suite struct InputTests {
    @Test(arguments: [0.5, 0.0, 1.0, -0.2])
    func gramInputsHaveExactlyTheRequestedGram(c0: Double) throws {
        let batch = try InputBatch(spec: .gram(count: 4, q0: 1.7, c0: c0), dimension: 16, stream: noStream)
        for a in 0..<4 { for b in 0..<4 {
            #expect(abs(batch.gram[a, b] - 1.7 * (a == b ? 1 : c0)) < 1e-12)
        } }
    }

    @Test func gaussianInputsAreNormalisedToQ0() throws {
        let batch = try InputBatch(spec: .gaussian(count: 3, q0: 2.5), dimension: 64, stream: noStream)
        for a in 0..<3 { #expect(abs(batch.gram[a, a] - 2.5) < 1e-12) }
        #expect(abs(batch.gram[0, 1]) < 1)
    }
}

/// Monte Carlo against mean-field theory.
///
/// Tolerance = 4 standard errors + a finite-width allowance. The allowance is the
/// delta-method bias of the estimators at width N, propagated through the maps:
/// `q̂^l` averages N squared Gaussians, so `Var q̂ ≈ 2q²/N` and feeding it to the length
/// map `f` shifts the next layer by `½ f''(q) Var q̂` (plus the slope `f'` times the bias
/// already present): `b_l = |f'(q_{l-1})| b_{l-1} + |f''(q_{l-1})| q_{l-1}²/N`. The sample
/// correlation of N pairs is biased by `c(1−c²)/(2N)` (Fisher 1915), carried along by the
/// c-map slope χ_c. Both are O(1/N); a factor 2 covers the neglected higher orders.
@Suite struct MonteCarloVersusTheory {
    struct Case: Sendable, CustomStringConvertible {
        let activation: Activation, sigmaW: Double, sigmaB: Double
        var description: String { "\(activation.name) σ_w=\(sigmaW) σ_b=\(sigmaB)" }
    }

    static let cases = [
        Case(activation: .tanh, sigmaW: 1.5, sigmaB: 0.3),
        Case(activation: .tanh, sigmaW: 0.9, sigmaB: 0.1),
        Case(activation: .relu, sigmaW: 1.4, sigmaB: 0.2),
        Case(activation: .erf, sigmaW: 1.8, sigmaB: 0.05),
    ]

    func allowances(_ maps: MeanFieldMaps, _ theory: [LayerTheory], width n: Int) -> (q: [Double], c: [Double]) {
        var bq = [0.0], bc = [0.0]
        for l in 1..<theory.count {
            let q = theory[l - 1].meanQ, c = theory[l - 1].meanC ?? 1, h = 1e-3 * q
            let f0 = maps.lengthMap(q), fp = maps.lengthMap(q + h), fm = maps.lengthMap(q - h)
            let slope = abs(fp - fm) / (2 * h), curvature = abs(fp - 2 * f0 + fm) / (h * h)
            bq.append(slope * bq[l - 1] + curvature * q * q / Double(n))
            let chiC = maps.chiC(q: q, c: c)
            bc.append(max(1, abs(chiC)) * bc[l - 1] + abs(c) * (1 - c * c) / (2 * Double(n))
                      + bq[l] / max(q, 1e-12))
        }
        return (bq.map { 2 * $0 }, bc.map { 2 * $0 })
    }

    @Test(arguments: cases)
    func forwardStatisticsMatchMeanField(_ c: Case) throws {
        let width = 512, depth = 8, samples = 48
        let spec = NetworkSpec(width: width, depth: depth, sigmaW: c.sigmaW, sigmaB: c.sigmaB, activation: c.activation)
        let inputs = try InputBatch(spec: .gram(count: 4, q0: 1, c0: 0.5), dimension: width, stream: noStream)
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("q", "c"), seed: 2024, point: 0)
        var stats = sampler.makeStatistics()
        for s in 0..<samples { try sampler.run(sample: s, into: &stats) }
        let maps = MeanFieldMaps(activation: c.activation, sigmaW: c.sigmaW, sigmaB: c.sigmaB)
        let theory = spec.meanField(inputGram: inputs.gram.elements, count: 4)
        let allow = allowances(maps, theory, width: width)
        for l in 0..<depth {
            let q = stats.moments[0][l], corr = stats.moments[1][l]
            #expect(q.count == samples && corr.count == samples)
            let qTol = 4 * q.standardError! + allow.q[l]
            #expect(abs(q.mean - theory[l].meanQ) <= qTol,
                    "\(c) layer \(l + 1): q \(q.mean) vs \(theory[l].meanQ) (tol \(qTol))")
            let cTol = 4 * corr.standardError! + allow.c[l]
            #expect(abs(corr.mean - theory[l].meanC!) <= cTol,
                    "\(c) layer \(l + 1): c \(corr.mean) vs \(theory[l].meanC!) (tol \(cTol))")
        }
    }

    /// Orthogonal linear layers preserve lengths exactly: with σ_b = 0,
    /// `q^l = σ_w^{2l} q0` and `c^l = c0` for every single network, not just on average.
    @Test func orthogonalLinearNetworksAreExactIsometries() throws {
        let spec = NetworkSpec(width: 64, depth: 5, sigmaW: 1.1, sigmaB: 0, activation: .linear, weightInit: .orthogonal)
        let inputs = try InputBatch(spec: .gram(count: 3, q0: 0.8, c0: 0.3), dimension: 64, stream: noStream)
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("q", "c"), seed: 5, point: 0)
        var stats = sampler.makeStatistics()
        for s in 0..<4 { try sampler.run(sample: s, into: &stats) }
        for l in 0..<5 {
            let expected = 0.8 * pow(1.1 * 1.1, Double(l + 1))
            #expect(abs(stats.moments[0][l].mean - expected) < 1e-12 * expected)
            #expect(stats.moments[0][l].variance! < 1e-24)
            #expect(abs(stats.moments[1][l].mean - 0.3) < 1e-12)
        }
    }

    /// Gaussian and orthogonal weights share the mean-field length map; a float32 run
    /// agrees with it too (statistics accumulate in float64).
    @Test(arguments: [(WeightLaw.orthogonal, false), (WeightLaw.gaussian, true)])
    func orthogonalAndFloat32FollowTheSameTheory(_ weightInit: WeightLaw, _ single: Bool) throws {
        let width = 256, depth = 5, samples = 32
        let spec = NetworkSpec(width: width, depth: depth, sigmaW: 1.3, sigmaB: 0.2, activation: .tanh, weightInit: weightInit)
        let inputs = try InputBatch(spec: .gram(count: 4, q0: 1, c0: 0.2), dimension: width, stream: noStream)
        var stats: EnsembleStatistics
        if single {
            var sampler = NetworkSampler<Float>(spec: spec, inputs: inputs, observables: observe("q"), seed: 9, point: 1)
            stats = sampler.makeStatistics()
            for s in 0..<samples { try sampler.run(sample: s, into: &stats) }
        } else {
            var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("q"), seed: 9, point: 1)
            stats = sampler.makeStatistics()
            for s in 0..<samples { try sampler.run(sample: s, into: &stats) }
        }
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 1.3, sigmaB: 0.2)
        let theory = spec.meanField(inputGram: inputs.gram.elements, count: 4)
        let allow = allowances(maps, theory, width: width)
        for l in 0..<depth {
            let q = stats.moments[0][l]
            #expect(abs(q.mean - theory[l].meanQ) <= 4 * q.standardError! + allow.q[l],
                    "\(weightInit) float32=\(single) layer \(l + 1): \(q.mean) vs \(theory[l].meanQ)")
        }
    }

    /// A network's randomness is a pure function of (seed, point, sample, layer, purpose):
    /// sampling in another order or another accumulator gives the same numbers.
    @Test func samplesDoNotDependOnOrder() throws {
        let spec = NetworkSpec(width: 128, depth: 4, sigmaW: 1.2, sigmaB: 0.1, activation: .relu)
        let inputs = try InputBatch(spec: .gram(count: 2, q0: 1, c0: 0.5), dimension: 128, stream: noStream)
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("q", "c", "gram"), seed: 3, point: 7)
        var forward = sampler.makeStatistics(), backward = sampler.makeStatistics()
        var single = sampler.makeStatistics()
        try sampler.run(sample: 2, into: &single)
        for s in [0, 1, 2] { try sampler.run(sample: s, into: &forward) }
        for s in [2, 1, 0] { try sampler.run(sample: s, into: &backward) }
        for k in forward.names.indices { for l in 0..<4 {
            #expect(abs(forward.moments[k][l].mean - backward.moments[k][l].mean) < 1e-13)
        } }
        var again = sampler.makeStatistics()
        try sampler.run(sample: 2, into: &again)
        #expect(again == single)
        #expect(forward.names == ["q", "c", "gram_0_0", "gram_0_1", "gram_1_1"])
    }
}
