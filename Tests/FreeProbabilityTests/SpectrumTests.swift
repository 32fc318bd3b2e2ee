import Foundation
import Testing
@testable import FreeProbability
import MeanField

// MARK: - The tests' own quadrature (shares nothing with the module's)

/// ∫_a^b f by tanh-sinh (Takahasi & Mori 1974), halving the step until two levels agree to
/// `tolerance` (relative); exact for algebraic endpoint singularities such as x^{−α} or
/// (b − x)^{±½}. f maps a batch of points to a vector of integrands each (one call per level);
/// the endpoints themselves are never evaluated.
func tanhSinhVector(_ a: Double, _ b: Double, tolerance: Double = 1e-12, maxLevels: Int = 8,
                    _ f: ([Double]) throws -> [[Double]]) rethrows -> [Double] {
    let centre = 0.5 * (a + b), half = 0.5 * (b - a)
    func level(_ h: Double, odd: Bool) throws -> [Double] {
        var xs: [Double] = [], ws: [Double] = []
        var k = odd ? 1 : 0
        while true {
            let t = Double(k) * h
            if t > 6 { break }
            let u = Double.pi / 2 * sinh(t)
            let distance = half / (exp(u) * cosh(u))       // b − x and x − a, without cancellation
            let w = Double.pi / 2 * cosh(t) / (cosh(u) * cosh(u))
            if k == 0 { xs.append(centre); ws.append(w) } else if distance > 0, b - distance < b, a + distance > a {
                xs.append(b - distance); ws.append(w)
                xs.append(a + distance); ws.append(w)
            }
            k += odd ? 2 : 1
        }
        let values = try f(xs)
        var sums: [Double] = []
        for (i, row) in values.enumerated() {
            if sums.isEmpty { sums = [Double](repeating: 0, count: row.count) }
            for j in row.indices { sums[j] += row[j] * ws[i] }
        }
        return sums
    }
    var h = 0.5
    var sums = try level(h, odd: false)
    var previous = sums.map { $0 * h * half }
    for _ in 0..<maxLevels {
        h /= 2
        let more = try level(h, odd: true)
        sums = zip(sums, more).map(+)
        let next = sums.map { $0 * h * half }
        if zip(next, previous).allSatisfy({ abs($0 - $1) <= tolerance * abs($0) }) { return next }
        previous = next
    }
    return previous
}

/// Scalar tanh-sinh.
func tanhSinh(_ a: Double, _ b: Double, tolerance: Double = 1e-12, _ f: ([Double]) throws -> [Double]) rethrows -> Double {
    try tanhSinhVector(a, b, tolerance: tolerance) { xs in try f(xs).map { [$0] } }[0]
}

/// (∫ρ, ∫xρ, ∫x²ρ) of a density on [lo, hi]: tanh-sinh in x on [10⁻³ hi, hi] and in ln x, five
/// decades a piece, below (mass spread over many decades near 0, as ρ ~ x^{−L/(L+1)}, is smooth
/// in ln x), down to max(lo, 10⁻¹²⁰ hi) (below which the mass is < 10⁻¹⁰ for L ≤ 10); extra
/// pieces end at `breaks` (interior edges).
func densityMoments(_ density: ([Double]) throws -> [Double], on range: ClosedRange<Double>,
                    breaks: [Double] = [], tolerance: Double = 1e-10) rethrows -> [Double] {
    let lo = range.lowerBound, hi = range.upperBound
    let split = max(lo, 1e-3 * hi), floor = max(lo, 1e-120 * hi)
    let inner = breaks.filter { $0 > lo && $0 < hi }
    var moments = [0.0, 0.0, 0.0]
    // Linear pieces above the split.
    let linear = ([split, hi] + inner.filter { $0 > split }).sorted()
    for i in 1..<linear.count {
        let piece = try tanhSinhVector(linear[i - 1], linear[i], tolerance: tolerance, maxLevels: 7) { xs in
            zip(xs, try density(xs)).map { x, r in [r, r * x, r * x * x] }
        }
        moments = zip(moments, piece).map(+)
    }
    guard split > floor else { return moments }
    // Logarithmic pieces below.
    var cuts = [log(split)]
    while cuts.last! - 5 * log(10.0) > log(floor) { cuts.append(cuts.last! - 5 * log(10.0)) }
    cuts.append(log(floor))
    cuts = Array(Set(cuts + inner.filter { $0 < split && $0 > floor }.map { log($0) })).sorted()
    for i in 1..<cuts.count {
        let piece = try tanhSinhVector(cuts[i - 1], cuts[i], tolerance: tolerance, maxLevels: 7) { ys in
            let xs = ys.map { exp($0) }
            return zip(xs, try density(xs)).map { x, r in [r * x, r * x * x, r * x * x * x] }
        }
        moments = zip(moments, piece).map(+)
    }
    return moments
}

/// C(n, k) from Pascal's triangle (exact in double precision below 2⁵³).
func pascal(_ n: Int, _ k: Int) -> Double {
    var row = [1.0]
    for _ in 0..<n { row = zip([0] + row, row + [0]).map(+) }
    return row[k]
}

func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-300) }

// MARK: - Closed forms

