import Foundation
import FreeProbability
import MeanField
import Testing

/// Free-probability laws against closed forms (Fuss–Catalan, Marchenko–Pastur, isometry).
@Suite struct ClosedFormChecks {
    /// Fuss–Catalan numbers (1/(Lk+1)) C((L+1)k, k): Catalan for L = 1, 1, 3, 12, 55 for L = 2.
    @Test func fussCatalanMoments() {
        #expect((1...4).map { ClosedForms.fussCatalanMoment(products: 1, order: $0) } == [1, 2, 5, 14])
        #expect((1...4).map { ClosedForms.fussCatalanMoment(products: 2, order: $0) } == [1, 3, 12, 55])
    }

    /// A linear Gaussian net of depth L is the product of L square Gaussian matrices: its
    /// JJᵀ law is Fuss–Catalan (Marchenko–Pastur with ratio 1 for L = 1), m1 = 1, m2 = L + 1.
    @Test(arguments: [1, 2, 4])
    func linearGaussianNetsAreFussCatalan(_ depth: Int) throws {
        let law = FeedforwardSpectrum(activation: .linear, sigmaW: 1, layerVariances: Array(repeating: 1, count: depth),
                                      weights: .gaussian)
        #expect(abs(law.firstMoment - 1) < 1e-12 && abs(law.secondMoment - Double(depth + 1)) < 1e-9)
        let edge = pow(Double(depth + 1), Double(depth + 1)) / pow(Double(depth), Double(depth))
        let xs = [0.01, 0.1, 0.5, 1, 1.6].map { $0 * edge / 2 }
        let rho = try law.density(at: xs)
        for (x, r) in zip(xs, rho) {
            let exact = ClosedForms.fussCatalanDensity(products: depth, at: x)
            #expect(abs(r / exact - 1) < 1e-6, "L=\(depth) x=\(x): \(r) vs \(exact)")
            if depth == 1 {
                #expect(abs(ClosedForms.marchenkoPasturDensity(ratio: 1, variance: 1, at: x) / exact - 1) < 1e-10)
            }
        }
    }

    /// Orthogonal linear layers: J = σ_w^L O, all of the mass at σ_w^{2L}.
    @Test func orthogonalLinearNetsAreAPointMass() {
        let law = FeedforwardSpectrum(activation: .linear, sigmaW: 1.2, layerVariances: [1, 1, 1], weights: .orthogonal)
        let location: Double = pow(1.2, 6.0)
        #expect(law.atoms.count == 1 && abs(law.atoms[0].location / location - 1) < 1e-12 && abs(law.atoms[0].weight - 1) < 1e-12)
        #expect(abs(law.firstMoment / location - 1) < 1e-12 && abs(law.secondMoment / (location * location) - 1) < 1e-12)
    }

    /// m1 = Π χ^l with each layer's own q^l, computed independently from the mean-field maps.
    @Test func firstMomentIsTheProductOfLayerGains() {
        let maps = MeanFieldMaps(activation: .tanh, sigmaW: 1.1, sigmaB: 0.2)
        let qs = maps.propagate(inputGram: [0.3], count: 1, depth: 10).map(\.meanQ)
        for weights in [WeightLaw.gaussian, .orthogonal] {
            let law = FeedforwardSpectrum(activation: .tanh, sigmaW: 1.1, layerVariances: qs, weights: weights)
            let product = qs.reduce(1.0) { $0 * maps.chi1(q: $1) }
            #expect(abs(law.firstMoment / product - 1) < 1e-9)
        }
    }
}
