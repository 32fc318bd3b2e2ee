import Ensembles
import Foundation
import FreeProbability
import MeanField
import Randomness
import Testing

/// Theory and statistics across the whole double range: lengths that leave Double's range
/// keep their exact logarithms and correlations, in-range values keep their bits.
@Suite struct TheoryExtremesTests {
    private func gram(_ q0: Double, _ c0: Double, count: Int = 2) -> [Double] {
        (0..<(count * count)).map { $0 % (count + 1) == 0 ? q0 : c0 * q0 }
    }

    /// The plain iteration the scaled one must reproduce bit for bit wherever Σ is
    /// representable: Σ' = σ_w² E φφ(Σ) + σ_b², on the doubles themselves.
    private func plain(_ spec: NetworkSpec, _ g: [Double], count b: Int) -> [[Double]] {
        let maps = MeanFieldMaps(activation: spec.activation, sigmaW: 1, sigmaB: 0)
        var x = g, out: [[Double]] = []
        for _ in 0..<spec.depth {
            let h = x.map { spec.sigmaW * spec.sigmaW * $0 + spec.sigmaB * spec.sigmaB }
            out.append(h)
            // Upper triangle, mirrored, as the maps have always done it.
            x = (0..<(b * b)).map { k in
                let (i, j) = (min(k / b, k % b), max(k / b, k % b))
                return maps.secondMoment(qaa: h[i * b + i], qbb: h[j * b + j], qab: h[i * b + j])
            }
        }
        return out
    }

    @Test("in range, the scaled propagation gives the plain covariance to the bit (tanh, erf, relu, gelu; B = 3)",
          arguments: [Activation.tanh, .erf, .relu, .gelu])
    func sameBitsInRange(_ phi: Activation) {
        let spec = NetworkSpec(width: 1, depth: 12, sigmaW: 1.7, sigmaB: 0.3, activation: phi)
        let g = [1.3, 0.4, -0.2, 0.4, 0.9, 0.1, -0.2, 0.1, 2.5]
        let layers = spec.meanField(inputGram: g, count: 3)
        let reference = plain(spec, g, count: 3)
        for (l, layer) in layers.enumerated() { #expect(layer.covariance == reference[l], "layer \(l + 1)") }
    }

    @Test("relu σ_w = 4 to depth 400: q^l = 16·8^(l−1) exactly (log₂ q = 3l + 1), inf past 10³⁰⁸, c on the arc-cosine map")
    func chaoticReLU() {
        let spec = NetworkSpec(width: 1, depth: 400, sigmaW: 4, sigmaB: 0, activation: .relu)
        let layers = spec.meanField(inputGram: gram(1, 0.5), count: 2)
        var c = 0.5
        for (i, layer) in layers.enumerated() {
            let l = Double(i + 1)
            #expect(layer.log2MeanQ == 3 * l + 1)
            #expect(layer.meanQ == (3 * l + 1 < 1024 ? 16 * pow(8, l - 1) : .infinity))
            // Cho & Saul (2009): c' = (√(1 − c²) + (π − arccos c) c)/π, independent of q.
            if i > 0 { c = ((1 - c * c).squareRoot() + (Double.pi - acos(c)) * c) / Double.pi }
            #expect(abs(layer.meanC! - c) < 1e-13, "layer \(i + 1): c \(layer.meanC!) vs \(c)")
            #expect(layer.overflows == (3 * l + 1 >= 1024))
        }
    }

    @Test("linear σ_w = 0.5 to depth 1200: c = c⁰ at every layer, q^l = 4^(−l) exactly")
    func vanishingLinear() {
        let spec = NetworkSpec(width: 1, depth: 1200, sigmaW: 0.5, sigmaB: 0, activation: .linear)
        for (i, layer) in spec.meanField(inputGram: gram(1, 0.5), count: 2).enumerated() {
            #expect(layer.log2MeanQ == -2 * Double(i + 1))
            #expect(layer.meanC == 0.5)
        }
    }

    @Test("tanh σ_w = 0.1 to depth 300: q falls by σ_w² per layer once small, c settles, nothing NaN or negative")
    func vanishingTanh() {
        let spec = NetworkSpec(width: 1, depth: 300, sigmaW: 0.1, sigmaB: 0, activation: .tanh)
        let layers = spec.meanField(inputGram: gram(1, 0.5), count: 2)
        for (i, layer) in layers.enumerated() {
            #expect(layer.meanQ >= 0 && !layer.meanQ.isNaN && layer.meanC!.isFinite)
            guard i > 0, layers[i - 1].log2MeanQ < -70 else { continue }
            // E tanh(u_a) tanh(u_b) = q_ab (1 + O(q)): the step is log₂ σ_w² to O(q) ≤ 2⁻⁷⁰.
            #expect(abs(layer.log2MeanQ - layers[i - 1].log2MeanQ - log2(0.01)) < 1e-12, "layer \(i + 1)")
            #expect(abs(layer.meanC! - layers[i - 1].meanC!) < 1e-12)
        }
        #expect(layers[299].underflows && layers[299].meanQ == 0 && layers[299].log2MeanQ < -1900)
    }

    @Test("tanh at q⁰ = 10³⁰⁸: q¹ overflows Double, q² = σ_w² (tanh² → 1), c² = (2/π) arcsin c⁰")
    func saturatedTanh() {
        let spec = NetworkSpec(width: 1, depth: 3, sigmaW: 1.5, sigmaB: 0, activation: .tanh)
        let layers = spec.meanField(inputGram: gram(1e308, 0.5), count: 2)
        #expect(layers[0].meanQ == .infinity && abs(layers[0].log2MeanQ - (log2(2.25) + log2(1e308))) < 1e-12)
        #expect(abs(layers[1].meanQ - 2.25) < 1e-12)
        #expect(abs(layers[1].meanC! - 2 / Double.pi * asin(0.5)) < 1e-12)
    }

    @Test("inputs of very different sizes (10³⁰⁰ and 10⁻³⁰⁰): every length and correlation finite and on its limit")
    func mixedScales() {
        let spec = NetworkSpec(width: 1, depth: 4, sigmaW: 1.2, sigmaB: 0, activation: .tanh)
        let g = [1e300, 0.5, 0.5, 1e-300]   // c⁰ = 0.5
        for layer in spec.meanField(inputGram: g, count: 2) {
            #expect(layer.log2Q.allSatisfy(\.isFinite) && layer.meanC!.isFinite && abs(layer.meanC!) <= 1)
        }
    }
}

/// Input batches and Jacobian spectra whose sizes leave Double's range.
@Suite struct InputAndSpectrumExtremesTests {
    private func batch(_ spec: InputSpec, dimension: Int) throws -> InputBatch {
        try InputBatch(spec: spec, dimension: dimension, stream: RandomStream(StreamID(seed: 1, point: 0, sample: 0,
                                                                                         layer: 0, purpose: .inputs)))
    }