@Suite("Free probability: closed forms")
struct FreeProbabilityClosedFormTests {
    @Test("Fuss–Catalan moments: (1/(Lk+1)) C((L+1)k, k) from Pascal's triangle, and known values")
    func fussCatalanMoments() {
        for L in 1...5 {
            for k in 0...8 {
                let expected = pascal((L + 1) * k, k) / Double(L * k + 1)
                #expect(ClosedForms.fussCatalanMoment(products: L, order: k) == expected, "L = \(L), k = \(k)")
            }
        }
        #expect((0...6).map { ClosedForms.fussCatalanMoment(products: 1, order: $0) } == [1, 1, 2, 5, 14, 42, 132])
        #expect((0...5).map { ClosedForms.fussCatalanMoment(products: 2, order: $0) } == [1, 1, 3, 12, 55, 273])
        #expect((0...4).map { ClosedForms.fussCatalanMoment(products: 3, order: $0) } == [1, 1, 4, 22, 140])
    }

    @Test("Fuss–Catalan density: mass 1, moments 1 and L + 1, zero outside (0, (L+1)^{L+1}/L^L]",
          arguments: [1, 2, 3, 5])
    func fussCatalanDensity(_ L: Int) {
        let top = pow(Double(L + 1), Double(L + 1)) / pow(Double(L), Double(L))
        // x = top·v^{L+1}(L + 2 − (L + 1)v): the x^{−L/(L+1)} singularity at 0 and the square-root
        // edge at the top both become smooth in v.
        let p = Double(L + 1)
        var moments = [0.0, 0.0, 0.0]
        for k in 0..<3 {
            moments[k] = tanhSinh(0, 1, tolerance: 1e-13) { vs in
                vs.map { v in
                    let x = top * pow(v, p) * (p + 1 - p * v)
                    let dx = top * p * (p + 1) * pow(v, p - 1) * (1 - v)
                    return ClosedForms.fussCatalanDensity(products: L, at: x) * pow(x, Double(k)) * dx
                }
            }
        }
        #expect(abs(moments[0] - 1) < 1e-6, "mass \(moments[0])")
        #expect(abs(moments[1] - 1) < 1e-6, "m1 \(moments[1])")
        #expect(abs(moments[2] / ClosedForms.fussCatalanMoment(products: L, order: 2) - 1) < 1e-6, "m2 \(moments[2])")
        #expect(ClosedForms.fussCatalanDensity(products: L, at: top * 1.0001) == 0)
        #expect(ClosedForms.fussCatalanDensity(products: L, at: -0.1) == 0)
        #expect(ClosedForms.fussCatalanDensity(products: L, at: top * (1 - 1e-12)) < 1e-4)
    }

    @Test("Fuss–Catalan with L = 1 is Marchenko–Pastur with ratio 1; MP's mass is 1/c for c > 1")
    func marchenkoPastur() {
        for x in stride(from: 0.01, to: 4, by: 0.13) {
            #expect(relative(ClosedForms.fussCatalanDensity(products: 1, at: x),
                             ClosedForms.marchenkoPasturDensity(ratio: 1, variance: 1, at: x)) < 1e-12)
        }
        for (c, v) in [(0.25, 1.0), (2.0, 0.5)] {
            let r = c.squareRoot()
            let (a, b) = (v * (1 - r) * (1 - r), v * (1 + r) * (1 + r))
            let mass = tanhSinh(a, b) { $0.map { ClosedForms.marchenkoPasturDensity(ratio: c, variance: v, at: $0) } }
            let mean = tanhSinh(a, b) { $0.map { $0 * ClosedForms.marchenkoPasturDensity(ratio: c, variance: v, at: $0) } }
            #expect(abs(mass - min(1, 1 / c)) < 1e-9, "c = \(c)")
            #expect(abs(mean - v) < 1e-9, "c = \(c): mean (the atom at 0 adds nothing)")
        }
    }
}

// MARK: - Feedforward nets

@Suite("Free probability: feedforward Jacobians")
struct FeedforwardSpectrumTests {
    @Test("linear Gaussian nets are Fuss–Catalan, scaled by σ_w^{2L}", arguments: [1, 2, 4])
    func linearGaussian(_ L: Int) throws {
        for sigma in [1.0, 1.3] {
            let scale = pow(sigma, Double(2 * L))
            let law = FeedforwardSpectrum(activation: .linear, sigmaW: sigma, layerVariances: Array(repeating: 0.7, count: L),
                                          weights: .gaussian)
            let top = pow(Double(L + 1), Double(L + 1)) / pow(Double(L), Double(L))
            let range = try law.supportRange()
            #expect(range.lowerBound == 0 && relative(range.upperBound, top * scale) < 1e-9, "\(range)")
            #expect(relative(law.firstMoment, scale) < 1e-13)
            #expect(relative(law.secondMoment, Double(L + 1) * scale * scale) < 1e-13)
            #expect(law.atoms.isEmpty && law.atZero == 0)
            let xs = [1e-6, 1e-3, 0.02] + (1...19).map { Double($0) / 20 } + [0.999]
            let rho = try law.density(at: xs.map { $0 * top * scale })
            for (x, r) in zip(xs, rho) {
                let exact = ClosedForms.fussCatalanDensity(products: L, at: x * top) / scale
                #expect(relative(r, exact) < 1e-6, "L = \(L), σ = \(sigma), x = \(x) top: \(r) vs \(exact)")
            }
            if L == 1 {
                #expect(relative(try law.density(at: [scale])[0], ClosedForms.marchenkoPasturDensity(ratio: 1, variance: scale, at: scale)) < 1e-8)
            }
        }
    }

