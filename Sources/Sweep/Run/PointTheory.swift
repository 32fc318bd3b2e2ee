#if canImport(Glibc)
import Glibc
#endif
import Ensembles
import FreeProbability
import MeanField

/// The predictions written beside one grid point's measurements (DESIGN §2), from the
/// point's actual input batch: the layer-by-layer mean-field covariances (feedforward:
/// Poole et al. 2016; residual: the (r, μ) recursion of Tarnowski et al. 2019), the
/// fixed points, and the Lyapunov exponents where theory gives them.
public struct PointTheory: Sendable {
    public let layers: [LayerTheory]
    /// The feedforward fixed points (nil for residual nets, whose q has none in general).
    public let fixedPoints: FixedPointReport?
    /// `χ^l = (σ_w²/s) E φ′(√q^l z)²` at the batch's first input, layer 1 first: the
    /// per-layer mean squared singular value of the Jacobian (the input the sampler
    /// differentiates at).
    public let layerGains: [Double]
    /// Labatie's normalised sensitivity χ^l at infinite width, layer 1 first (empty for BN
    /// nets or a single input): per input b the noise per entry of h^l is
    /// `m^l_b = (σ_w²/s) v^{l−1}_b`, `v^0 = 1`, `v^l_b = (χ(q^l_bb) + a²) v^{l−1}_b` with
    /// `χ(q) = (σ_w²/s) E φ′(√q z)²` (the noise's cross term with the skip averages out over W),
    /// and `χ^l = (Tr C^0 · mean_b m^l_b / Tr C^l)^{1/2}`, Tr C the centred trace of the
    /// inputs' Gram and of q^l.
    public let sensitivity: [Double]
    /// Predicted `lyap_k` by k (1-based), and `lyap_gap`.
    public let lyapunov: [Int: Double]
    public let lyapunovGap: Double?
    /// Free-probability law of JJᵀ at each measured Jacobian layer (nil where theory does not
    /// apply: non-square J, residual a = 0 or gains ≥ a², a solver failure — see `notes`).
    public let spectra: [Int: JacobianLaw]
    /// The exact infinite-width m1 and m2 of JJᵀ at each measured Jacobian layer (square J),
    /// for either architecture and weight law, whether or not a density is available.
    public let jacobianMoments: [Int: JacobianMoments]
    /// The analytic NTK Θ^L(x, x) at the batch's first input (feedforward nets with `ntk`):
    /// the infinite-width mean eigenvalue of the empirical one-sample NTK.
    public let ntkDiagonal: Double?
    /// The deterministic equivalent of the first layer's feature Gram spectrum (non-BN nets
    /// with `gram_spectrum`): Φ_ab = E φ(u_a) φ(u_b), u ~ N(0, q¹).
    public let gramSpectrum: GramSpectrumLaw?
    /// Why a theory column is empty, for the manifest.
    public let notes: [String]

