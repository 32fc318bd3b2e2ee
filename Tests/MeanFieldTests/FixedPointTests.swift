import Foundation
import Testing
import MeanField

/// Every number in a report is finite (nil where absent), the status is non-empty.
func isClean(_ r: FixedPointReport) -> Bool {
    [r.qStar, r.cStar, r.chi1, r.xiQ, r.xiC].allSatisfy { $0?.isFinite ?? true } && !r.status.isEmpty
}

@Suite("Fixed points, depth scales, critical line")
struct FixedPointTests {
    @Test("relu: χ1 = σ_w²/2, critical σ_w = √2 at σ_b = 0; leaky: √(2/(1+s²))")
    func reluCritical() throws {
        let relu = try #require(try MeanFieldMaps.criticalSigmaW(sigmaB: 0, activation: .relu))
        #expect(abs(relu - 2.0.squareRoot()) < 1e-8)
        let leaky = try #require(try MeanFieldMaps.criticalSigmaW(sigmaB: 0.5, activation: .leakyReLU(slope: 0.2)))
        #expect(abs(leaky - (2 / 1.04).squareRoot()) < 1e-8)
        #expect(throws: MeanFieldError.self) { try MeanFieldMaps.criticalSigmaW(sigmaB: -1, activation: .relu) }
    }

    @Test("relu ordered with σ_b > 0: q* = σ_b²/(1 − σ_w²/2), ξ_q = −1/ln(σ_w²/2), layers to 1 %")
    func reluOrdered() throws {
        let (w, b) = (1.2, 0.5)
        let maps = MeanFieldMaps(activation: .relu, sigmaW: w, sigmaB: b)
        let r = maps.fixedPoints()
        let slope = w * w / 2, qStar = b * b / (1 - slope)
        #expect(r.phase == .ordered && r.status == "ok" && r.cStar == 1)
        #expect(relativeError(try #require(r.qStar), qStar) < 1e-12)
        #expect(relativeError(try #require(r.chi1), slope) < 1e-14)
        #expect(relativeError(try #require(r.xiQ), -1 / log(slope)) < 1e-12)
        #expect(relativeError(try #require(r.xiC), -1 / log(slope)) < 1e-12)
        // q^l − q* = slope^l (q0 − q*): the first l with slope^l |q0 − q*| ≤ 0.01 q*.
        for q0 in [1.0, 0.01, 30] {
            var expected = 0
            while pow(slope, Double(expected)) * abs(q0 - qStar) > 0.01 * qStar { expected += 1 }
            #expect(maps.layersToFraction(q0: q0) == expected, "q0 = \(q0)")
        }
        #expect(r.layersToOnePercent == maps.layersToFraction(q0: 1))
    }

    @Test("tanh: σ_w* → 1 as σ_b → 0; at σ_b = 0, q* = 0 and χ1 = σ_w² in the ordered phase")
    func tanhCritical() throws {
        let small = try #require(try MeanFieldMaps.criticalSigmaW(sigmaB: 1e-3, activation: .tanh))
        #expect(abs(small - 1) < 1e-2 && small > 1)
        let zero = try #require(try MeanFieldMaps.criticalSigmaW(sigmaB: 0, activation: .tanh))
        #expect(abs(zero - 1) < 1e-6)
        let ordered = MeanFieldMaps(activation: .tanh, sigmaW: 0.8, sigmaB: 0).fixedPoints()
        #expect(ordered.qStar == 0 && ordered.phase == .ordered && isClean(ordered))
        #expect(relativeError(try #require(ordered.chi1), 0.64) < 1e-14)
        #expect(relativeError(try #require(ordered.xiQ), -1 / log(0.64)) < 1e-12)
        #expect(ordered.cStar == nil && ordered.xiC == nil && ordered.status.contains("q* = 0"))
        // Larger σ_b moves the critical line up (Poole et al. 2016, Fig. 2D).
        let larger = try #require(try MeanFieldMaps.criticalSigmaW(sigmaB: 0.3, activation: .tanh))
        let atCritical = MeanFieldMaps(activation: .tanh, sigmaW: larger, sigmaB: 0.3).fixedPoints()
        let chiAtCritical = try #require(atCritical.chi1)
        #expect(larger > small && abs(chiAtCritical - 1) < 1e-9)
    }