    @Test("orthogonal linear nets are a point mass at σ_w^{2L}")
    func orthogonalLinear() throws {
        for (sigma, L) in [(1.2, 3), (0.9, 7)] {
            let location = pow(sigma, Double(2 * L))
            let law = FeedforwardSpectrum(activation: .linear, sigmaW: sigma, layerVariances: Array(repeating: 1, count: L),
                                          weights: .orthogonal)
            let range = try law.supportRange()
            #expect(relative(range.lowerBound, location) < 1e-12 && relative(range.upperBound, location) < 1e-12, "\(range)")
            #expect(law.atoms.count == 1 && relative(law.atoms[0].location, location) < 1e-12 && law.atoms[0].weight == 1)
            #expect(law.continuousMass == 0 && law.atZero == 0)
            #expect(relative(law.firstMoment, location) < 1e-12 && relative(law.secondMoment, location * location) < 1e-12)
            #expect(try law.density(at: [location * 0.5, location, location * 2]) == [0, 0, 0])
        }
        // hard_tanh with all of h inside (−1, 1) (P(|h| > 1) < 10⁻³⁰⁰) is the same isometry.
        let hard = FeedforwardSpectrum(activation: .hardTanh, sigmaW: 1.1, layerVariances: [1e-4, 1e-4], weights: .orthogonal)
        #expect(relative(try hard.supportRange().upperBound, pow(1.1, 4)) < 1e-12 && hard.continuousMass == 0)
    }