    @Test("q0 = 10³⁰⁸ at width 64: finite inputs, G0 = q0 and c0 exact though N₀·q0 overflows")
    func hugeGramInputs() throws {
        let inputs = try batch(.gram(count: 2, q0: 1e308, c0: 0.5), dimension: 64)
        #expect(inputs.matrix.elements.allSatisfy { $0.isFinite })
        #expect(abs(inputs.moments.log2Variance(0) - log2(1e308)) < 1e-13)
        #expect(abs(inputs.gram[0, 1] / 1e308 - 0.5) < 1e-15)
        let layers = NetworkSpec(width: 64, depth: 2, sigmaW: 1.5, sigmaB: 0, activation: .tanh).meanField(input: inputs.moments)
        #expect(abs(layers[1].meanQ - 2.25) < 1e-12 && abs(layers[1].meanC! - 2 / Double.pi * asin(0.5)) < 1e-12)
    }

    @Test("file inputs of entries 10³⁰⁰: |x|²/N₀ = 10⁶⁰⁰ carried exactly; in range the bits of XᵀX/N₀")
    func hugeFileInputs() throws {
        let rows = [[3e300, -4e300], [1e300, 1e300]]
        let inputs = try batch(.file(path: "x.csv", rows: rows, q0: nil), dimension: 2)
        // |x_0|²/2 = 12.5·10⁶⁰⁰, x_0·x_1/2 = −0.5·10⁶⁰⁰.
        #expect(abs(inputs.moments.log2Variance(0) - (log2(12.5) + 600 * log2(10.0))) < 1e-12)
        #expect(inputs.moments.correlation(0, 1).map { abs($0 - (-0.5 / (12.5).squareRoot())) < 1e-15 } == true)
        let small = try batch(.file(path: "x.csv", rows: [[0.3, -1.7, 2.9], [1.1, 0.2, -0.7]], q0: nil), dimension: 3)
        #expect(small.gram.elements == small.matrix.gram(alpha: 1 / 3).elements)
    }

