@testable import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Testing

/// The empirical one-sample NTK (NTK parameterisation, at the batch's first input).
@Suite struct NTKTests {
    /// A 4-wide, 3-deep tanh net rebuilt from its random streams: Θ by central finite
    /// differences of h^L in every W̃ and b̃ equals the sampler's backward pass — its mean
    /// eigenvalue, largest eigenvalue and condition number to 1e-6 (the differences' step
    /// error is O(ε²) = 1e-10, relative). Both weight laws: the regenerated W^l must be the
    /// ones the forward pass used, or the rebuilt net's outputs would not be the sampler's.
    @Test(arguments: [WeightLaw.gaussian, .orthogonal])
    func backwardPassEqualsFiniteDifferences(_ weightInit: WeightLaw) throws {
        let (n, depth, sigmaW, sigmaB) = (4, 3, 1.3, 0.2)
        let spec = NetworkSpec(width: n, depth: depth, sigmaW: sigmaW, sigmaB: sigmaB, activation: .tanh,
                               weightInit: weightInit)
        let inputs = try InputBatch(spec: .gram(count: 2, q0: 1, c0: 0.3), dimension: n,
                                    stream: RandomStream(StreamID(seed: 0, point: 0, sample: 0, layer: 0, purpose: .inputs)))
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: Observables([MeanSquaredLength(), EmpiricalNTK()]),
                                           seed: 4, point: 2)
        var statistics = sampler.makeStatistics()
        try sampler.run(sample: 5, into: &statistics)
        var forward = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("gram"), seed: 4, point: 2)
        var gram = forward.makeStatistics()
        try forward.run(sample: 5, into: &gram)
        func measured(_ name: String) -> Double { statistics.moments[statistics.names.firstIndex(of: name)!][depth - 1].mean }

        var weights = try (1...depth).map { l in
            try Affine(spec: spec).weightMatrix(RandomStream(StreamID(seed: 4, point: 2, sample: 5, layer: UInt32(l),
                                                                      purpose: .weights)), fanIn: n)
        }
        var biases = (1...depth).map { l -> [Double] in
            var b = [Double](repeating: 0, count: n)
            b.withUnsafeMutableBufferPointer {
                RandomStream(StreamID(seed: 4, point: 2, sample: 5, layer: UInt32(l), purpose: .biases))
                    .fillStandardNormal($0, scale: sigmaB)
            }
            return b
        }
        let x0 = (0..<n).map { inputs.matrix[$0, 0] }
        func output() -> [Double] {
            var x = x0, h = x0
            for l in 0..<depth {
                h = (0..<n).map { i in (0..<n).reduce(biases[l][i]) { $0 + weights[l][i, $1] * x[$1] } }
                x = h.map { tanh($0) }
            }
            return h
        }
        // The rebuilt net is the sampled one: |h^L|²/N of the first input as the sampler saw it.
        let h = output()
        let q = h.reduce(0) { $0 + $1 * $1 } / Double(n)
        let sampled = gram.moments[gram.names.firstIndex(of: "gram_0_0")!][depth - 1].mean
        #expect(abs(q / sampled - 1) < 1e-12, "rebuilt q \(q) vs sampled \(sampled)")
        // NTK parameterisation: W = (σ_w/√N) W̃, b = σ_b b̃; perturb the tilde parameters.
        let eps = 1e-5
        var theta = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        func accumulate(_ perturb: (Double) -> Void) {
            perturb(eps); let plus = output()
            perturb(-2 * eps); let minus = output()
            perturb(eps)
            let g = zip(plus, minus).map { ($0 - $1) / (2 * eps) }
            for i in 0..<n { for j in 0..<n { theta[i][j] += g[i] * g[j] } }
        }
        let wScale = sigmaW / Double(n).squareRoot()
        for l in 0..<depth {
            for i in 0..<n {
                for j in 0..<n { accumulate { weights[l][i, j] += wScale * $0 } }
                accumulate { biases[l][i] += sigmaB * $0 }
            }
        }
        var m = Matrix<Double>(rows: n, columns: n)
        for i in 0..<n { for j in 0..<n { m[i, j] = theta[i][j] } }
        let eigenvalues = try m.symmetricEigenvalues()
        let mean = eigenvalues.reduce(0, +) / Double(n)
        #expect(abs(measured("ntk_mean") / mean - 1) < 1e-6, "\(measured("ntk_mean")) vs \(mean)")
        #expect(abs(measured("ntk_max") / eigenvalues.last! - 1) < 1e-6)
        #expect(abs(measured("ntk_cond") / (eigenvalues.last! / eigenvalues.first!) - 1) < 1e-5)
    }

    /// Linear Gaussian nets: w_l and B_l are independent and E tr(B_l B_lᵀ)/N = σ_w^{2(L−l)}
    /// exactly, so E ntk_mean = Σ_l (σ_w² q^{l−1} + σ_b²) σ_w^{2(L−l)} = Θ^L(x, x) at any
    /// width: within 4 standard errors with no allowance. Tanh: 4 SE + L/N.
    @Test(arguments: [(Activation.linear, 0.0), (.linear, 0.3), (.tanh, 0.0)])
    func meanEigenvalueIsTheAnalyticNTK(_ phi: Activation, _ sigmaB: Double) throws {
        let (n, depth) = (64, 6)
        let spec = NetworkSpec(width: n, depth: depth, sigmaW: 1.2, sigmaB: sigmaB, activation: phi)
        let s = try sample(spec, observables: Observables([MeanSquaredLength(), EmpiricalNTK()]), samples: 48, seed: 3)
        let m = moments(s, "ntk_mean", layer: depth)
        let g0 = 1.0   // the gram inputs have |x|²/N₀ = q0 = 1
        let maps = MeanFieldMaps(activation: phi, sigmaW: 1.2, sigmaB: sigmaB)
        let kernel = spec.meanField(inputGram: [g0], count: 1).map(\.covariance)
        let expected = maps.neuralTangentKernel(nngp: kernel, count: 1)[depth - 1][0]
        let allowance = phi == .linear ? 0 : Double(depth) / Double(n) * expected
        #expect(abs(m.mean - expected) < 4 * m.standardError! + allowance, "\(phi.name): \(m.mean) vs \(expected)")
        #expect(moments(s, "ntk_cond", layer: depth).mean > 1)
    }

    /// The `ntk_eig` histogram holds every eigenvalue of every network: at depth 1 Θ = w_1 I
    /// with w_1 = σ_w² |x⁰|²/N₀ + σ_b² = σ_w² q0 + σ_b², so all N·samples counts fall in the
    /// bin of that value; deeper, the counts total N·samples with none outside the range, and
    /// since the trace is N·ntk_mean per network, Σ_bins count·lo ≤ N·samples·mean(ntk_mean)
    /// ≤ Σ_bins count·hi exactly (up to rounding).
    @Test(arguments: [1, 5])
    func eigenvalueHistogramHoldsTheSpectrum(_ depth: Int) throws {
        let (n, samples, sigmaW, sigmaB) = (48, 6, 1.4, 0.3)
        let spec = NetworkSpec(width: n, depth: depth, sigmaW: sigmaW, sigmaB: sigmaB, activation: .tanh)
        let ntk = EmpiricalNTK(histogram: (bins: 90, range: 1e-4...1e5))
        #expect(ntk.histograms(NetworkShape(spec: spec, batch: 2, inputDimension: n)).map(\.observable) == ["ntk_eig"])
        let s = try sample(spec, observables: Observables([MeanSquaredLength(), ntk]), samples: samples, seed: 8)
        let histogram = s.histograms[0]
        let total = samples * n
        #expect(histogram.total + histogram.belowFloor == total && histogram.underflow == 0 && histogram.overflow == 0,
                "\(histogram.total) + \(histogram.belowFloor) of \(total); outside \(histogram.underflow), \(histogram.overflow)")
        let bins = (0..<histogram.counts.count).map { histogram.edges($0) }
        if depth == 1 {
            let w = sigmaW * sigmaW + sigmaB * sigmaB
            let bin = try #require(bins.firstIndex { $0.0 <= w && w < $0.1 })
            #expect(histogram.counts[bin] == total, "\(histogram.counts[bin]) of \(total) in [\(bins[bin])] ∋ \(w)")
        }
        let trace = Double(total) * moments(s, "ntk_mean", layer: depth).mean
        let low = zip(histogram.counts, bins).reduce(0) { $0 + Double($1.0) * $1.1.0 }
        let high = zip(histogram.counts, bins).reduce(0) { $0 + Double($1.0) * $1.1.1 }
        #expect(histogram.belowFloor == 0 && low <= trace * (1 + 1e-12) && trace <= high * (1 + 1e-12),
                "Σ count·lo \(low) ≤ trace \(trace) ≤ Σ count·hi \(high)")
    }
}