    @Test("m1 = Π_l χ^l and m2/m1² − 1 = Σ_l (E φ′⁴/(E φ′²)² − 1) [+ L for Gaussian W], each layer its own q")
    func moments() {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 1.1, sigmaB: 0.2)
        let qs = layerVariances(maps, q0: 3.0, depth: 10)
        #expect(Set(qs).count == 10)
        // E φ′(√q z)⁴ by tanh-sinh over z ∈ [−12, 12], split at 0.
        func fourth(_ q: Double) -> Double {
            let s = q.squareRoot()
            let f: ([Double]) -> [Double] = { $0.map { z in pow(1 / cosh(s * z), 8) * exp(-z * z / 2) / (2 * Double.pi).squareRoot() } }
            return tanhSinh(-12, 0, f) + tanhSinh(0, 12, f)
        }
        var ratio = 1.0, m1 = 1.0
        for q in qs {
            let chi = maps.chi1(q: q)
            m1 *= chi
            ratio += fourth(q) * 1.1 * 1.1 * 1.1 * 1.1 / (chi * chi) - 1
        }
        for weights in [WeightLaw.gaussian, .orthogonal] {
            let law = FeedforwardSpectrum(activation: .tanh, sigmaW: 1.1, layerVariances: qs, weights: weights)
            let expected = ratio + (weights == .gaussian ? 10 : 0)
            #expect(relative(law.firstMoment, m1) < 1e-10, "\(weights)")
            #expect(relative(law.secondMoment, m1 * m1 * expected) < 1e-10, "\(weights)")
            #expect(zip(law.layerGains, qs).allSatisfy { relative($0, maps.chi1(q: $1)) < 1e-11 })
        }
        // relu: χ = σ_w²/2 and E φ′⁴/(E φ′²)² = 2 whatever q.
        let relu = FeedforwardSpectrum(activation: .relu, sigmaW: 2, layerVariances: [0.3, 5, 40], weights: .gaussian)
        #expect(relative(relu.firstMoment, 8) < 1e-14 && relative(relu.secondMoment, 64 * (1 + 3 + 3)) < 1e-14)
    }

    /// The density integrates to the continuous mass, and with the atoms its first two moments
    /// are m1 and m2.
    func checkMass(_ law: FeedforwardSpectrum, tolerance: Double = 1e-4, breaks: [Double] = [], _ label: String) throws {
        let range = try law.supportRange()
        let moments = try densityMoments(law.density, on: range, breaks: breaks)
        var total = moments
        for atom in law.atoms {
            total[0] += atom.weight; total[1] += atom.weight * atom.location
            total[2] += atom.weight * atom.location * atom.location
        }
        #expect(abs(moments[0] - law.continuousMass) < tolerance, "\(label): mass \(moments[0]) vs \(law.continuousMass)")
        #expect(relative(total[1], law.firstMoment) < tolerance, "\(label): m1 \(total[1]) vs \(law.firstMoment)")
        #expect(relative(total[2], law.secondMoment) < tolerance, "\(label): m2 \(total[2]) vs \(law.secondMoment)")
    }

    @Test("tanh near criticality: the density carries the mass and the moments m1, m2 (Gaussian and orthogonal)")
    func tanhNearCriticality() throws {
        let sigmaW = try #require(try MeanFieldMaps.criticalSigmaW(sigmaB: 0.05, activation: .tanh))
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: sigmaW, sigmaB: 0.05)
        let qs = layerVariances(maps, q0: 1, depth: 10)
        for weights in [WeightLaw.gaussian, .orthogonal] {
            let law = FeedforwardSpectrum(activation: .tanh, sigmaW: sigmaW, layerVariances: qs, weights: weights)
            #expect(law.atoms.isEmpty)
            try checkMass(law, "tanh \(weights)")
        }
    }

    @Test("relu: atom ½ at 0 (Gaussian and orthogonal), the continuous half carries m1 and m2")
    func reluAtom() throws {
        let gaussian = FeedforwardSpectrum(activation: .relu, sigmaW: 2.0.squareRoot(), layerVariances: [1, 1, 1, 1],
                                           weights: .gaussian)
        #expect(gaussian.atoms == [SpectralAtom(location: 0, weight: 0.5)] && gaussian.atZero == 0.5)
        try checkMass(gaussian, "relu Gaussian")
        let orthogonal = FeedforwardSpectrum(activation: .relu, sigmaW: 1.3, layerVariances: [1, 2, 3], weights: .orthogonal)
        #expect(orthogonal.atZero == 0.5 && orthogonal.atoms.count == 1)
        try checkMass(orthogonal, "relu orthogonal")
        // Depth 1, orthogonal: σ_w² D² itself, atoms {0: ½, σ_w²: ½} and no continuous part.
        let one = FeedforwardSpectrum(activation: .relu, sigmaW: 1.3, layerVariances: [2], weights: .orthogonal)
        #expect(one.atoms.count == 2 && relative(one.atoms[1].location, 1.69) < 1e-14 && one.atoms[1].weight == 0.5)
        #expect(one.continuousMass == 0)
        #expect(try one.density(at: [0.5, 1, 1.5]) == [0, 0, 0])
    }

    @Test("hard_tanh, orthogonal: atoms at 0 and at σ_w^{2L} (Σ_l P(|h^l| < 1) − (L − 1)), continuous rest")
    func hardTanhAtoms() throws {
        let qs = [0.2, 0.3]
        let inside = qs.map { erf(1 / (2 * $0).squareRoot()) }       // P(|h| < 1)
        let law = FeedforwardSpectrum(activation: .hardTanh, sigmaW: 1.2, layerVariances: qs, weights: .orthogonal)
        #expect(law.atoms.count == 2)
        #expect(abs(law.atZero - (1 - inside.min()!)) < 1e-15)
        #expect(relative(law.atoms[1].location, pow(1.2, 4)) < 1e-12)
        #expect(abs(law.atoms[1].weight - (inside[0] + inside[1] - 1)) < 1e-14)
        // D² are projections P, Q of traces α, β: the continuous part of PQP lives on
        // [λ−, λ+], λ± = α + β − 2αβ ± 2√(αβ(1 − α)(1 − β)) (free projections), times σ_w⁴.
        let (alpha, beta) = (inside[0], inside[1])
        let centre = alpha + beta - 2 * alpha * beta, radius = 2 * (alpha * beta * (1 - alpha) * (1 - beta)).squareRoot()
        let edges = [centre - radius, centre + radius].map { $0 * pow(1.2, 4) }
        let inner = (edges[0] + edges[1]) / 2
        let around = try law.density(at: [edges[0] * 0.99, inner, edges[1] * 1.01])
        #expect(around[0] < 1e-8 && around[1] > 0.01 && around[2] < 1e-8, "\(around)")
        try checkMass(law, breaks: edges, "hard_tanh orthogonal")
    }

    @Test("depth 1, orthogonal: the exact law of σ_w² φ′(√q z)² (tanh)")
    func pushForward() throws {
        let (sigma, q) = (1.3, 0.8)
        let law = FeedforwardSpectrum(activation: .tanh, sigmaW: sigma, layerVariances: [q], weights: .orthogonal)
        let s = q.squareRoot()
        for tau in [0.01, 0.1, 0.3, 0.6, 0.9, 0.99] {
            // τ = sech⁴(s z) at z = ±arcosh(τ^{−1/4})/s, |dτ/dz| = 4 s tanh(s z) τ.
            let z = acosh(pow(tau, -0.25)) / s
            let slope = 4 * s * tanh(s * z) * tau
            let exact = 2 * exp(-z * z / 2) / (2 * Double.pi).squareRoot() / slope / (sigma * sigma)
            let rho = try law.density(at: [tau * sigma * sigma])[0]
            #expect(relative(rho, exact) < 1e-9, "τ = \(tau): \(rho) vs \(exact)")
        }
        #expect(relative(try law.supportRange().upperBound, sigma * sigma) < 1e-12)
        try checkMass(law, "tanh orthogonal L = 1")
    }

    @Test("the d² laws are resolved: default vs 4× finer quadrature")
    func discretisation() throws {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 1.05, sigmaB: 0.05)
        for (L, weights, tolerance) in [(10, WeightLaw.gaussian, 1e-9), (2, .orthogonal, 1e-5), (10, .orthogonal, 1e-6)] {
            let qs = layerVariances(maps, q0: 1, depth: L)
            let law = FeedforwardSpectrum(activation: .tanh, sigmaW: 1.05, layerVariances: qs, weights: weights)
            let fine = FeedforwardSpectrum(activation: .tanh, sigmaW: 1.05, layerVariances: qs, weights: weights,
                                           refinement: weights == .gaussian ? 4 : 8)
            let top = try law.supportRange().upperBound
            let xs = (1...24).map { top * Double($0) / 25 }
            let (a, b) = (try law.density(at: xs), try fine.density(at: xs))
            let peak = b.max()!
            for i in xs.indices {
                #expect(abs(a[i] - b[i]) < tolerance * peak, "L = \(L) \(weights) x = \(xs[i]): \(a[i]) vs \(b[i])")
            }
        }
    }

    @Test("robust: finite, non-negative densities across activations, weights, depths; overflow is reported")
    func robustness() throws {
        for activation in [Activation.tanh, .relu, .erf, .linear, .hardTanh] {
            for sigmaW in [0.8, 1.6] {
                let maps = MeanFieldMaps(activation: activation, sigmaW: sigmaW, sigmaB: 0.1)
                for L in [1, 10, 100] {
                    let qs = layerVariances(maps, q0: 1, depth: L)
                    for weights in [WeightLaw.gaussian, .orthogonal] {
                        let law = FeedforwardSpectrum(activation: activation, sigmaW: sigmaW, layerVariances: qs, weights: weights)
                        let range = try law.normalizedSupportRange()
                        let xs = (0..<40).map { range.upperBound * 2 * pow(1e-12, Double($0) / 39) }
                        let rho = try law.normalizedDensity(at: xs)
                        #expect(rho.allSatisfy { $0.isFinite && $0 >= 0 }, "\(activation.name) σ_w = \(sigmaW) L = \(L) \(weights)")
                        #expect(law.firstMoment.isFinite && law.secondMoment.isFinite)
                    }
                }
            }
        }
        // relu, σ_w = 4, depth 500: m1 = 8⁵⁰⁰ overflows; its logarithm does not, and the law of
        // λ/m1 is still there.
        let deep = FeedforwardSpectrum(activation: .relu, sigmaW: 4, layerVariances: Array(repeating: 1, count: 500),
                                       weights: .gaussian)
        #expect(relative(deep.logFirstMoment, 500 * log(8)) < 1e-12 && deep.firstMoment == .infinity)
        #expect(throws: SpectrumError.self) { try deep.density(at: [1]) }
        let range = try deep.normalizedSupportRange()
        #expect(try deep.normalizedDensity(at: [range.upperBound / 2, range.upperBound / 100]).allSatisfy { $0 > 0 && $0.isFinite })
    }
}

