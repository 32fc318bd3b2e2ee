import Foundation
import Testing
import MeanField

/// Cho & Saul (2009) arc-cosine kernel of degree 1, written out independently:
/// E relu(u1) relu(u2) = √(q_aa q_bb)/(2π) (sin θ + (π − θ) cos θ), θ = arccos c.
func arcCosine1(qaa: Double, qbb: Double, c: Double) -> Double {
    let theta = acos(c)
    return (qaa * qbb).squareRoot() / (2 * .pi) * (sin(theta) + (.pi - theta) * cos(theta))
}

/// Williams (1997): E erf(u1) erf(u2) = (2/π) arcsin(2 q_ab / √((1 + 2 q_aa)(1 + 2 q_bb))).
func erfKernel(qaa: Double, qbb: Double, qab: Double) -> Double {
    2 / .pi * asin(2 * qab / ((1 + 2 * qaa) * (1 + 2 * qbb)).squareRoot())
}

let correlations: [Double] = [-1, -0.999999, -0.7, -0.1, 0, 0.3, 0.9, 0.999999, 1]

@Suite("Mean-field maps")
struct MapsTests {
    @Test("relu, leaky_relu, linear length maps are the closed forms (both methods)",
          arguments: [MeanFieldMaps.Method.automatic, .quadrature])
    func piecewiseLinearLengthMaps(method: MeanFieldMaps.Method) {
        let (w, b) = (1.3, 0.4)
        for q in [1e-6, 0.3, 1, 7, 1e4] {
            let relu = MeanFieldMaps(activation: .relu, sigmaW: w, sigmaB: b, method: method)
            #expect(relativeError(relu.lengthMap(q), w * w * q / 2 + b * b) <= 1e-12, "relu q = \(q)")
            let leaky = MeanFieldMaps(activation: .leakyReLU(slope: 0.2), sigmaW: w, sigmaB: b, method: method)
            #expect(relativeError(leaky.lengthMap(q), w * w * q * 1.04 / 2 + b * b) <= 1e-12, "leaky q = \(q)")
            let linear = MeanFieldMaps(activation: .linear, sigmaW: w, sigmaB: b, method: method)
            #expect(relativeError(linear.lengthMap(q), w * w * q + b * b) <= 1e-12, "linear q = \(q)")
            #expect(relativeError(relu.chi1(q: q), w * w / 2) <= 1e-12)
            #expect(relativeError(leaky.lengthMapDerivative(q), w * w * 1.04 / 2) <= 1e-10)
        }
    }

