import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Testing

/// `architecture = "layernorm"`: x^l = φ(LN(W x^{l−1} + b)), q and c measured after LN.
@Suite struct LayerNormTests {
    /// The composition's theory: LN fixes q = 1 at every layer, and c follows Poole et al.'s
    /// C-map at q = 1, `c ↦ (σ_w² E φ(u)φ(u′) + σ_b²)/(σ_w² E φ(u)² + σ_b²)`, from
    /// `c¹ = (σ_w² c0 q0 + σ_b²)/(σ_w² q0 + σ_b²)`.
    @Test func theoryIsTheCMapAtUnitLength() {
        let (w, b, q0, c0, depth) = (1.6, 0.3, 1.7, 0.2, 10)
        let spec = NetworkSpec(width: 2, depth: depth, sigmaW: w, sigmaB: b, activation: .tanh, architecture: .layerNorm)
        let layers = spec.meanField(inputGram: [q0, c0 * q0, c0 * q0, q0], count: 2)
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: w, sigmaB: b)
        var c = (w * w * c0 * q0 + b * b) / (w * w * q0 + b * b)
        #expect(layers.count == depth)
        for layer in layers {
            #expect(layer.q.allSatisfy { abs($0 - 1) < 1e-15 }, "layer \(layer.layer): \(layer.q)")
            #expect(abs(layer.meanC! - c) < 1e-12, "layer \(layer.layer): \(layer.meanC!) vs \(c)")
            c = maps.correlationMap(c, q: 1)
        }
    }

    /// Monte Carlo against that theory. q: every input's pre-activation has exactly unit
    /// variance after LN, so q = 1 to rounding. c: the correlation of N units that are iid
    /// given the layer's input (Gaussian weights; orthogonal ones are exchangeable) is the
    /// sample correlation of N pairs, biased by −ρ(1 − ρ²)/(2N) (Fisher 1915) — at most
    /// 0.2/N — with the mean over units subtracted (the O(1/N) centring the mean-field map
    /// leaves out); earlier layers' fluctuations reach layer l through the C-map, the 2l/N
    /// allowance of the other forward observables. So: 4 SE + 2l/N.
    @Test(arguments: [(Backend.dense, WeightLaw.gaussian), (.dense, .orthogonal), (.implicit, .gaussian),
                      (.implicit, .orthogonal)])
    func monteCarloMatchesTheory(_ backend: Backend, _ weights: WeightLaw) throws {
        let (n, depth, samples) = (512, 8, 32)
        let spec = NetworkSpec(width: n, depth: depth, sigmaW: 1.5, sigmaB: 0.3, activation: .tanh, weightInit: weights,
                               architecture: .layerNorm)
        let batch = try InputBatch(spec: .gram(count: 4, q0: 1, c0: 0.5), dimension: n,
                                   stream: RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        let observables = Observables([MeanSquaredLength(), MeanCorrelation()])
        var sampler = NetworkSampler<Double>(spec: spec, inputs: batch, observables: observables, seed: 21, point: 0,
                                             backend: backend)
        var statistics = sampler.makeStatistics()
        for s in 0..<samples { try sampler.run(sample: s, into: &statistics) }
        let theory = TheoryContext(network: spec, inputs: batch)
        let predictions = observables.predict(theory)
        for layer in 1...depth {
            let q = statistics.moments[0][layer - 1], c = statistics.moments[1][layer - 1]
            let expectedQ = try #require(predictions[0].values[0][layer - 1])
            let expectedC = try #require(predictions[1].values[0][layer - 1])
            #expect(abs(expectedQ - 1) < 1e-14 && abs(q.mean - 1) < 1e-12, "layer \(layer): q \(q.mean)")
            let tolerance = 4 * c.standardError! + 2 * Double(layer) / Double(n)
            #expect(abs(c.mean - expectedC) <= tolerance,
                    "\(backend) \(weights) layer \(layer): c \(c.mean) vs \(expectedC) ± \(tolerance)")
        }
    }

    /// Without the normalisation the same net's q follows the length map instead: the layer
    /// map is what makes q = 1 (a check that LN is in the sampled composition).
    @Test func theLayerNormIsSampled() throws {
        let spec = NetworkSpec(width: 256, depth: 3, sigmaW: 2.5, sigmaB: 0.3, activation: .tanh)
        var normalised = spec
        normalised.architecture = .layerNorm
        let plain = try sample(spec, observables: Observables([MeanSquaredLength()]), samples: 4)
        let ln = try sample(normalised, observables: Observables([MeanSquaredLength()]), samples: 4)
        #expect(moments(plain, "q", layer: 3).mean > 2 && abs(moments(ln, "q", layer: 3).mean - 1) < 1e-12)
    }
}