// MARK: - Residual nets

@Suite("Free probability: residual nets (Tarnowski et al. 2019)")
struct ResidualSpectrumTests {
    /// The universal law's edges in closed form: with κ = c/a², S(m) ∝ e^{−2κm} on λ/m1, the
    /// critical points of z(m) = (1 + m) e^{2κm}/m are m = m* and m = −1 − m*,
    /// m* = (√(1 + 2/κ) − 1)/2.
    func universalEdges(a: Double, L: Int, c: Double) -> ClosedRange<Double> {
        let kappa = c / (a * a)
        let m1 = pow(a, Double(2 * L)) * exp(kappa)
        let star = ((1 + 2 / kappa).squareRoot() - 1) / 2
        let upper = (1 + star) * exp(2 * kappa * star) / star
        let lower = star / (1 + star) * exp(-2 * kappa * (1 + star))
        return (lower * m1)...(upper * m1)
    }

    @Test("universal law: mass 1, m1 = a^{2L} e^{c/a²}, m2 = m1² (1 + 2c/a²), edges in closed form",
          arguments: [(1.0, 10, 0.5), (1.05, 20, 2.0), (0.98, 30, 0.05)])
    func universal(_ a: Double, _ L: Int, _ c: Double) throws {
        let law = ResidualSpectrum.universal(scale: a, depth: L, c: c)
        let kappa = c / (a * a)
        let m1 = pow(a, Double(2 * L)) * exp(kappa)
        #expect(relative(law.firstMoment, m1) < 1e-13 && relative(law.secondMoment, m1 * m1 * (1 + 2 * kappa)) < 1e-13)
        let range = try law.supportRange()
        let edges = universalEdges(a: a, L: L, c: c)
        #expect(relative(range.lowerBound, edges.lowerBound) < 1e-9 && relative(range.upperBound, edges.upperBound) < 1e-9,
                "\(range) vs \(edges)")
        let moments = try densityMoments(law.density, on: range)
        #expect(abs(moments[0] - 1) < 1e-6, "mass \(moments[0])")
        #expect(relative(moments[1], law.firstMoment) < 1e-6, "m1 \(moments[1])")
        #expect(relative(moments[2], law.secondMoment) < 1e-6, "m2 \(moments[2])")
    }

    @Test("universal law, a = 1: m1 … m4 in closed form against the law, support edges against the m* form",
          arguments: [0.1, 0.5, 1.5])
    func universalClosedForms(_ kappa: Double) throws {
        let law = ResidualSpectrum.universal(scale: 1, depth: 7, c: kappa)
        let closed = ResidualSpectrum.universalMoments(kappa: kappa)
        #expect(relative(closed[0], law.firstMoment) < 1e-13 && relative(closed[1], law.secondMoment) < 1e-13)
        let edges = universalEdges(a: 1, L: 7, c: kappa), support = ResidualSpectrum.universalSupport(kappa: kappa)
        #expect(relative(support.lowerBound, edges.lowerBound) < 1e-12 && relative(support.upperBound, edges.upperBound) < 1e-12)
        // Soft square-root edges, lower edge > 0: one tanh-sinh panel; the density solver's accuracy
        // (as in the test above) bounds the agreement.
        let moments = try tanhSinhVector(support.lowerBound, support.upperBound, tolerance: 1e-11) { xs in
            zip(xs, try law.density(at: xs)).map { x, r in [r, r * x, r * x * x, r * x * x * x, r * x * x * x * x] }
        }
        #expect(abs(moments[0] - 1) < 1e-6, "mass \(moments[0])")
        for k in 1...4 { #expect(relative(moments[k], closed[k - 1]) < 1e-6, "m\(k): \(moments[k]) vs \(closed[k - 1])") }
    }

    /// m_k = (1/2πi) ∮ z^k G(z) dz of the law's own Stieltjes transform (the solver's, off the
    /// real axis) on the circle |z − c| = r around the support, c its centre and r its width:
    /// the trapezoid rule on 2M points converges like (half-width/r)^{2M} = 2^{−2M} for an
    /// integrand analytic outside the support, so M = 64 leaves only the solver's accuracy.
    @Test("universal law: m1 … m4 of its Stieltjes transform (contour integrals) = the closed forms to 1e-10",
          arguments: [0.1, 0.5, 1.5, 4.0])
    func universalMomentsByContour(_ kappa: Double) throws {
        let law = ResidualSpectrum.universal(scale: 1, depth: 3, c: kappa)
        let support = law.normalizedSupportRange()
        let centre = 0.5 * (support.lowerBound + support.upperBound), radius = support.upperBound - support.lowerBound
        let points = 64
        var moments = [Double](repeating: 0, count: 4)
        for j in 0..<points {
            let theta = Double.pi * (Double(j) + 0.5) / Double(points)
            let e = Complex(cos(theta), sin(theta))
            let z = Complex(centre, 0) + radius * e
            let weighted = try law.normalizedStieltjes(at: z) * (radius * e)
            var power = z
            for k in 0..<4 {
                moments[k] += (power * weighted).re / Double(points)      // the lower half: conjugates
                power = power * z
            }
        }
        let m1 = law.firstMoment, closed = ResidualSpectrum.universalMoments(kappa: kappa)
        for k in 0..<4 {
            let m = moments[k] * pow(m1, Double(k + 1))
            #expect(relative(m, closed[k]) < 1e-10, "κ = \(kappa), m\(k + 1): \(m) vs \(closed[k])")
        }
        let edges = universalEdges(a: 1, L: 3, c: kappa), range = try law.supportRange()
        #expect(relative(range.lowerBound, edges.lowerBound) < 1e-10 && relative(range.upperBound, edges.upperBound) < 1e-10,
                "κ = \(kappa): \(range) vs \(edges)")
    }

    @Test("the finite-L product form approaches the universal law as L grows")
    func productApproachesUniversal() throws {
        let (a, c) = (1.0, 1.0)
        let limit = ResidualSpectrum.universal(scale: a, depth: 1, c: c)
        let range = try limit.supportRange()
        let xs = (1...40).map { range.lowerBound + (range.upperBound - range.lowerBound) * Double($0) / 41 }
        let reference = try limit.density(at: xs)
        var previous = Double.infinity
        for L in [4, 16, 64, 256] {
            let finite = ResidualSpectrum(scale: a, layerGains: Array(repeating: c, count: L))
            let rho = try finite.density(at: xs)
            let distance = zip(rho, reference).map { abs($0 - $1) }.max()!
            #expect(distance < previous, "L = \(L): \(distance)")
            previous = distance
            // m1 = 1/S(0) = (1 − c/L)^{−L} → e^c.
            #expect(relative(finite.firstMoment, pow(1 - c / Double(L), -Double(L))) < 1e-12)
            if L == 16 {
                let moments = try densityMoments(finite.density, on: try finite.supportRange())
                #expect(abs(moments[0] - 1) < 1e-6 && relative(moments[1], finite.firstMoment) < 1e-6
                        && relative(moments[2], finite.secondMoment) < 1e-6, "\(moments)")
            }
        }
        #expect(previous < 0.01 * reference.max()!)
    }

    @Test("exact moments: a linear residual net tends to the universal m1 = e^c, m2/m1² = 1 + 2c at rate 1/L")
    func exactMomentsApproachUniversal() {
        let c = 0.8
        for L in [4, 16, 64, 256] {
            for weights in [WeightLaw.gaussian, .orthogonal] {
                let m = JacobianMoments(activation: .linear, sigmaW: (c / Double(L)).squareRoot(),
                                        layerVariances: Array(repeating: 1, count: L), weights: weights, residualScale: 1)
                // Linear φ: m1 = (1 + c/L)^L exactly; m2/m1² = 1 + L (2c/L + [Gaussian] c²/L²)/(1 + c/L)².
                #expect(relative(m.firstMoment, pow(1 + c / Double(L), Double(L))) < 1e-12)
                // L ln(1 + c/L) − c = −c²/(2L) + c³/(3L²) − …;
                // (2c + g c²/L)/(1 + c/L)² − 2c = (g − 4) c²/L + (6 − 2g) c³/L² + …, g = [Gaussian].
                let n = Double(L), g = weights == .gaussian ? 1.0 : 0.0
                let errors = (m.logFirstMoment - c, m.normalizedSecondMoment - (1 + 2 * c))
                #expect(abs(errors.0 + c * c / (2 * n)) < c * c * c / (n * n), "L = \(L) \(weights): \(errors.0)")
                #expect(abs(errors.1 - (g - 4) * c * c / n) < 8 * c * c * c / (n * n), "L = \(L) \(weights): \(errors.1)")
            }
        }
    }

    @Test("a = 1, c → 0: a point mass at 1")
    func pointMass() throws {
        let zero = ResidualSpectrum.universal(scale: 1, depth: 5, c: 0)
        #expect(zero.atoms == [SpectralAtom(location: 1, weight: 1)])
        #expect(try zero.supportRange() == 1...1)
        #expect(try zero.density(at: [0.5, 1, 1.5]) == [0, 0, 0])
        let product = ResidualSpectrum(scale: 1, layerGains: [0, 0, 0])
        #expect(product.atoms == [SpectralAtom(location: 1, weight: 1)] && product.firstMoment == 1)
        for c in [1e-2, 1e-4, 1e-6] {
            let law = ResidualSpectrum.universal(scale: 1, depth: 5, c: c)
            let range = try law.supportRange()
            // Width ~ 4√c around 1 + c.
            #expect(range.lowerBound > 1 - 5 * c.squareRoot() && range.upperBound < 1 + 5 * c.squareRoot(), "c = \(c): \(range)")
            let moments = try densityMoments(law.density, on: range)
            #expect(abs(moments[0] - 1) < 1e-6, "c = \(c): mass \(moments[0])")
        }
    }
}

