import Foundation
import Testing
@testable import MeanField

@Suite("Gaussian quadrature")
struct QuadratureTests {
    @Test("Gauss–Kronrod 15 integrates polynomials of degree ≤ 22 exactly on one panel")
    func kronrodExactness() {
        // One panel and a loose tolerance: the answer is the bare 15-point rule.
        let rule = AdaptiveGaussKronrod(relativeTolerance: 1, maxPanels: 1)
        for degree in 0...22 {
            let estimate = rule.integrate(over: [-0.3, 1.7]) { pow($0, Double(degree)) }
            let exact = (pow(1.7, Double(degree + 1)) - pow(-0.3, Double(degree + 1))) / Double(degree + 1)
            #expect(relativeError(estimate.value, exact) < 1e-14, "degree \(degree)")
        }
        // Degree 24 is not exact for one panel, so the test above can fail.
        let x24 = rule.integrate(over: [-1, 1]) { pow($0, 24) }.value
        #expect(relativeError(x24, 2.0 / 25) > 1e-10)
    }

    @Test("Gaussian moments E (m + s z)^k and the s → 0 limit at a kink")
    func moments() {
        let gauss = GaussianExpectation()
        for (m, s) in [(0.0, 1.0), (0.7, 1e-3), (-2.0, 30.0)] {
            let second = gauss.expectation(location: m, scale: s, breakpoints: []) { $0 * $0 }
            let fourth = gauss.expectation(location: m, scale: s, breakpoints: []) { pow($0, 4) }
            #expect(relativeError(second.value, m * m + s * s) < 1e-13)
            #expect(relativeError(fourth.value, pow(m, 4) + 6 * m * m * s * s + 3 * pow(s, 4)) < 1e-13)
            #expect(second.converged && second.error < 1e-12 * (m * m + s * s))
        }
        let half = gauss.expectation(scale: 0, breakpoints: [0]) { Activation.relu.derivative($0) }
        #expect(half.value == 0.5)
        let smooth = gauss.expectation(location: 0.3, scale: 0, breakpoints: []) { exp($0) }
        #expect(relativeError(smooth.value, exp(0.3)) < 1e-15)
    }

    /// The length-map expectation E φ(√q z)² of every activation against the independent
    /// tanh-sinh reference, at q from 10⁻⁴ to 10⁴.
    @Test("E φ(√q z)² matches an independent reference to 1e-9", arguments: everyActivation)
    func lengthExpectation(phi: Activation) {
        let maps = MeanFieldMaps(activation: phi, sigmaW: 1, sigmaB: 0, method: .quadrature)
        for q in [1e-4, 1, 100, 1e4] {
            let reference = Reference.gaussianMean(q: q, splits: phi.kinks) { pow(phi.value($0), 2) }
            #expect(relativeError(maps.lengthMap(q), reference) <= 1e-9, "\(phi.name) q = \(q)")
            let slopeReference = Reference.gaussianMean(q: q, splits: phi.kinks) { pow(phi.derivative($0), 2) }
            #expect(relativeError(maps.chi1(q: q), slopeReference) <= 1e-9, "\(phi.name) χ1 q = \(q)")
        }
    }

    @Test("the 2-D rule at c → ±1 tends to its c = ±1 value (1-D reduction)",
          arguments: [Activation.tanh, .hardTanh, .gelu, .selu])
    func nearPerfectCorrelation(phi: Activation) {
        let maps = MeanFieldMaps(activation: phi, sigmaW: 1, sigmaB: 0)
        for (qa, qb) in [(1.0, 1.0), (0.3, 40.0)] {
            let scale = (qa * qb).squareRoot()
            for sign in [1.0, -1.0] {
                let exact = maps.covarianceMap(qaa: qa, qbb: qb, qab: sign * scale)
                let near = maps.covarianceMap(qaa: qa, qbb: qb, qab: sign * (1 - 1e-12) * scale)
                #expect(abs(near - exact) <= 1e-9 * max(1, abs(exact)), "\(phi.name) \(qa) \(qb) \(sign)")
            }
        }
    }
}
