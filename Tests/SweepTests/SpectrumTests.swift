import Ensembles
import Foundation
import FreeProbability
@testable import Sweep
import Testing

/// Monte Carlo Jacobian spectra against free probability (Pennington et al. 2017; Tarnowski
/// et al. 2019), through the same catalogue, sampler and theory a sweep uses.
@Suite struct SpectrumTests {
    /// One tanh point (N = 192, 12 networks), its Jacobian spectrum at `depths` (default L/3 and L);
    /// residual nets get the default a = 1 and σ_w²/(N L) weights.
    func campaign(init weightInit: String, sigmaW: Double, architecture: String = "feedforward", depth: Int = 12,
                  depths: [Int] = [4, 12]) -> String {
        """
        seed = 11
        samples = 12
        block = 4
        [grid]
        width = [192]
        depth = [\(depth)]
        sigma_w = [\(sigmaW)]
        sigma_b = [0.05]
        activation = ["tanh"]
        [network]
        architecture = "\(architecture)"
        init = "\(weightInit)"
        [inputs]
        kind = "gram"
        count = 2
        q0 = 0.6
        [observe]
        forward = ["q"]
        jacobian = { depths = \(depths), bins = 40, range = [1e-5, 1e2] }
        """
    }

    /// Tolerance: 4 standard errors, plus a finite-width allowance. The theory moments are
    /// the N → ∞ limit (`JacobianMoments`, exact at every depth for both architectures); each
    /// of the 2l free factors (W^k and D^k, k ≤ l) carries an O(1/N) relative correction, so
    /// m1 is allowed (l/N)|m1| — one per layer pair — and m2, quadratic in λ, twice that.
    @Test(arguments: [("gaussian", 1.0, "feedforward"), ("orthogonal", 1.0, "feedforward"),
                      ("gaussian", 1.2, "residual"), ("orthogonal", 1.5, "residual")])
    func momentsMatchFreeProbability(_ weightInit: String, _ sigmaW: Double, _ architecture: String) throws {
        let (s, theory, _) = try measureCampaign(campaign(init: weightInit, sigmaW: sigmaW, architecture: architecture))
        for layer in [4, 12] {
            let allowance = Double(layer) / 192
            for (name, factor) in [("jac_m1", 1.0), ("jac_m2", 2.0)] {
                let m = s.moments[s.names.firstIndex(of: name)!][layer - 1]
                let expected = try #require(theory.value(of: name, layer: layer))
                let tolerance = 4 * m.standardError! + factor * allowance * abs(expected)
                #expect(abs(m.mean - expected) <= tolerance,
                        "\(architecture) \(weightInit) \(name) at layer \(layer): \(m.mean) vs \(expected) ± \(tolerance)")
            }
        }
    }

    /// The residual m2 is sensitive to the cross terms a²g of (a + DW) A (a + DW)ᵀ: the
    /// first-order S-transform product (Tarnowski et al.) misses its m2 by Σ g_k² — resolved
    /// here — while the exact recursion does not.
    @Test func residualSecondMomentIsExactNotFirstOrder() throws {
        let (s, theory, residual) = try measureCampaign(campaign(init: "gaussian", sigmaW: 3.0, architecture: "residual"))
        let layer = 12
        let m = s.moments[s.names.firstIndex(of: "jac_m2")!][layer - 1]
        let exact = try #require(theory.value(of: "jac_m2", layer: layer))
        let law = JacobianSpectrum.theory(try theoryContext(residual), layer: layer).law
        guard case .residual(let firstOrder) = try #require(law) else { Issue.record("not residual"); return }
        let tolerance = 4 * m.standardError! + 2 * Double(layer) / 192 * exact
        #expect(abs(m.mean - exact) <= tolerance, "\(m.mean) vs \(exact) ± \(tolerance)")
        #expect(abs(m.mean - firstOrder.secondMoment) > tolerance, "first order \(firstOrder.secondMoment)")
    }

    /// Goodness of fit of the pooled histogram: the L1 distance between the Monte Carlo and
    /// theory bin masses (over the bins, plus the theory mass outside them), against twice
    /// the distance multinomial sampling alone would give for n independent values with the
    /// theory's bin masses, E Σ|p̂_i − p_i| ≈ Σ √(2 p_i (1 − p_i)/(π n)). Eigenvalues repel,
    /// so they fluctuate less than independent draws; the factor 2 leaves room for the
    /// finite-width bias of the allowance above. A wrong law (e.g. Gaussian theory against
    /// orthogonal data) is far outside.
    @Test(arguments: ["gaussian", "orthogonal"])
    func histogramsFitTheDensity(_ weightInit: String) throws {
        let (s, theory, _) = try measureCampaign(campaign(init: weightInit, sigmaW: 1.0))
        for (h, layer) in [4, 12].enumerated() {
            let histogram = s.histograms[h]
            let bins = (0..<histogram.counts.count).map { histogram.edges($0) }
            let density = try #require(theory.spectra[h], "layer \(layer)")
            let masses = zip(density, bins).map { $0 * ($1.1 - $1.0) }
            let (distance, noise) = histogramFit(histogram, masses: masses)
            #expect(distance <= 2 * noise, "\(weightInit) layer \(layer): L1 \(distance) vs 2× noise \(2 * noise)")
            if weightInit == "orthogonal" {
                // The same histogram against the Gaussian-weight law must fail the test.
                let (_, gaussianTheory, _) = try measureCampaign(self.campaign(init: "gaussian", sigmaW: 1.0))
                let wrong = zip(try #require(gaussianTheory.spectra[h]), bins).map { $0 * ($1.1 - $1.0) }
                let wrongDistance = histogramFit(histogram, masses: wrong).distance
                #expect(wrongDistance > 2 * noise, "the Gaussian law should not fit orthogonal data: \(wrongDistance)")
            }
        }
    }

    /// A tanh conv net at criticality (χ1 = 1; 64 channels over 8 positions, C = C₀, 16
    /// networks, layers 5 and 20): with delta-orthogonal kernels J is the orthogonal fully
    /// connected net's Jacobian at every position, and its pooled histogram fits the mixture
    /// of the positions' orthogonal laws (Xiao et al. 2018's dynamical isometry) within twice
    /// the multinomial noise; Gaussian kernels fit the Gaussian fully connected law instead,
    /// and each kernel's histogram is far from the other kernel's law. m1 and m2 within the
    /// moment test's allowance.
    @Test func convJacobianSpectraAreTheFullyConnectedLaws() throws {
        func campaign(_ kernel: String) -> String {
            """
            seed = 8
            samples = 16
            block = 4
            [grid]
            width = [64]
            depth = [20]
            sigma_w = [1.122539004769576]
            sigma_b = [0.05]
            activation = ["tanh"]
            [network]
            architecture = "conv"
            kernel_size = 3
            init = "\(kernel)"
            [inputs]
            kind = "gaussian"
            count = 1
            shape = [64, 8]
            [observe]
            forward = ["q"]
            jacobian = { depths = [5, 20], bins = 40, range = [1e-4, 1e2] }
            """
        }
        let kernels = ["delta-orthogonal", "gaussian"]
        let runs = try kernels.map { try measureCampaign(campaign($0)) }
        for (k, (s, theory, _)) in runs.enumerated() {
            let other = runs[1 - k].1
            for (h, layer) in [5, 20].enumerated() {
                for (name, factor) in [("jac_m1", 1.0), ("jac_m2", 2.0)] {
                    let m = s.moments[s.names.firstIndex(of: name)!][layer - 1]
                    let expected = try #require(theory.value(of: name, layer: layer))
                    let tolerance = 4 * m.standardError! + factor * Double(layer) / 64 * abs(expected)
                    #expect(abs(m.mean - expected) <= tolerance, "\(kernels[k]) \(name) at layer \(layer): \(m.mean) vs \(expected)")
                }
                let histogram = s.histograms[h]
                let bins = (0..<histogram.counts.count).map { histogram.edges($0) }
                func masses(_ density: [Double]) -> [Double] { zip(density, bins).map { $0 * ($1.1 - $1.0) } }
                let (distance, noise) = histogramFit(histogram, masses: masses(try #require(theory.spectra[h])))
                #expect(distance <= 2 * noise, "\(kernels[k]) layer \(layer): L1 \(distance) vs 2× noise \(2 * noise)")
                let wrong = histogramFit(histogram, masses: masses(try #require(other.spectra[h]))).distance
                #expect(wrong > 2 * noise, "\(kernels[k]) data fit the other kernel's law at layer \(layer): L1 \(wrong)")
            }
        }
    }

    /// Residual nets x^l = φ(h^l) + x^{l−1} with W of variance σ_w²/(N L), Gaussian or Haar
    /// orthogonal: the pooled histogram at L = 24 fits Tarnowski et al.'s (2019) finite-L
    /// product law and their L → ∞ universal law at the same c (`theory_limit`), both within
    /// twice the multinomial noise (as in `histogramsFitTheDensity`). The laws are those of
    /// Gaussian weights; orthogonal ones share them because to first order in 1/L a block's
    /// S-transform sees only the second moments of DW. The universal law's c = Σ_k g_k is
    /// checked against the exact m1 = Π_k (1 + g_k) of ``JacobianMoments``:
    /// 0 ≤ c − ln m1 ≤ ½ max_k g_k · c, since x − x²/2 ≤ ln(1 + x) ≤ x; the two laws are
    /// not the same numbers; and the universal law at 1.5 c, as a wrong law, must not fit.
    @Test(arguments: ["gaussian", "orthogonal"])
    func residualHistogramsFitTheUniversalLaw(_ weightInit: String) throws {
        let (s, theory, parsed) = try measureCampaign(campaign(init: weightInit, sigmaW: 1.0, architecture: "residual",
                                                               depth: 24, depths: [24]))
        let histogram = s.histograms[0]
        let bins = (0..<histogram.counts.count).map { histogram.edges($0) }
        func masses(_ density: [Double]) -> [Double] { zip(density, bins).map { $0 * ($1.1 - $1.0) } }
        for (name, law) in [("product", theory.spectra[0]), ("universal", theory.limitSpectra[0])] {
            let (distance, noise) = histogramFit(histogram, masses: masses(try #require(law, "\(name) law")))
            #expect(distance <= 2 * noise, "\(weightInit), \(name) law: L1 \(distance) vs 2× noise \(2 * noise)")
        }
        let limit = try #require(JacobianSpectrum.limitLaw(try theoryContext(parsed), layer: 24))
        let c = limit.layerGains[0]
        let logM1 = log(try #require(theory.value(of: "jac_m1", layer: 24)))
        let largestGain = try theoryContext(parsed).layerGains[..<24].map { $0! }.max()!
        #expect(c - logM1 >= 0 && c - logM1 <= 0.5 * largestGain * c, "c = \(c), ln m1 = \(logM1)")
        let product = try #require(theory.spectra[0]), universal = try #require(theory.limitSpectra[0])
        #expect(zip(product, universal).contains { $0 != $1 }, "theory_limit is a copy of theory")
        let wrong = ResidualSpectrum.universal(scale: 1, depth: 24, c: 1.5 * c)
        let wrongDensity = try LogBins.averages(bins, density: wrong.density(at:))
        let (distance, noise) = histogramFit(histogram, masses: masses(wrongDensity))
        #expect(distance > 2 * noise, "c = \(c): the law at 1.5 c should not fit: L1 \(distance)")
    }
}