// MARK: - Random-feature Gram spectra

@Suite("Free probability: random-feature Gram spectra (Louart, Liao & Couillet 2018)")
struct GramSpectrumTests {
    /// Φ = v I: K = FᵀF/B with iid rows of covariance v I is (N/B)·(Marchenko–Pastur of ratio
    /// c = B/N, variance v), i.e. ρ_K(x) = c ρ_MP(c x).
    @Test(arguments: [(512, 64), (256, 128), (100, 100)])
    func identityKernelIsMarchenkoPastur(_ width: Int, _ batch: Int) throws {
        let v = 0.7, c = Double(batch) / Double(width)
        let law = GramSpectrumLaw(kernelEigenvalues: [Double](repeating: v, count: batch), width: width, batch: batch)
        let top = v * (1 + c.squareRoot()) * (1 + c.squareRoot()) / c
        let xs = (1...19).map { top * Double($0) / 20 }
        let rho = try law.density(at: xs)
        for (x, r) in zip(xs, rho) {
            let exact = c * ClosedForms.marchenkoPasturDensity(ratio: c, variance: v, at: c * x)
            #expect(abs(r - exact) < 1e-6 * max(exact, 1 / top), "N = \(width), B = \(batch), x = \(x): \(r) vs \(exact)")
        }
    }
}

