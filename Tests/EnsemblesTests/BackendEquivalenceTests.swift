import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Testing

/// The implicit backend samples the dense network's law exactly (README, "What it computes"): two-sample
/// tests of the per-layer statistics, each mean within 4 combined standard errors
/// `4 √(se_dense² + se_implicit²)` (the two runs use different random numbers, so they agree
/// in law, not in value). Fixed seeds: the outcome is deterministic.
@Suite struct BackendEquivalenceTests {
    static let observables = observe("q", "c", "orth_gap", "eff_rank", "sensitivity")
    static let names = ["q", "c", "orth_gap", "eff_rank", "sensitivity"]

    func run(_ spec: NetworkSpec, _ backend: Backend, samples: Int = 32, inputDimension: Int? = nil) throws -> EnsembleStatistics {
        let stream = RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs))
        let inputs: InputBatch
        if let n0 = inputDimension {
            // Inputs of their own dimension N₀ ≠ N, as from a file.
            let rows = (0..<6).map { (a: Int) -> [Double] in
                (0..<n0).map { (i: Int) -> Double in
                    let phase = Double(a * n0 + i) * 0.37
                    return sin(phase) + 0.2 * Double(a)
                }
            }
            inputs = try InputBatch(spec: .file(path: "", rows: rows, q0: 1), dimension: n0, stream: stream)
        } else {
            inputs = try InputBatch(spec: .gaussian(count: 6, q0: 1), dimension: spec.width, stream: stream)
        }
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: Self.observables, seed: 17, point: 3,
                                           backend: backend)
        var statistics = sampler.makeStatistics()
        for s in 0..<samples { try sampler.run(sample: s, into: &statistics) }
        return statistics
    }

    func worstZ(_ dense: EnsembleStatistics, _ implicit: EnsembleStatistics, depth: Int) -> (Double, String) {
        worstTwoSampleZ(dense, implicit, names: Self.names, layers: [1, depth / 2, depth])
    }

    @Test(arguments: [
        (Activation.tanh, WeightLaw.gaussian, Architecture.feedforward),
        (.relu, .gaussian, .feedforward),
        (.tanh, .orthogonal, .feedforward),
        (.relu, .orthogonal, .feedforward),
        (.tanh, .gaussian, .residual(scale: 1)),
        (.relu, .orthogonal, .residual(scale: 0.7)),
        (.tanh, .gaussian, .batchNorm),
        (.relu, .gaussian, .batchNormResidual(scale: 1)),
    ])
    func implicitMatchesDenseInLaw(_ phi: Activation, _ weightInit: WeightLaw, _ architecture: Architecture) throws {
        for width in [256, 512] {
            let depth = 8
            let spec = NetworkSpec(width: width, depth: depth, sigmaW: 1.3, sigmaB: architecture.usesBatchNorm ? 0 : 0.3,
                                   activation: phi, weightInit: weightInit, architecture: architecture,
                                   weightScaling: architecture.isResidual ? .widthTimesDepth : .width)
            let (z, at) = worstZ(try run(spec, .dense), try run(spec, .implicit), depth: depth)
            #expect(z < 4, "N = \(width) \(phi.name) \(weightInit) \(architecture.name): \(at) (z = \(z))")
        }
    }

    /// A first layer from inputs of another dimension (N₀ = 40 and 300 into N = 256): the
    /// fan-in of the first law is N₀, for both weight laws.
    @Test(arguments: [(40, WeightLaw.gaussian), (300, .gaussian), (40, .orthogonal)])
    func firstLayerFromInputsOfAnotherDimension(_ n0: Int, _ weightInit: WeightLaw) throws {
        let depth = 6
        let spec = NetworkSpec(width: 256, depth: depth, sigmaW: 1.3, sigmaB: 0.3, activation: .tanh, weightInit: weightInit)
        let (z, at) = worstZ(try run(spec, .dense, inputDimension: n0), try run(spec, .implicit, inputDimension: n0),
                             depth: depth)
        #expect(z < 4, "N₀ = \(n0) \(weightInit): \(at) (z = \(z))")
    }

    /// The streamed implicit layer (``NetworkSampler/isStreamed``: observables that read only
    /// the Gram, so h and x are never stored) gives the very numbers of the implicit maps run
    /// one after the other, which a Gram-spectrum observable (it reads h at layer 1) forces:
    /// several row blocks and a remainder (N = 12 000 at B = 6: 23 blocks of 512 and 224 rows), a first
    /// layer from wider inputs, a relu net rescaled by 2^±e on the way up and down, a
    /// scalar-path φ, and a softplus net that overflows (NaN from the layer after).
    @Test(arguments: [
        (Activation.tanh, 12_000, 1.3, 0.3, 5, nil as Int?),
        (.tanh, 700, 1.3, 0.3, 4, 2_000),
        (.relu, 300, 40.0, 0.3, 60, nil),
        (.relu, 300, 0.02, 0, 50, nil),
        (.erf, 5_500, 2.0, 0.1, 4, nil),
        (.softplus, 400, 1e30, 0.1, 14, nil),
    ])
    func streamedLayerGivesTheNumbersOfTheMaps(_ phi: Activation, _ width: Int, _ sigmaW: Double, _ sigmaB: Double,
                                               _ depth: Int, _ inputDimension: Int?) throws {
        let spec = NetworkSpec(width: width, depth: depth, sigmaW: sigmaW, sigmaB: sigmaB, activation: phi)
        let inputs = try InputBatch(spec: .gaussian(count: 6, q0: 1), dimension: inputDimension ?? width,
                                    stream: RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        let gramOnly = [MeanSquaredLength(), MeanCorrelation(), EffectiveRank(), OrthogonalityGap()] as [any Observable]
        var streamed = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: Observables(gramOnly), seed: 9,
                                              point: 1, backend: .implicit)
        var maps = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: Observables(gramOnly + [GramSpectrum()]),
                                          seed: 9, point: 1, backend: .implicit)
        #expect(streamed.isStreamed && !maps.isStreamed)
        var a = streamed.makeStatistics(), b = maps.makeStatistics()
        for s in 0..<3 {
            try streamed.run(sample: s, into: &a)
            try maps.run(sample: s, into: &b)
        }
        var diverged = 0
        for (k, name) in a.names.enumerated() {
            let j = try #require(b.names.firstIndex(of: name))
            for l in 0..<depth {
                #expect(a.moments[k][l] == b.moments[j][l], "\(name) at layer \(l + 1)")
                diverged += a.moments[k][l].count < 3 ? 1 : 0
            }
        }
        #expect((diverged > 0) == (phi == .softplus), "only the softplus net diverges")
        #expect((streamed.network.forwardLogScale != 0) == (phi == .relu), "only the relu nets are rescaled")
    }

    /// Float32, tangent columns, orthogonal weights, the dense backend and skip connections
    /// keep the maps one after the other.
    @Test func streamingNeedsAGramOnlyFloat64FeedforwardGaussianImplicitNet() throws {
        let spec = NetworkSpec(width: 64, depth: 2, sigmaW: 1.3, sigmaB: 0.3, activation: .tanh)
        let inputs = try InputBatch(spec: .gaussian(count: 4, q0: 1), dimension: 64,
                                    stream: RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        let q = observe("q", "c")
        func streams<T: BLASScalar & GaussianFillable>(_: T.Type, _ spec: NetworkSpec, _ o: Observables,
                                                       _ backend: Backend = .implicit) -> Bool {
            NetworkSampler<T>(spec: spec, inputs: inputs, observables: o, seed: 0, point: 0, backend: backend).isStreamed
        }
        var orthogonal = spec, residual = spec
        orthogonal.weightInit = .orthogonal
        residual.architecture = .residual(scale: 1)
        #expect(streams(Double.self, spec, q))
        #expect(!streams(Float.self, spec, q))
        #expect(!streams(Double.self, spec, observe("q", "sensitivity")))
        #expect(!streams(Double.self, orthogonal, q))
        #expect(!streams(Double.self, residual, q))
        #expect(!streams(Double.self, spec, q, .dense))
    }

    /// The same test catches a sampler that forgets the bias: the implicit net without σ_b
    /// against the dense net with it.
    @Test func aSamplerWithoutTheBiasFailsTheTest() throws {
        let depth = 8
        let dense = NetworkSpec(width: 256, depth: depth, sigmaW: 1.3, sigmaB: 0.3, activation: .tanh)
        var forgetful = dense
        forgetful.sigmaB = 0
        let (z, at) = worstZ(try run(dense, .dense), try run(forgetful, .implicit), depth: depth)
        #expect(z > 4, "the bias-less sampler should be caught: \(at) (z = \(z))")
    }

    /// Lyapunov tangents ride along in the implicit backend too: a linear Gaussian chain's
    /// top exponents are Newman's (3 standard errors, as for the dense sampler), in float64
    /// and in float32 (whose Grams are accumulated in float64).
    @Test func implicitLyapunovExponentsAreNewmans() throws {
        let (d, k, sigma) = (64, 4, 1.2)
        let spec = NetworkSpec(width: d, depth: 16, sigmaW: sigma, sigmaB: 0, activation: .linear)
        let inputs = try InputBatch(spec: .gaussian(count: 2, q0: 1), dimension: d,
                                    stream: RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        let observables = Observables([MeanSquaredLength(), LyapunovExponents(k: k)])
        var double = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observables, seed: 5, point: 0,
                                          backend: .implicit)
        var single = NetworkSampler<Float>(spec: spec, inputs: inputs, observables: observables, seed: 5, point: 0,
                                         backend: .implicit)
        var s64 = double.makeStatistics(), s32 = single.makeStatistics()
        for s in 0..<64 {
            try double.run(sample: s, into: &s64)
            try single.run(sample: s, into: &s32)
        }
        for statistics in [s64, s32] {
            for i in 1...k {
                let m = moments(statistics, "lyap_\(i)", layer: 16)
                let theory = LyapunovTheory.gaussianProduct(dimension: d, k: i, sigma: sigma, varianceDenominator: Double(d))
                #expect(abs(m.mean - theory) < 3 * m.standardError!, "λ_\(i): \(m.mean) vs \(theory)")
            }
        }
    }
}

/// The largest |mean_a − mean_b| / combined standard error `√(se_a² + se_b²)` over the named
/// statistics at `layers`, and where. Quantities fixed by the law (q after BN; the first
/// layer's Gram under orthogonal weights) have no spread; their standard error is floored at
/// float64 rounding, 10⁻¹² of the value.
func worstTwoSampleZ(_ a: EnsembleStatistics, _ b: EnsembleStatistics, names: [String], layers: [Int]) -> (Double, String) {
    var worst = (0.0, "")
    for name in names {
        for layer in layers {
            let x = moments(a, name, layer: layer), y = moments(b, name, layer: layer)
            let se = ((x.standardError ?? 0) * (x.standardError ?? 0) + (y.standardError ?? 0) * (y.standardError ?? 0)).squareRoot()
                + 1e-12 * max(abs(x.mean), abs(y.mean))
            let z = se > 0 ? abs(x.mean - y.mean) / se : (x.mean == y.mean ? 0 : .infinity)
            if z > worst.0 { worst = (z, "\(name) at layer \(layer): \(x.mean) vs \(y.mean)") }
        }
    }
    return worst
}
