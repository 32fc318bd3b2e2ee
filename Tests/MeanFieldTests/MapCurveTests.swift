import Foundation
import MeanField
import Testing

/// The map curves of `theory --map` (Poole et al. 2016, Fig. 1A and 2A) against the
/// independent reference quadrature, and their fixed points on the diagonal.
@Suite struct MapCurveTests {
    static let families: [(Activation, Double, Double)] = [(.tanh, 1.5, 0.3), (.tanh, 2.5, 0.3), (.erf, 1.2, 0.2),
                                                           (.relu, 1.3, 0.1), (.gelu, 1.4, 0.2)]

    @Test("V(q) = σ_w² E φ(√q z)² + σ_b² to 1e-12 of the reference quadrature", arguments: families.indices)
    func lengthCurveMatchesTheQuadrature(_ i: Int) {
        let (phi, sw, sb) = Self.families[i]
        let maps = MeanFieldMaps(activation: phi, sigmaW: sw, sigmaB: sb)
        let curve = maps.lengthCurve(upTo: 4, points: 9)
        #expect(curve.x.first == 0 && curve.x.last == 4 && curve.x.count == 9)
        for (q, v) in zip(curve.x, curve.y) where q > 0 {
            let reference = sw * sw * Reference.gaussianMean(q: q, splits: []) { phi.value($0) * phi.value($0) } + sb * sb
            #expect(relativeError(v, reference) < 1e-12, "\(phi.name) q = \(q): \(v) vs \(reference)")
        }
    }

    @Test("q* lies on the diagonal, and V(q) − q changes sign across it on a fine grid", arguments: families.indices)
    func lengthFixedPointIsACrossing(_ i: Int) throws {
        let (phi, sw, sb) = Self.families[i]
        let maps = MeanFieldMaps(activation: phi, sigmaW: sw, sigmaB: sb)
        let qStar = try #require(maps.fixedPoints().qStar)
        let curve = maps.lengthCurve(upTo: 2 * qStar, points: 2001)
        #expect(curve.fixedPoint == qStar)
        #expect(abs(maps.lengthMap(qStar) - qStar) < 1e-12 * qStar)
        // The stable fixed point: above the diagonal below q*, below it above q*.
        let below = zip(curve.x, curve.y).filter { $0.0 > 0 && $0.0 < 0.99 * qStar }
        let above = zip(curve.x, curve.y).filter { $0.0 > 1.01 * qStar }
        #expect(below.allSatisfy { $0.1 > $0.0 } && above.allSatisfy { $0.1 < $0.0 })
    }

    @Test("C(c) at q* is the closed form (erf: Williams 1997; relu: Cho & Saul 2009); C(1) = 1; c* on the diagonal",
          arguments: [2, 3])
    func correlationCurve(_ i: Int) throws {
        let (phi, sw, sb) = Self.families[i]
        let maps = MeanFieldMaps(activation: phi, sigmaW: sw, sigmaB: sb)
        let curve = try #require(maps.correlationCurve(points: 9))
        let q = try #require(maps.fixedPoints().qStar)
        #expect(curve.x.first == -1 && curve.x.last == 1 && abs(curve.y.last! - 1) < 1e-12)
        for (c, value) in zip(curve.x, curve.y) {
            let e: Double
            if phi == .erf {
                e = 2 / Double.pi * asin(2 * c * q / (1 + 2 * q))
            } else {
                let theta = acos(c)
                e = q * (sin(theta) + (Double.pi - theta) * c) / (2 * Double.pi)
            }
            let reference = (sw * sw * e + sb * sb) / q
            #expect(abs(value - reference) < 1e-12, "\(phi.name) c = \(c): \(value) vs \(reference)")
        }
        let cStar = try #require(curve.fixedPoint)
        #expect(abs(maps.correlationMap(cStar, q: q) - cStar) < 1e-10)
    }

    @Test("chaotic tanh (σ_w = 2.5): c* < 1 on the diagonal, C(c) − c changes sign across it")
    func chaoticCorrelationFixedPoint() throws {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 2.5, sigmaB: 0.3)
        let curve = try #require(maps.correlationCurve(points: 2001))
        let cStar = try #require(curve.fixedPoint)
        #expect(cStar < 1 && abs(maps.correlationMap(cStar, q: maps.fixedPoints().qStar!) - cStar) < 1e-10)
        let pairs = zip(curve.x, curve.y).filter { $0.0 > -0.99 && $0.0 < 0.99 }
        #expect(pairs.filter { $0.0 < cStar - 0.01 }.allSatisfy { $0.1 > $0.0 })
        #expect(pairs.filter { $0.0 > cStar + 0.01 }.allSatisfy { $0.1 < $0.0 })
    }

    @Test("no C-map where q* is unbounded (relu σ_w = 2)")
    func noCorrelationCurveWithoutALength() {
        #expect(MeanFieldMaps(activation: .relu, sigmaW: 2, sigmaB: 0.1).correlationCurve(points: 3) == nil)
    }
}
