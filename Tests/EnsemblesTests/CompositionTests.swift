import Ensembles
import Foundation
import MeanField
import Testing

/// The mean-field halves of the layer maps, composed into architectures, against closed forms.
@Suite struct CompositionTests {
    /// Cho & Saul's (2009) arc-cosine kernel of degree 1: E relu(u1) relu(u2).
    func arcCosine1(qaa: Double, qbb: Double, c: Double) -> Double {
        let theta = acos(c)
        return (qaa * qbb).squareRoot() / (2 * .pi) * (sin(theta) + (.pi - theta) * cos(theta))
    }

    func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-13) -> Bool { abs(a - b) <= tolerance * max(abs(b), 1e-300) }

    @Test("feedforward: layer 1 is σ_w² G0 + σ_b²; relu's mean c follows the arc-cosine iterate")
    func feedforward() {
        let (w, b) = (1.3, 0.2)
        let spec = NetworkSpec(width: 2, depth: 12, sigmaW: w, sigmaB: b, activation: .relu)
        let gram = [1.0, 0.5, 0.5, 1.0]
        let layers = spec.meanField(inputGram: gram, count: 2)
        #expect(layers.count == 12 && layers.map(\.layer) == Array(1...12))
        #expect(layers[0].covariance == gram.map { w * w * $0 + b * b })
        var q = w * w + b * b, c = (w * w * 0.5 + b * b) / q
        for layer in layers {
            #expect(close(layer.meanQ, q) && layer.q.allSatisfy { close($0, q) })
            #expect(abs(layer.meanC! - c) < 1e-13, "layer \(layer.layer)")
            let qNext = w * w * q / 2 + b * b
            c = (w * w * arcCosine1(qaa: q, qbb: q, c: c) + b * b) / qNext
            q = qNext
        }
        // B = 1: no pairs; unequal lengths per input are kept apart.
        var single = spec
        single.depth = 3
        #expect(single.meanField(inputGram: [2], count: 1).allSatisfy { $0.meanC == nil })
        single.depth = 2
        let unequal = single.meanField(inputGram: [1, 0, 0, 4], count: 2)
        #expect(close(unequal[1].q[1], w * w * (w * w * 4 + b * b) / 2 + b * b))
        #expect(close(unequal[1].meanQ, (unequal[1].q[0] + unequal[1].q[1]) / 2, 1e-15))
    }

    /// Residual relu net (Tarnowski et al. 2019's recursion with the means): E relu(u) =
    /// √(q/2π), E relu(u)² = q/2, so with one input r^l = q/2 + 2a √(q/2π) μ + a² r,
    /// μ^l = √(q/2π) + a μ, q^{l+1} = σ² r^l/s + σ_b² — the skip's cross term is what a
    /// composition without the means would miss.
    @Test("residual: the skip's cross term through the means, relu closed forms")
    func residual() {
        let (w, b, a, depth) = (0.9, 0.1, 0.7, 8)
        let spec = NetworkSpec(width: 2, depth: depth, sigmaW: w, sigmaB: b, activation: .relu,
                               architecture: .residual(scale: a), weightScaling: .widthTimesDepth)
        let layers = spec.meanField(inputGram: [1.5], inputMeans: [0.3], count: 1)
        var r = 1.5, mu = 0.3
        let sigma2 = w * w / Double(depth)
        for layer in layers {
            let q = sigma2 * r + b * b
            #expect(close(layer.meanQ, q, 1e-12), "layer \(layer.layer)")
            let mean = (q / (2 * .pi)).squareRoot()
            r = q / 2 + 2 * a * mean * mu + a * a * r
            mu = mean + a * mu
        }
        #expect(layers.count == depth)
    }

    @Test("batch norm has no Gaussian layer theory: the trace is empty")
    func batchNorm() {
        let spec = NetworkSpec(width: 2, depth: 4, sigmaW: 1, sigmaB: 0, activation: .tanh, architecture: .batchNorm)
        #expect(spec.meanField(inputGram: [1, 0.5, 0.5, 1], count: 2).isEmpty)
    }
}