    @Test("tanh chaotic: c* < 1 is a fixed point of the C-map, with slope < 1 there")
    func tanhChaotic() throws {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 2.5, sigmaB: 0.3)
        let r = maps.fixedPoints()
        #expect(r.phase == .chaotic && r.status == "ok" && isClean(r))
        let q = try #require(r.qStar), c = try #require(r.cStar)
        #expect(abs(maps.lengthMap(q) - q) < 1e-12 * q)
        #expect(c > 0 && c < 1 && abs(maps.correlationMap(c, q: q) - c) < 1e-11)
        let chi = try #require(r.chi1)
        #expect(chi > 1 && maps.chiC(q: q, c: c) < 1)
        #expect(relativeError(try #require(r.xiC), -1 / log(maps.chiC(q: q, c: c))) < 1e-12)
        // Odd φ with σ_b = 0: C(0) = 0, so c* = 0.
        let odd = MeanFieldMaps(activation: .tanh, sigmaW: 2.5, sigmaB: 0).fixedPoints()
        let oddC = try #require(odd.cStar)
        #expect(odd.phase == .chaotic && abs(oddC) < 1e-12)
    }

    /// SELU's constants make q* = 1 at (σ_w, σ_b) = (1, 0). There
    /// χ1 = λ² (½ + α² E[e^{2z}; z < 0]) = λ² (½ + α² e² Φ(−2)) = 1.0716: close to 1, on the
    /// chaotic side.
    @Test("SELU: q* = 1 at σ_w = 1, σ_b = 0, and χ1 = λ²(½ + α² e² Φ(−2)) ≈ 1.07")
    func selu() throws {
        let r = MeanFieldMaps(activation: .selu, sigmaW: 1, sigmaB: 0).fixedPoints()
        #expect(abs(try #require(r.qStar) - 1) < 1e-6)
        let (lambda, alpha) = (Activation.seluLambda, Activation.seluAlpha)
        let chi = lambda * lambda * (0.5 + alpha * alpha * exp(2) * 0.5 * erfc(2.0.squareRoot()))
        #expect(abs(try #require(r.chi1) - chi) < 1e-6 && abs(chi - 1.0716) < 1e-4)
        #expect(r.phase == .chaotic && isClean(r))
    }

    @Test("degenerate families are reported, never NaN")
    func degenerate() throws {
        let unbounded = MeanFieldMaps(activation: .relu, sigmaW: 2, sigmaB: 0).fixedPoints()
        #expect(unbounded.phase == .unbounded && unbounded.qStar == nil && isClean(unbounded))
        #expect(unbounded.status.contains("unbounded") && unbounded.chi1 == 2)
        let reluZero = MeanFieldMaps(activation: .relu, sigmaW: 1, sigmaB: 0).fixedPoints()
        #expect(reluZero.qStar == 0 && reluZero.chi1 == 0.5 && reluZero.phase == .ordered && isClean(reluZero))
        let critical = MeanFieldMaps(activation: .relu, sigmaW: 2.0.squareRoot(), sigmaB: 0).fixedPoints()
        #expect(critical.phase == .critical && critical.qStar == 1 && critical.xiC == nil && critical.xiQ == nil)
        #expect(critical.status.contains("infinite depth scale (critical)") && isClean(critical))
        // V(q) = q + σ_b² grows without bound, although σ_b² drops below q's last bit at q ~ 10¹³.
        for b in [0.5, 0.05] {
            let linear = MeanFieldMaps(activation: .linear, sigmaW: 1, sigmaB: b).fixedPoints()
            #expect(linear.phase == .unbounded && isClean(linear), "σ_b = \(b)")
        }
        for phi in everyActivation {
            for (w, b) in [(0.5, 0.0), (1.0, 0.0), (3.0, 0.0), (1.5, 0.05), (4.0, 1.0)] {
                let r = MeanFieldMaps(activation: phi, sigmaW: w, sigmaB: b).fixedPoints()
                #expect(isClean(r), "\(phi.name) σ_w = \(w) σ_b = \(b): \(r)")
            }
        }
    }
}