    private func spectrum(_ phi: Activation, sigmaW: Double, depth: Int, q0: Double = 1)
        throws -> (moments: JacobianMoments?, law: JacobianLaw?, note: String?) {
        let spec = NetworkSpec(width: 2, depth: depth, sigmaW: sigmaW, sigmaB: 0, activation: phi)
        let inputs = try batch(.gram(count: 1, q0: q0, c0: 1), dimension: 2)
        return JacobianSpectrum.theory(TheoryContext(network: spec, inputs: inputs), layer: depth)
    }

    @Test("relu σ_w = 4 at depth 400: ln m1 = 400 ln 8 and m2/m1² = 1 + 2L (Pennington et al. 2017), law of λ/m1 finite")
    func chaoticReLUSpectrum() throws {
        let (moments, law, _) = try spectrum(.relu, sigmaW: 4, depth: 400)
        #expect(abs(moments!.logFirstMoment / (400 * log(8.0)) - 1) < 1e-14)
        #expect(abs(moments!.normalizedSecondMoment - 801) < 1e-9)
        let support = try law!.normalizedSupportRange()
        #expect(support.upperBound.isFinite && support.upperBound > 1)
        let density = try law!.normalizedDensity(at: [0.01, 0.1, 1])
        #expect(density.allSatisfy { $0.isFinite && $0 > 0 })
    }

    @Test("tanh σ_w = 0.1 at depth 300: m1 = 10^(−600.0…) in log, its law of λ/m1 finite")
    func vanishingTanhSpectrum() throws {
        let (moments, law, note) = try spectrum(.tanh, sigmaW: 0.1, depth: 300)
        #expect(note == nil)
        // Once q is tiny, tanh′² → 1: each layer multiplies m1 by σ_w² to O(q).
        #expect(abs(moments!.logFirstMoment / log(10.0) + 600) < 0.1 && moments!.logFirstMoment.isFinite)
        #expect(try law!.normalizedDensity(at: [0.1, 1]).allSatisfy { $0.isFinite && $0 > 0 })
    }

    @Test("tanh at q¹ beyond 2^500: no law, a note naming the layer, no crash")
    func saturatedTanhSpectrum() throws {
        let (moments, law, note) = try spectrum(.tanh, sigmaW: 3, depth: 5, q0: 1e308)
        #expect(moments == nil && law == nil && note?.contains("no spectrum theory from layer 1") == true)
    }
}

@Suite struct RunningMomentsExtremesTests {
    @Test("values near 10³⁰⁸: a finite mean and standard error whatever the grouping")
    func nearOverflow() {
        let xs = (0..<8).map { 1e307 * (4 + Double($0 % 3)) }
        var whole = RunningMoments()
        xs.forEach { whole.add($0) }
        for size in [1, 2, 4] {
            var merged = RunningMoments()
            for start in stride(from: 0, to: 8, by: size) {
                var part = RunningMoments()
                xs[start..<(start + size)].forEach { part.add($0) }
                merged.merge(part)
            }
            #expect(abs(merged.mean / whole.mean - 1) < 1e-14 && abs(merged.standardError! / whole.standardError! - 1) < 1e-14)
        }
        let mean = xs.map { $0 / 8 }.reduce(0, +)
        let se = (xs.map { ($0 - mean) / 1e307 * ($0 - mean) / 1e307 }.reduce(0, +) / 56).squareRoot() * 1e307
        #expect(abs(whole.mean / mean - 1) < 1e-14 && abs(whole.standardError! / se - 1) < 1e-13)
    }

    @Test("means of opposite sign at ±10³⁰⁸ merge to a finite mean")
    func oppositeExtremes() {
        var a = RunningMoments(), b = RunningMoments()
        a.add(1.5e308); a.add(1.6e308)
        b.add(-1.5e308); b.add(-1.6e308)
        a.merge(b)
        #expect(a.mean == 0 && a.standardError!.isFinite && a.standardError! > 7e307)
    }

    @Test("values near 10⁻²⁰⁰: the standard error does not underflow to 0")
    func nearUnderflow() {
        var m = RunningMoments()
        [1.0, 2, 3, 4].forEach { m.add($0 * 1e-200) }
        #expect(abs(m.standardError! / (1e-200 * (5.0 / 12).squareRoot()) - 1) < 1e-14)
    }
}
