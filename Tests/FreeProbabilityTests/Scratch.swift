import Foundation
import Testing
@testable import FreeProbability
import MeanField

func glRule(_ n: Int) -> ([Double], [Double]) { let g = GaussLegendre(points: n); return (g.nodes, g.weights) }

/// ∫ρ, ∫xρ, ∫x²ρ: log-spaced below x_s = lo + 1e-3 (hi − lo) (down to 1e-290, plus a power-law tail),
/// beta(1, 2) substitution above (square-root or inverse-square-root top edge).
func integrate(_ density: ([Double]) throws -> [Double], range: ClosedRange<Double>, power p: Double = 1, panels: Int = 48, points: Int = 16) rethrows -> (Double, Double, Double) {
    let (nodes, weights) = glRule(points)
    func rule(_ a: Double, _ b: Double, _ n: Int) -> ([Double], [Double]) {
        var vs: [Double] = [], ws: [Double] = []
        for k in 0..<n {
            let lo = a + (b - a) * Double(k) / Double(n), hi = a + (b - a) * Double(k + 1) / Double(n)
            for (x, w) in zip(nodes, weights) { vs.append(0.5 * (lo + hi) + 0.5 * (hi - lo) * x); ws.append(0.5 * (hi - lo) * w) }
        }
        return (vs, ws)
    }
    let lo = range.lowerBound, hi = range.upperBound
    let xs0 = lo + 1e-3 * (hi - lo)
    var xs: [Double] = [], jw: [Double] = []
    let (v1, w1) = rule(0, 1, panels)
    for (v, w) in zip(v1, w1) { xs.append(xs0 + (hi - xs0) * v * (2 - v)); jw.append(w * (hi - xs0) * 2 * (1 - v)) }
    let lmin = log(max(lo, 1e-290)), lmax = log(xs0)
    let (v2, w2) = rule(lmin, lmax, max(8, Int((lmax - lmin) / 2)))
    for (v, w) in zip(v2, w2) { xs.append(exp(v)); jw.append(w * exp(v)) }
    let tail = lo < 1e-290 ? [1e-290, 1e-289] : []
    let rho = try density(xs + tail)
    var m0 = 0.0, m1 = 0.0, m2 = 0.0
    for i in xs.indices { let f = rho[i] * jw[i]; m0 += f; m1 += f * xs[i]; m2 += f * xs[i] * xs[i] }
    if !tail.isEmpty, rho[xs.count] > 0, rho[xs.count + 1] > 0 {
        let alpha = -log10(rho[xs.count + 1] / rho[xs.count])
        if alpha < 1 { m0 += rho[xs.count] * 1e-290 / (1 - alpha) }
    }
    return (m0, m1, m2)
}

@Suite("Scratch")
struct Scratch {
    @Test func sweep() throws {
        let acts: [Activation] = [.tanh, .relu, .erf, .linear, .hardTanh, .sigmoid, .selu, .gelu, .leakyReLU(slope: 0.2)]
        for act in acts {
            for (sw, sb) in [(0.5, 0.0), (1.0, 0.05), (1.5, 0.3), (2.5, 0.1), (4.0, 0.0)] {
                let maps = MeanFieldMaps(activation: act, sigmaW: sw, sigmaB: sb)
                for L in [1, 2, 5, 20, 100] {
                    let qs = maps.propagate(inputGram: [1], count: 1, depth: L).map(\.meanQ)
                    for w in [WeightLaw.gaussian, .orthogonal] {
                        let spec = FeedforwardSpectrum(activation: act, sigmaW: sw, layerVariances: qs, weights: w)
                        let t0 = Date()
                        do {
                            let r = try spec.normalizedSupportRange()
                                                        let (m0, m1, m2) = try integrate(spec.normalizedDensity, range: r)
                            var a0 = 0.0, a1 = 0.0, a2 = 0.0
                            let scale = exp(spec.logFirstMoment)
                            for a in spec.atoms { a0 += a.weight; a1 += a.weight * a.location / scale; a2 += a.weight * pow(a.location / scale, 2) }
                            let e0 = abs(m0 + a0 - 1), e1 = abs(m1 + a1 - 1), e2 = abs((m2 + a2) / spec.normalizedSecondMoment - 1)
                            let flag = max(e0, e1, e2) > 1e-4 ? "  <<<<" : ""
                            print("\(act.name) sw=\(sw) sb=\(sb) L=\(L) \(w): range \(r) atoms \(spec.atoms.count) mass err \(e0) m1 err \(e1) m2 err \(e2) t=\(Date().timeIntervalSince(t0))\(flag)")
                        } catch {
                            print("\(act.name) sw=\(sw) sb=\(sb) L=\(L) \(w): ERROR \(error)  <<<<")
                        }
                    }
                }
            }
        }
    }
}