    public init(network: NetworkSpec, inputs: InputBatch, observables: Observables) {
        // Weight variance σ_w²/(N·s): the maps of an effective σ_w/√s.
        let s = network.varianceDivisor
        let maps = MeanFieldMaps(activation: network.activation, sigmaW: network.sigmaW / s.squareRoot(),
                                 sigmaB: network.sigmaB)
        switch network.architecture {
        case .feedforward:
            layers = maps.propagate(inputGram: inputs.gram.elements, count: inputs.count, depth: network.depth)
            fixedPoints = maps.fixedPoints()
        case .residual(let a):
            layers = maps.propagateResidual(inputGram: inputs.gram.elements, inputMeans: inputs.means,
                                            count: inputs.count, depth: network.depth, scale: a, varianceDivisor: 1)
            fixedPoints = nil
        case .batchNorm, .batchNormChain, .batchNormResidual:
            // Mean-field theory of batch-normalised nets is not a layer-wise Gaussian map
            // (BN couples the batch): no theory columns, measured decay rates instead.
            layers = []
            fixedPoints = nil
        }
        layerGains = layers.map { maps.chi1(q: $0.q[0]) }
        if inputs.count > 1, !layers.isEmpty {
            let a = network.architecture.residualScale, sigma2 = network.sigmaW * network.sigmaW / s
            let signal0 = GramGeometry.centredTrace(inputs.gram.elements, count: inputs.count)
            var v = [Double](repeating: 1, count: inputs.count)
            var chi: [Double] = []
            for t in layers {
                let m = v.map { sigma2 * $0 }
                chi.append((signal0 * m.reduce(0, +) / Double(m.count)
                            / GramGeometry.centredTrace(t.covariance, count: inputs.count)).squareRoot())
                v = zip(v, t.q).map { $0 * (maps.chi1(q: $1) + a * a) }
            }
            sensitivity = chi
        } else {
            sensitivity = []
        }

        var lyapunov: [Int: Double] = [:]
        var gap: Double?
        if let observable = observables.lyapunov, case .feedforward = network.architecture {
            let k = observable.count(inputDimension: inputs.dimension, width: network.width)
            if network.activation == .linear, inputs.dimension == network.width {
                for i in 1...k {
                    lyapunov[i] = network.weightInit == .gaussian
                        ? LyapunovTheory.gaussianProduct(dimension: network.width, k: i, sigma: network.sigmaW,
                                                         varianceDenominator: Double(network.width) * s)
                        : log(network.sigmaW) - 0.5 * log(s)
                }
                if k >= 2 { gap = lyapunov[1]! - lyapunov[2]! }
            } else {
                lyapunov[1] = layerGains.reduce(0) { $0 + 0.5 * log($1) } / Double(network.depth)
            }
        }
        self.lyapunov = lyapunov
        lyapunovGap = gap

        var spectra: [Int: JacobianLaw] = [:]
        var moments: [Int: JacobianMoments] = [:]
        var notes: [String] = []
        if let jacobian = observables.jacobian {
            for layer in jacobian.depths(for: network.depth) {
                guard inputs.dimension == network.width else {
                    notes.append("no spectrum theory: J is \(network.width)×\(inputs.dimension), not square")
                    break
                }
                let weights: WeightLaw = network.weightInit == .gaussian ? .gaussian : .orthogonal
                moments[layer] = JacobianMoments(activation: network.activation, sigmaW: network.sigmaW / s.squareRoot(),
                                                 layerVariances: layers[..<layer].map { $0.q[0] }, weights: weights,
                                                 residualScale: network.architecture.residualScale)
                let gains = Array(layerGains[..<layer])
                switch network.architecture {
                case .feedforward:
                    spectra[layer] = .feedforward(FeedforwardSpectrum(
                        activation: network.activation, sigmaW: network.sigmaW / s.squareRoot(),
                        layerVariances: layers[..<layer].map { $0.q[0] }, weights: weights))
                case .batchNorm, .batchNormChain, .batchNormResidual:
                    continue   // refused by the campaign parser: BN couples the batch
                case .residual(let a):
                    // Tarnowski et al.: S = a^{−2l} Π (1 − c_k (1+2z)/(a² l)), c_k/l the layer gain.
                    guard a > 0, network.weightInit == .gaussian, gains.allSatisfy({ $0 < a * a }) else {
                        notes.append("no spectrum theory at layer \(layer): the residual law needs a > 0, Gaussian "
                                     + "weights and every layer gain below a²")
                        continue
                    }
                    spectra[layer] = .residual(ResidualSpectrum(scale: a, layerGains: gains.map { $0 * Double(layer) }))
                }
            }
        }
        self.spectra = spectra
        jacobianMoments = moments
        if observables.ntk, case .feedforward = network.architecture {
            ntkDiagonal = maps.neuralTangentKernel(inputGram: [inputs.gram[0, 0]], count: 1, depth: network.depth).ntk.last?[0]
        } else {
            ntkDiagonal = nil
        }
        if observables.gramSpectrum != nil, network.weightInit == .orthogonal {
            gramSpectrum = nil
            notes.append("no Gram-spectrum theory for orthogonal weights: the deterministic equivalent needs independent rows of W")
        } else if observables.gramSpectrum != nil, let first = layers.first {
            let b = inputs.count, unit = MeanFieldMaps(activation: network.activation, sigmaW: 1, sigmaB: 0)
            var phi = [Double](repeating: 0, count: b * b)
            for a in 0..<b {
                for c in a..<b {
                    phi[a * b + c] = unit.covarianceMap(qaa: first.covariance[a * b + a], qbb: first.covariance[c * b + c],
                                                        qab: first.covariance[a * b + c])
                    phi[c * b + a] = phi[a * b + c]
                }
            }
            do {
                gramSpectrum = GramSpectrumLaw(kernelEigenvalues: try GramGeometry.eigenvalues(phi, count: b),
                                               width: network.width, batch: b)
            } catch {
                gramSpectrum = nil
                notes.append("no Gram-spectrum theory: \(error)")
            }
        } else {
            gramSpectrum = nil
        }
        self.notes = notes
    }

