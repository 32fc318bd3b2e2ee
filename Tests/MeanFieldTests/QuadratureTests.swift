import Foundation
import Testing
@testable import MeanField

@Suite("Gaussian quadrature")
struct QuadratureTests {
    @Test("Gauss–Kronrod 21 is exact to degree 31; its embedded 10-point Gauss rule to degree 19")
    func kronrodExactness() {
        // One panel and a loose tolerance: the answer is the bare 21-point rule.
        let rule = AdaptiveGaussKronrod(relativeTolerance: 1, maxPanels: 1)
        for degree in 0...31 {
            let estimate = rule.integrate(over: [-0.3, 1.7]) { pow($0, Double(degree)) }
            let exact = (pow(1.7, Double(degree + 1)) - pow(-0.3, Double(degree + 1))) / Double(degree + 1)
            #expect(relativeError(estimate.value, exact) < 1e-14, "degree \(degree)")
            // |Kronrod − Gauss| vanishes (error at its 50 ε floor) exactly while the Gauss
            // part is exact, which checks the Gauss weights too.
            let absolute = (pow(1.7, Double(degree + 1)) + pow(0.3, Double(degree + 1))) / Double(degree + 1)
            let floor = 50 * Double.ulpOfOne * absolute * 1.01
            if degree <= 19 { #expect(estimate.error <= floor, "degree \(degree)") }
            if degree >= 20 { #expect(estimate.error > 10 * floor, "degree \(degree)") }
        }
        // Degree 34 is not exact for one panel, so the test above can fail.
        let x34 = rule.integrate(over: [-1, 1]) { pow($0, 34) }.value
        #expect(relativeError(x34, 2.0 / 35) > 1e-10)
    }

    @Test("Gaussian moments E (m + s z)^k and the s → 0 limit at a kink")
    func moments() {
        let gauss = GaussianExpectation()
        for (m, s) in [(0.0, 1.0), (0.7, 1e-3), (-2.0, 30.0)] {
            let second = gauss.expectation(location: m, scale: s, breakpoints: Breakpoints()) { $0 * $0 }
            let fourth = gauss.expectation(location: m, scale: s, breakpoints: Breakpoints()) { pow($0, 4) }
            #expect(relativeError(second.value, m * m + s * s) < 1e-13)
            #expect(relativeError(fourth.value, pow(m, 4) + 6 * m * m * s * s + 3 * pow(s, 4)) < 1e-13)
            #expect(second.converged && second.error < 1e-12 * (m * m + s * s))
        }
        let half = gauss.expectation(scale: 0, breakpoints: Breakpoints(kinks: [0])) { Activation.relu.derivative($0) }
        #expect(half.value == 0.5)
        let smooth = gauss.expectation(location: 0.3, scale: 0, breakpoints: Breakpoints()) { exp($0) }
        #expect(relativeError(smooth.value, exp(0.3)) < 1e-15)
    }

    /// The length-map expectation E φ(√q z)² of every activation against the independent
    /// tanh-sinh reference, at q from 10⁻⁶ to 10⁴.
    @Test("E φ(√q z)² matches an independent reference to 1e-9", arguments: everyActivation)
    func lengthExpectation(phi: Activation) {
        let maps = MeanFieldMaps(activation: phi, sigmaW: 1, sigmaB: 0, method: .quadrature)
        for q in [1e-6, 1e-4, 1, 100, 1e4] {
            let reference = Reference.gaussianMean(q: q, splits: phi.kinks) { pow(phi.value($0), 2) }
            #expect(relativeError(maps.lengthMap(q), reference) <= 1e-9, "\(phi.name) q = \(q)")
            let slopeReference = Reference.gaussianMean(q: q, splits: phi.kinks) { pow(phi.derivative($0), 2) }
            #expect(relativeError(maps.chi1(q: q), slopeReference) <= 1e-9, "\(phi.name) χ1 q = \(q)")
        }
    }

    /// At c = 0 the 2-D expectation factorises: E φ(u1) φ(u2) = E φ(√q_aa z) · E φ(√q_bb z).
    @Test("the 2-D rule at c = 0 is the product of 1-D references", arguments: everyActivation)
    func factorisation(phi: Activation) {
        let maps = MeanFieldMaps(activation: phi, sigmaW: 1, sigmaB: 0, method: .quadrature)
        for (qa, qb) in [(0.01, 3.0), (1.0, 1.0), (50.0, 2e3)] {
            let ma = Reference.gaussianMean(q: qa, splits: phi.kinks) { phi.value($0) }
            let mb = Reference.gaussianMean(q: qb, splits: phi.kinks) { phi.value($0) }
            let scale = max(abs(ma * mb), 1e-3 * (qa * qb).squareRoot())   // odd φ: the product is 0
            #expect(abs(maps.covarianceMap(qaa: qa, qbb: qb, qab: 0) - ma * mb) <= 1e-10 * scale,
                    "\(phi.name) q = (\(qa), \(qb))")
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