/// q^1 … q^L of a feedforward net on one input of |x|²/N₀ = q0: `q¹ = σ_w² q0 + σ_b²`, then
/// the length map (Poole et al. 2016, eq. 3).
func layerVariances(_ maps: MeanFieldMaps, q0: Double, depth: Int) -> [Double] {
    var q = maps.sigmaW * maps.sigmaW * q0 + maps.sigmaB * maps.sigmaB
    var qs = [q]
    for _ in 1..<max(depth, 1) {
        q = maps.lengthMap(q)
        qs.append(q)
    }
    return Array(qs.prefix(depth))
}

// MARK: - The law of D² (SlopeLaw)

@Suite("Free probability: the law of φ′(h)²")
struct SlopeLawTests {
    /// E d² of the law against χ1(q)/σ_w² from the mean-field quadrature (two independent
    /// routes: the law's nodes and atoms, and the adaptive Gauss–Kronrod of MeanFieldMaps).
    @Test("E φ′(h)² of the law = χ1(q)/σ_w² to 1e-10; masses sum to 1",
          arguments: [(Activation.tanh, 0.8), (.erf, 2.0), (.sigmoid, 1.5), (.selu, 1.0), (.gelu, 1.3),
                      (.relu, 1.0), (.hardTanh, 0.7), (.tanh, 1e-3)])
    func meanIsChi1(_ phi: Activation, _ q: Double) throws {
        let law = SlopeLaw(activation: phi, q: q)
        let chi1 = MeanFieldMaps(activation: phi, sigmaW: 1, sigmaB: 0).chi1(q: q)
        #expect(relative(law.mean, chi1) < 1e-10, "\(phi.name) q = \(q): \(law.mean) vs \(chi1)")
        #expect(abs(law.continuousMass + law.atoms.reduce(0) { $0 + $1.weight } - 1) < 1e-14)
        #expect(law.density(at: [law.support.lowerBound + 0.5 * (law.support.upperBound - law.support.lowerBound)])
            .allSatisfy { $0 >= 0 && $0.isFinite })
    }

    /// (∫ρ, ∫tρ) of the law's continuous density, by the test's own quadrature. Pieces end at
    /// the critical values of t(z) = φ′(√q z)² (found on a fine z-grid and refined by golden
    /// section) and at the tails t(±10); each piece is integrated in u = ln t by 8 panels of
    /// 20-point Gauss–Legendre in θ, u = u_a + (u_b − u_a) g(θ), g = ((1 − cos θ)/2)^p near
    /// each end (mirrored). At a critical value ρ has a square-root singularity, which p = 1
    /// makes analytic in θ; at a tail end φ′ reaches its limit with Gaussian tails (gelu's
    /// φ′ → 1⁺), ρ ~ (t − 1)^{1/q − 1}, which p = 3 makes smooth to high order. No node
    /// comes closer to a critical value than ~10⁻⁶ of it: there ρ(τ) itself is conditioned
    /// like τ/(τ_c − τ) (the root in z moves by √ of a rounding of τ), so an ulp of τ costs
    /// ε τ/(τ_c − τ) of ρ. A critical value within 10⁻³⁰ of 0 (gelu's zero of φ′) is taken
    /// as 0, and the first piece starts at max(its end, 10⁻³⁰⁰ of the next), with plain
    /// Gauss–Legendre in u up to 10⁻³ of its top (ρ t is smooth in u there).
    func densityIntegrals(_ law: SlopeLaw, _ phi: Activation, _ q: Double) -> (mass: Double, mean: Double) {
        let s = q.squareRoot()
        func t(_ z: Double) -> Double { let d = phi.derivative(s * z); return d * d }
        let tails = [t(-10), t(10)]
        var breaks = [law.support.lowerBound, law.support.upperBound] + tails
        let n = 40_000
        let zs = (0...n).map { -10 + 20 * Double($0) / Double(n) }, ts = zs.map(t)
        let golden = (5.0.squareRoot() - 1) / 2
        for i in 1..<n where (ts[i] - ts[i - 1]) * (ts[i + 1] - ts[i]) < 0 {
            var (a, b) = (zs[i - 1], zs[i + 1])
            let isMaximum = ts[i] > ts[i - 1]
            for _ in 0..<100 {
                let c = b - golden * (b - a), d = a + golden * (b - a)
                if (t(c) > t(d)) == isMaximum { b = d } else { a = c }
            }
            breaks.append(t(0.5 * (a + b)))
        }
        var cuts: [Double] = []
        for b in breaks.sorted() where cuts.isEmpty || b > cuts[cuts.count - 1] * (1 + 1e-12) + 1e-300 { cuts.append(b) }
        if cuts.count > 2, cuts[1] < 1e-30 * cuts[2] { cuts.remove(at: 1) }
        let rule = GaussLegendre(points: 20)
        var mass = 0.0, mean = 0.0
        func add(_ a: Double, _ b: Double, panels: Int, _ f: (Double) -> (x: Double, weightedDensity: Double)) {
            let h = (b - a) / Double(panels)
            for p in 0..<panels {
                for (node, w) in zip(rule.nodes, rule.weights) {
                    let (x, r) = f(a + (Double(p) + 0.5 + 0.5 * node) * h)
                    mass += w * 0.5 * h * r; mean += w * 0.5 * h * r * x
                }
            }
        }
        for k in 1..<cuts.count {
            var a = Swift.max(cuts[k - 1], 1e-300 * cuts[k])
            let b = cuts[k]
            if a < 1e-3 * b {
                add(log(a), log(1e-3 * b), panels: 64) { u in
                    let x = exp(u)
                    return (x, law.density(at: [x])[0] * x)
                }
                a = 1e-3 * b
            }
            let (ua, ub) = (log(a), log(b))
            add(0, Double.pi, panels: 8) { theta in
                let lower = theta < Double.pi / 2
                let p = tails.contains(lower ? cuts[k - 1] : b) ? 3.0 : 1.0
                let c = lower ? (1 - cos(theta)) / 2 : (1 + cos(theta)) / 2
                let g = pow(2 * c, p) / 2, dg = p * pow(2 * c, p - 1) * sin(theta) / 2
                let x = exp(ua + (ub - ua) * (lower ? g : 1 - g))
                return (x, law.density(at: [x])[0] * x * (ub - ua) * dg)
            }
        }
        return (mass, mean)
    }

    @Test("the density integrates to the continuous mass, and with the atoms gives E φ′² = χ1/σ_w², to 1e-10",
          arguments: [(Activation.tanh, 0.8), (.erf, 2.0), (.sigmoid, 1.5), (.selu, 1.0), (.gelu, 1.3),
                      (.silu, 1.0), (.softplus, 2.0), (.elu(alpha: 1), 1.0), (.tanh, 1e-3)])
    func densityIntegratesToOne(_ phi: Activation, _ q: Double) {
        let law = SlopeLaw(activation: phi, q: q)
        let (mass, continuousMean) = densityIntegrals(law, phi, q)
        let atoms = law.atoms.reduce(0.0) { $0 + $1.weight }
        let mean = continuousMean + law.atoms.reduce(0.0) { $0 + $1.weight * $1.location }
        let chi1 = MeanFieldMaps(activation: phi, sigmaW: 1, sigmaB: 0).chi1(q: q)
        #expect(abs(mass + atoms - 1) < 1e-10, "\(phi.name) q = \(q): total mass \(mass + atoms)")
        #expect(relative(mean, chi1) < 1e-10, "\(phi.name) q = \(q): ∫tρ + atoms = \(mean) vs χ1 = \(chi1)")
    }
}