    /// The prediction for a measured quantity at `layer` (1-based), nil where theory is silent.
    public func value(of quantity: String, layer: Int, batch: Int) -> Double? {
        guard layer <= layers.count else { return nil }
        let t = layers[layer - 1]
        switch quantity {
        case "q": return t.meanQ
        case "c": return t.meanC
        // The infinite-width values of the Gram-matrix geometry: the same formulas on q^l_ab.
        case "orth_gap": return GramGeometry.orthogonalityGap(t.covariance, count: batch)
        case "eff_rank": return try? GramGeometry.effectiveRank(t.covariance, count: batch)
        case "traj_length": return GramGeometry.trajectoryLength(t.covariance, count: batch)
        case "sensitivity": return layer <= sensitivity.count ? sensitivity[layer - 1] : nil
        case "lyap_gap": return lyapunovGap
        case "jac_m1": return jacobianMoments[layer]?.firstMoment
        case "jac_m2": return jacobianMoments[layer]?.secondMoment
        case "ntk_mean": return ntkDiagonal
        default:
            let parts = quantity.split(separator: "_")
            if parts.count == 2, parts[0] == "lyap", let k = Int(parts[1]) { return lyapunov[k] }
            guard parts.count == 3, parts[0] == "gram" || parts[0] == "nngp", let a = Int(parts[1]), let b = Int(parts[2])
            else { return nil }
            return t.covariance[a * batch + b]
        }
    }
}

/// The free-probability law of JJᵀ of a feedforward or a residual net.
public enum JacobianLaw: Sendable {
    case feedforward(FeedforwardSpectrum)
    case residual(ResidualSpectrum)

    /// The density of the continuous part at each λ (point masses left out).
    public func density(at x: [Double]) throws -> [Double] {
        switch self {
        case .feedforward(let f): return try f.density(at: x)
        case .residual(let r): return try r.density(at: x)
        }
    }

    /// The mean of the density over each bin (`LogBins.averages`).
    public func binAverages(_ bins: [(Double, Double)]) throws -> [Double] {
        try LogBins.averages(bins, density: density(at:))
    }
}

/// Averages of a density over log-spaced bins.
public enum LogBins {
    /// The mean of `density` over each bin `[lo, hi)`: 4-point Gauss–Legendre in ln λ
    /// (`∫ρ dλ = ∫ρ(e^u) e^u du`), divided by the bin width; one call for all the nodes.
    public static func averages(_ bins: [(Double, Double)], density: ([Double]) throws -> [Double]) throws -> [Double] {
        let nodes = [-0.861136311594053, -0.339981043584856, 0.339981043584856, 0.861136311594053]
        let weights = [0.347854845137454, 0.652145154862546, 0.652145154862546, 0.347854845137454]
        var xs: [Double] = []
        xs.reserveCapacity(bins.count * 4)
        for (lo, hi) in bins {
            let (a, b) = (log(lo), log(hi))
            for t in nodes { xs.append(exp((a + b) / 2 + (b - a) / 2 * t)) }
        }
        let rho = try density(xs)
        return bins.enumerated().map { i, bin in
            let half = (log(bin.1) - log(bin.0)) / 2
            var integral = 0.0
            for k in 0..<4 { integral += weights[k] * rho[4 * i + k] * xs[4 * i + k] * half }
            return integral / (bin.1 - bin.0)
        }
    }
}