    @Test("relu covariance map is Cho & Saul's arc-cosine kernel (closed form and quadrature)",
          arguments: [MeanFieldMaps.Method.automatic, .quadrature])
    func arcCosine(method: MeanFieldMaps.Method) {
        let (w, b) = (1.1, 0.2)
        let maps = MeanFieldMaps(activation: .relu, sigmaW: w, sigmaB: b, method: method)
        for (qa, qb) in [(1.0, 1.0), (0.5, 3.0), (1e-4, 2e3)] {
            for c in correlations {
                let qab = c * (qa * qb).squareRoot()
                let expected = w * w * arcCosine1(qaa: qa, qbb: qb, c: c) + b * b
                #expect(abs(maps.covarianceMap(qaa: qa, qbb: qb, qab: qab) - expected) <= 1e-11 * expected,
                        "q = (\(qa), \(qb)), c = \(c)")
                // Arc-cosine kernel of degree 0 for the derivatives: (π − θ)/(2π).
                let slope = w * w * (.pi - acos(c)) / (2 * .pi)
                #expect(abs(maps.chiC(qaa: qa, qbb: qb, c: c) - slope) <= 1e-11 * w * w, "χ_c c = \(c)")
            }
        }
    }

    @Test("erf covariance map is Williams' arcsin kernel (closed form and quadrature)",
          arguments: [MeanFieldMaps.Method.automatic, .quadrature])
    func erfArcsin(method: MeanFieldMaps.Method) {
        let (w, b) = (1.7, 0.3)
        let maps = MeanFieldMaps(activation: .erf, sigmaW: w, sigmaB: b, method: method)
        for (qa, qb) in [(1.0, 1.0), (0.02, 5.0), (300.0, 40.0)] {
            for c in correlations {
                let qab = c * (qa * qb).squareRoot()
                let expected = w * w * erfKernel(qaa: qa, qbb: qb, qab: qab) + b * b
                #expect(abs(maps.covarianceMap(qaa: qa, qbb: qb, qab: qab) - expected) <= 1e-11 * max(1, expected),
                        "q = (\(qa), \(qb)), c = \(c)")
                // E erf′ erf′ = (4/π) / √((1 + 2q_aa)(1 + 2q_bb) − 4 q_ab²).
                let slope = w * w * 4 / .pi / ((1 + 2 * qa) * (1 + 2 * qb) - 4 * qab * qab).squareRoot()
                #expect(relativeError(maps.chiC(qaa: qa, qbb: qb, c: c), slope) <= 1e-10, "χ_c c = \(c)")
            }
        }
    }

    @Test("χ_c is the slope of the covariance map in q_ab (Price's theorem)",
          arguments: [Activation.tanh, .hardTanh, .selu, .gelu, .softplus])
    func priceTheorem(phi: Activation) {
        let maps = MeanFieldMaps(activation: phi, sigmaW: 1.4, sigmaB: 0.3)
        let q = 1.3, h = 1e-4
        for c in [-0.5, 0.2, 0.8] {
            let up = maps.covarianceMap(qaa: q, qbb: q, qab: (c + h) * q)
            let down = maps.covarianceMap(qaa: q, qbb: q, qab: (c - h) * q)
            let slope = (up - down) / (2 * h * q)
            #expect(abs(maps.chiC(q: q, c: c) - slope) <= 1e-7 * max(1, abs(slope)), "\(phi.name) c = \(c)")
        }
    }

    /// V′(q) = χ1 + σ_w² E φ″φ with the Dirac terms of φ″ at kinks (hard_tanh has them at
    /// ±1) against a central difference of the length map.
    @Test("lengthMapDerivative is dV/dq, Dirac terms at kinks included", arguments: everyActivation)
    func lengthMapSlope(phi: Activation) {
        let maps = MeanFieldMaps(activation: phi, sigmaW: 1.2, sigmaB: 0.1)
        for q in [0.05, 0.7, 3, 40] {
            let h = 1e-4 * q
            let slope = (maps.lengthMap(q + h) - maps.lengthMap(q - h)) / (2 * h)
            #expect(abs(maps.lengthMapDerivative(q) - slope) <= 1e-7 * max(1, abs(slope)), "\(phi.name) q = \(q)")
        }
        if phi == .hardTanh {
            // Without the Dirac terms the slope would be σ_w² P(|√q z| < 1) — visibly different.
            let q = 3.0, p = erf(1 / (2 * q).squareRoot())
            #expect(abs(maps.lengthMapDerivative(q) - 1.44 * p) > 0.05)
        }
    }

    @Test("correlation map at equal lengths: C(1) = 1, and c ↦ C(c) for relu is the arc-cosine map")
    func correlationMap() {
        let maps = MeanFieldMaps(activation: .relu, sigmaW: 1.2, sigmaB: 0.5)
        let q = 2.0
        #expect(abs(maps.correlationMap(1, q: q) - 1) < 1e-15)
        for c in [0.0, 0.4, 0.95] {
            let expected = (1.44 * arcCosine1(qaa: q, qbb: q, c: c) + 0.25) / (1.44 * q / 2 + 0.25)
            #expect(abs(maps.correlationMap(c, q: q) - expected) < 1e-14)
        }
        let tanh = MeanFieldMaps(activation: .tanh, sigmaW: 1.5, sigmaB: 0.2)
        #expect(abs(tanh.correlationMap(1, q: 0.8) - 1) < 1e-13)
    }
}
