@testable import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import Randomness
import Testing

/// The circular convolution and its mean-field map (Xiao et al. 2018), checked on their own:
/// known answers, equivariance, and one layer's law against the theory.
@Suite struct ConvolutionTests {
    private func stream(_ layer: UInt32, _ purpose: StreamID.Purpose = .weights) -> RandomStream {
        RandomStream(StreamID(seed: 11, point: 0, sample: 0, layer: layer, purpose: purpose))
    }

    /// The mean-field state of a signal (C·P rows, channel fastest): the second moments
    /// `x_{(a,p)}·x_{(b,r)}/C` of its B·P vectors, vector `a·P + p`.
    private func state(of x: Matrix<Double>, channels c: Int, positions p: Int) -> MeanFieldState {
        let n = x.columns * p
        var k = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                let (a, q) = (i / p, i % p), (b, r) = (j / p, j % p)
                k[i * n + j] = (0..<c).reduce(0.0) { $0 + x[$1 + c * q, a] * x[$1 + c * r, b] } / Double(c)
            }
        }
        return MeanFieldState(input: ScaledMoments(covariance: k, count: n))
    }

    @Test func refusesBadShapesAndKernels() {
        func key(_ shape: [Int], _ size: Int) -> String? {
            do {
                _ = try Convolution(shape: shape, size: size, sigmaW: 1, kernel: .gaussian)
                return nil
            } catch { return error.key }
        }
        #expect(key([], 3) == "inputs.shape")
        #expect(key([4, 4, 4], 3) == "inputs.shape")
        #expect(key([8, 0], 1) == "inputs.shape")
        #expect(key([8], 2) == "network.kernel_size")
        #expect(key([8], -1) == "network.kernel_size")
        #expect(key([8, 4], 5) == "network.kernel_size")
        #expect(key([8, 5], 5) == nil)
    }

    /// With k = 1 a convolution is one dense layer applied at every position.
    @Test func kernelOfOneIsADenseLayerAtEveryPosition() throws {
        let conv = try Convolution(shape: [3, 4], size: 1, sigmaW: 1.3, kernel: .gaussian)
        let (cIn, cOut, p) = (5, 7, conv.positions)
        let x = Matrix<Double>.gaussian(rows: cIn * p, columns: 2, stream: stream(0, .inputs))
        let w: [Matrix<Double>?] = try conv.weights(channelsIn: cIn, channelsOut: cOut, stream: stream(1))
        let h = conv.apply(w, to: x), tap = try #require(w[0])
        for a in 0..<2 {
            for q in 0..<p {
                for i in 0..<cOut {
                    let expected = (0..<cIn).reduce(0.0) { $0 + tap[i, $1] * x[$1 + cIn * q, a] }
                    #expect(abs(h[i + cOut * q, a] - expected) < 1e-13)
                }
            }
        }
    }

    /// Shifting the input's positions circularly shifts the output the same way, in 1-D and
    /// 2-D (stride 1, circular padding: the layer commutes with translations).
    @Test(arguments: [[9], [4, 5]])
    func commutesWithCircularShifts(shape: [Int]) throws {
        let conv = try Convolution(shape: shape, size: 3, sigmaW: 1, kernel: .gaussian)
        let (c, p) = (4, conv.positions)
        let x = Matrix<Double>.gaussian(rows: c * p, columns: 2, stream: stream(0, .inputs))
        let w: [Matrix<Double>?] = try conv.weights(channelsIn: c, channelsOut: c, stream: stream(1))
        let s = shape.count == 1 ? [2] : [1, -2]
        var moved = x
        for a in 0..<2 { for q in 0..<p { for k in 0..<c { moved[k + c * conv.shifted(q, by: s), a] = x[k + c * q, a] } } }
        let h = conv.apply(w, to: x), hMoved = conv.apply(w, to: moved)
        for a in 0..<2 {
            for q in 0..<p {
                for k in 0..<c { #expect(abs(hMoved[k + c * conv.shifted(q, by: s), a] - h[k + c * q, a]) < 1e-13) }
            }
        }
    }

    /// A delta-orthogonal kernel is σ_w times one orthogonal matrix at every position: each
    /// position's channel vector keeps its length times σ_w exactly (square C), and its
    /// theory is the fully connected map at every position (𝒜 the identity).
    @Test func deltaOrthogonalIsOneOrthogonalMatrixPerPosition() throws {
        let conv = try Convolution(shape: [6], size: 5, sigmaW: 1.5, kernel: .deltaOrthogonal)
        let (c, p) = (8, conv.positions)
        let x = Matrix<Double>.gaussian(rows: c * p, columns: 2, stream: stream(0, .inputs))
        let w: [Matrix<Double>?] = try conv.weights(channelsIn: c, channelsOut: c, stream: stream(1))
        #expect(w.enumerated().allSatisfy { ($0.element != nil) == ($0.offset == conv.centreTap) })
        let h = conv.apply(w, to: x)
        for a in 0..<2 {
            for q in 0..<p {
                let before = (0..<c).reduce(0.0) { $0 + x[$1 + c * q, a] * x[$1 + c * q, a] }
                let after = (0..<c).reduce(0.0) { $0 + h[$1 + c * q, a] * h[$1 + c * q, a] }
                #expect(abs(after - 1.5 * 1.5 * before) < 1e-12 * before)
            }
        }
        let s = state(of: x, channels: c, positions: p)
        let next = try #require(conv.propagate(s))
        for i in 0..<(2 * p) {
            for j in 0..<(2 * p) {
                #expect(abs(next.moments.value(i, j) - 2.25 * s.moments.value(i, j)) < 1e-14 * (1 + abs(s.moments.value(i, j))))
            }
        }
    }

    /// The position average of a signal's state is its Gram over all C·P rows, divided by C·P.
    @Test func positionAverageIsTheGramOfTheWholeSignal() throws {
        let (c, p) = (3, 10)
        let x = Matrix<Double>.gaussian(rows: c * p, columns: 3, stream: stream(0, .inputs))
        let g = Convolution.positionAverage(state(of: x, channels: c, positions: p).moments, positions: p)
        for a in 0..<3 {
            for b in 0..<3 {
                let gram = (0..<(c * p)).reduce(0.0) { $0 + x[$1, a] * x[$1, b] } / Double(c * p)
                #expect(abs(g.value(a, b) - gram) < 1e-14)
            }
        }
    }

    /// One Gaussian conv layer's output channels are iid given x, each a Gaussian vector over
    /// (input, position) with covariance σ_w² 𝒜(K), K = x·x/C_in per pair of positions
    /// (Xiao et al. 2018, §2): its empirical covariance over C_out = 10⁵ channels lies
    /// within z standard errors of the theory for every entry, SE² = (Σ_ii Σ_jj + Σ_ij²)/C_out
    /// (the variance of a product of two jointly Gaussian variables), z = 5.1 the Bonferroni
    /// bound for the 300 distinct entries at a 10⁻⁴ chance of a false alarm (two-sided, 3.3·10⁻⁷ each; conservative, the entries being correlated). The same samples
    /// against the theory without the footprint average (the delta kernel's) must fail.
    @Test(arguments: [[12], [4, 3]])
    func oneLayerHasTheFootprintAveragedCovariance(shape: [Int]) throws {
        let conv = try Convolution(shape: shape, size: 3, sigmaW: 1.2, kernel: .gaussian)
        let (cIn, cOut, p, b) = (6, 100_000, conv.positions, 2)
        var x = Matrix<Double>.gaussian(rows: cIn * p, columns: b, stream: stream(0, .inputs))
        for q in 0..<p { for k in 0..<cIn { x[k + cIn * q, 1] = 0.6 * x[k + cIn * q, 0] + 0.8 * x[k + cIn * q, 1] } }
        let w: [Matrix<Double>?] = try conv.weights(channelsIn: cIn, channelsOut: cOut, stream: stream(1))
        let h = conv.apply(w, to: x)
        let s = state(of: x, channels: cIn, positions: p)
        let theory = try #require(conv.propagate(s)).moments
        let wrong = s.moments.scaled(by: 1.2 * 1.2)
        let n = b * p
        var worst = 0.0, worstWrong = 0.0
        for i in 0..<n {
            for j in i..<n {
                let (a, q) = (i / p, i % p), (a2, r) = (j / p, j % p)
                let empirical = (0..<cOut).reduce(0.0) { $0 + h[$1 + cOut * q, a] * h[$1 + cOut * r, a2] } / Double(cOut)
                let se = ((theory.value(i, i) * theory.value(j, j) + pow(theory.value(i, j), 2)) / Double(cOut)).squareRoot()
                worst = max(worst, abs(empirical - theory.value(i, j)) / se)
                worstWrong = max(worstWrong, abs(empirical - wrong.value(i, j)) / se)
            }
        }
        #expect(worst < 5.1, "largest deviation \(worst) standard errors")
        #expect(worstWrong > 5.1, "the theory without the footprint average passed (\(worstWrong))")
    }

    /// The entries (i ≤ j) of a signal's empirical covariance over its C channels, vector
    /// `a·P + p` as in ``state(of:channels:positions:)``.
    private func covariance(_ h: Matrix<Double>, channels c: Int, positions p: Int) -> [Double] {
        let n = h.columns * p
        var out: [Double] = []
        for i in 0..<n {
            for j in i..<n {
                let (a, q) = (i / p, i % p), (b, r) = (j / p, j % p)
                out.append((0..<c).reduce(0.0) { $0 + h[$1 + c * q, a] * h[$1 + c * r, b] } / Double(c))
            }
        }
        return out
    }

    /// The implicit sampler draws the dense layer's law. Gaussian kernels: the two empirical
    /// covariances over C_out = 2·10⁴ channels each (independent draws) differ entry by entry
    /// by less than z = 5.1 standard errors of a difference, SE² = 2(Σ_ii Σ_jj + Σ_ij²)/C_out
    /// (Bonferroni over the 300 entries, as above), and a dense layer of another footprint
    /// (k = 1: a deliberately wrong covariance) fails the same comparison. Delta-orthogonal
    /// kernels (C_out ≥ C_in): both give exactly α² XᵀX over the channels (OᵀO = I), so the
    /// two agree to rounding.
    @Test(arguments: [[12], [4, 3]])
    func implicitSamplerDrawsTheDenseLaw(shape: [Int]) throws {
        let (cIn, cOut, b) = (6, 20_000, 2)
        let gaussian = try Convolution(shape: shape, size: 3, sigmaW: 1.1, kernel: .gaussian)
        let p = gaussian.positions
        let x = Matrix<Double>.gaussian(rows: cIn * p, columns: b, stream: stream(0, .inputs))
        let theory = try #require(gaussian.propagate(state(of: x, channels: cIn, positions: p))).moments
        let dense = gaussian.apply(try gaussian.weights(channelsIn: cIn, channelsOut: cOut, stream: stream(1)), to: x)
        let implicit = try #require(try gaussian.sampleImplicitly(x, channelsOut: cOut, stream: stream(2)))
        let narrow = try Convolution(shape: shape, size: 1, sigmaW: 1.1, kernel: .gaussian)
        let wrong = narrow.apply(try narrow.weights(channelsIn: cIn, channelsOut: cOut, stream: stream(3)), to: x)
        let (cd, ci, cw) = (covariance(dense, channels: cOut, positions: p), covariance(implicit, channels: cOut, positions: p),
                            covariance(wrong, channels: cOut, positions: p))
        var k = 0, worst = 0.0, worstWrong = 0.0
        for i in 0..<(b * p) {
            for j in i..<(b * p) {
                let se = (2 * (theory.value(i, i) * theory.value(j, j) + pow(theory.value(i, j), 2)) / Double(cOut)).squareRoot()
                worst = max(worst, abs(cd[k] - ci[k]) / se)
                worstWrong = max(worstWrong, abs(cw[k] - ci[k]) / se)
                k += 1
            }
        }
        #expect(worst < 5.1, "dense and implicit differ by \(worst) standard errors")
        #expect(worstWrong > 5.1, "a k = 1 layer passed as the k = 3 law (\(worstWrong))")

        let delta = try Convolution(shape: shape, size: 3, sigmaW: 1.1, kernel: .deltaOrthogonal)
        let channels = 40
        let dd = delta.apply(try delta.weights(channelsIn: cIn, channelsOut: channels, stream: stream(4)), to: x)
        let di = try #require(try delta.sampleImplicitly(x, channelsOut: channels, stream: stream(5)))
        let (gd, gi) = (covariance(dd, channels: channels, positions: p), covariance(di, channels: channels, positions: p))
        let scale = gd.map(abs).max()!
        #expect(zip(gd, gi).allSatisfy { abs($0 - $1) < 1e-12 * scale })
    }

    struct NetCase: Sendable, CustomStringConvertible {
        let activation: Activation, sigmaW: Double, sigmaB: Double, kernel: WeightLaw, shape: [Int]
        var description: String { "\(activation.name) σ_w=\(sigmaW) \(kernel.rawValue) \(shape)" }
    }

    static let netCases: [NetCase] = [(Activation.tanh, 0.9, 0.1), (.tanh, 1.6, 0.1), (.relu, 1.4, 0.2)].flatMap { a, w, b in
        [WeightLaw.gaussian, .deltaOrthogonal].flatMap { k in
            [[3, 12], [2, 5, 4]].map { NetCase(activation: a, sigmaW: w, sigmaB: b, kernel: k, shape: $0) }
        }
    }

    /// Whole conv nets (C = 256 channels, 6 layers, k = 3, two Gaussian signal inputs) against
    /// their mean-field theory: q, c and the spatial structure (correlation by offset in 1-D,
    /// power share by Fourier mode in 2-D) at every layer within 4 standard errors plus the
    /// finite-width allowance of the fully connected test (``MonteCarloVersusTheory``) at
    /// N = C. A position's C channels are the independent coordinates; the P positions of
    /// one net are correlated, so N = C·P would understate the estimator's variance. The
    /// per-position length map is the fully connected one averaged over the footprint, so its
    /// slope and curvature bound the conv net's too. A correlation between two positions of
    /// one input is a correlation between two vectors like c, so each offset has c's allowance
    /// along its own theory; a mode's share `P^{−1} Σ_δ cos(·) ρ(δ)` moves by at most the mean
    /// over offsets of theirs. Ordered and chaotic tanh, relu; Gaussian and delta-orthogonal
    /// kernels; 1-D and 2-D.
    @Test(arguments: netCases)
    func convNetsMatchTheirMeanField(_ c: NetCase) throws {
        let channels = 256, depth = 6, samples = 32
        let spec = NetworkSpec(width: channels, depth: depth, sigmaW: c.sigmaW, sigmaB: c.sigmaB, activation: c.activation,
                               weightInit: c.kernel, architecture: .convolution(kernelSize: 3),
                               spatialShape: Array(c.shape.dropFirst()))
        let inputs = try InputBatch(spec: .gaussianSignal(count: 2, q0: 1, shape: c.shape), dimension: c.shape.reduce(1, *),
                                    stream: stream(0, .inputs))
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("q", "c", "spatial"), seed: 77,
                                             point: 0)
        var stats = sampler.makeStatistics()
        for s in 0..<samples { try sampler.run(sample: s, into: &stats) }
        let theory = spec.meanField(input: inputs.moments(positions: spec.positions))
        #expect(theory.count == depth)
        let maps = MeanFieldMaps(activation: c.activation, sigmaW: c.sigmaW, sigmaB: c.sigmaB)
        let allow = Self.allowances(maps, theory, width: channels)
        for l in 0..<depth {
            let q = stats.moments[0][l], corr = stats.moments[1][l]
            let qTol = 4 * q.standardError! + allow.q[l], cTol = 4 * corr.standardError! + allow.c[l]
            #expect(abs(q.mean - theory[l].meanQ) <= qTol, "\(c) layer \(l + 1): q \(q.mean) vs \(theory[l].meanQ) (tol \(qTol))")
            #expect(abs(corr.mean - theory[l].meanC!) <= cTol,
                    "\(c) layer \(l + 1): c \(corr.mean) vs \(theory[l].meanC!) (tol \(cTol))")
        }

        let predicted = SpatialCorrelation().predict(TheoryContext(network: spec, inputs: inputs)).values
        let names = Array(stats.names.dropFirst(2))
        #expect(names.count == predicted.count && !names.isEmpty)
        let offsets = offsetAllowances(spec, inputs, theory, maps, width: channels)
        for (k, name) in names.enumerated() {
            for l in 0..<depth {
                let m = stats.moments[2 + k][l], expected = try #require(predicted[k][l])
                // 1-D: quantity k is offset k + 1; 2-D: a mode, bounded by the mean over offsets.
                let bias = spec.spatialShape.count == 1 ? offsets[l][k + 1]
                    : offsets[l].dropFirst().reduce(0, +) / Double(spec.positions)
                let tol = 4 * m.standardError! + bias
                #expect(abs(m.mean - expected) <= tol, "\(c) layer \(l + 1): \(name) \(m.mean) vs \(expected) (tol \(tol))")
            }
        }
    }

    /// A bound on the O(1/C) bias of the estimators at C channels, for conv nets, which have no
    /// finite-width theory (``KernelFluctuations`` is fully connected). It is the delta-method
    /// bias propagated through the maps: `q̂^l` averages C squared Gaussians, so
    /// `Var q̂ ≈ 2q²/C` and feeding it to the length map `f` shifts the next layer by
    /// `½ f''(q) Var q̂` (plus the slope `f'` times the bias already present):
    /// `b_l = |f'(q_{l−1})| b_{l−1} + |f''(q_{l−1})| q_{l−1}²/C`. The sample correlation of C
    /// pairs is biased by `c(1−c²)/(2C)` (Fisher 1915), carried along by the c-map slope χ_c.
    /// A factor 2 covers the neglected higher orders.
    static func allowances(_ maps: MeanFieldMaps, _ theory: [LayerTheory], width n: Int) -> (q: [Double], c: [Double]) {
        var bq = [0.0], bc = [0.0]
        for l in 1..<theory.count {
            let q = theory[l - 1].meanQ, c = theory[l - 1].meanC ?? 1, h = 1e-3 * q
            let f0 = maps.lengthMap(q), fp = maps.lengthMap(q + h), fm = maps.lengthMap(q - h)
            let slope = abs(fp - fm) / (2 * h), curvature = abs(fp - 2 * f0 + fm) / (h * h)
            bq.append(slope * bq[l - 1] + curvature * q * q / Double(n))
            let chiC = maps.chiC(q: q, c: c)
            bc.append(max(1, abs(chiC)) * bc[l - 1] + abs(c) * (1 - c * c) / (2 * Double(n))
                      + bq[l] / max(q, 1e-12))
        }
        return (bq.map { 2 * $0 }, bc.map { 2 * $0 })
    }

    /// Per layer and offset δ (as a position index), the finite-width allowance of the
    /// correlation between positions p and p + δ of one input: ``allowances(_:_:width:)``'s
    /// allowance for c along that offset's mean-field correlation (averaged over p and the
    /// inputs), at the layer's mean q.
    private func offsetAllowances(_ spec: NetworkSpec, _ inputs: InputBatch, _ theory: [LayerTheory], _ maps: MeanFieldMaps,
                                  width: Int) -> [[Double]] {
        let p = spec.positions, b = inputs.count, shape = spec.spatialShape
        let correlations = spec.architecture.composition(spec).propagate(
            input: inputs.moments(positions: p), depth: spec.depth, pairs: .sameInputOrPosition
        ) { _, m in
            (0..<p).map { d in
                (0..<b).reduce(0.0) { total, a in
                    total + (0..<p).reduce(0.0) { s, q in
                        s + (m.correlation(a * p + q, a * p + SpatialCorrelation.shift(q, by: d, shape: shape)) ?? 0)
                    } / Double(p)
                } / Double(b)
            }
        }
        let perOffset = (0..<p).map { d in
            let chain = theory.enumerated().map { l, t in
                let q = t.meanQ, r = correlations[l][d]
                return LayerTheory(layer: l + 1, covariance: [q, r * q, r * q, q], count: 2)
            }
            return Self.allowances(maps, chain, width: width).c
        }
        return (0..<theory.count).map { l in (0..<p).map { perOffset[$0][l] } }
    }

    /// The spatial theory is not vacuous: a Gaussian conv net's spatial structure fails
    /// against the theory without the footprint average (the delta-orthogonal kernel's), by
    /// more than the test above allows (4 SE plus the offset's allowance), and a
    /// delta-orthogonal net's fails against the Gaussian kernel's.
    @Test func spatialTheoryTellsTheKernelsApart() throws {
        let shape = [3, 12], channels = 256, depth = 6
        let inputs = try InputBatch(spec: .gaussianSignal(count: 2, q0: 1, shape: shape), dimension: 36,
                                    stream: stream(0, .inputs))
        func spec(_ kernel: WeightLaw) -> NetworkSpec {
            NetworkSpec(width: channels, depth: depth, sigmaW: 0.9, sigmaB: 0.1, activation: .tanh, weightInit: kernel,
                        architecture: .convolution(kernelSize: 3), spatialShape: [12])
        }
        for (sampled, wrong) in [(WeightLaw.gaussian, WeightLaw.deltaOrthogonal), (.deltaOrthogonal, .gaussian)] {
            var sampler = NetworkSampler<Double>(spec: spec(sampled), inputs: inputs, observables: observe("spatial"), seed: 77,
                                                 point: 0)
            var stats = sampler.makeStatistics()
            for s in 0..<32 { try sampler.run(sample: s, into: &stats) }
            let predicted = SpatialCorrelation().predict(TheoryContext(network: spec(wrong), inputs: inputs)).values
            let maps = MeanFieldMaps(activation: .tanh, sigmaW: 0.9, sigmaB: 0.1)
            let theory = spec(wrong).meanField(input: inputs.moments(positions: 12))
            let offsets = offsetAllowances(spec(wrong), inputs, theory, maps, width: channels)
            var worst = 0.0
            for k in predicted.indices {
                for l in 0..<depth {
                    let m = stats.moments[k][l]
                    worst = max(worst, abs(m.mean - predicted[k][l]!) / (4 * m.standardError! + offsets[l][k + 1]))
                }
            }
            #expect(worst > 1.5, "\(sampled.rawValue) samples passed as \(wrong.rawValue) theory (\(worst) of the tolerance)")
        }
    }

    /// The depth scales of the spatial modes (Xiao et al. 2018, §3), through the whole conv
    /// theory (φ's map, 𝒜, bias): one input's covariance over P = 12 positions at the
    /// stationary fixed point (q*, c* of a chaotic tanh net), its lengths or its cross terms at
    /// offset 1 displaced by ε·cos(2πkp/P), is carried one layer; the displacement's mode k is
    /// scaled by V′(q*) λ_k (lengths) or χ_c λ_k (cross terms), λ_k the footprint eigenvalue,
    /// checked against its closed form (a box filter's). Tolerance: the linearisation's
    /// second-order term is a product of two waves, on modes 0 and 2k, orthogonal to mode k;
    /// the third order is ~(ε/q*)² = 10⁻¹⁰ relative and the quadrature's 10⁻¹² relative error
    /// over ε/q* = 10⁻⁵ is 10⁻⁷, so 10⁻⁶ relative. A delta-orthogonal kernel scales every mode
    /// by the slope alone (λ_k = 1).
    @Test func spatialModesDecayWithTheFootprintEigenvalues() throws {
        let p = 12, maps = MeanFieldMaps(activation: .tanh, sigmaW: 2.0, sigmaB: 0.3)
        let fixed = maps.fixedPoints()
        let qStar = try #require(fixed.qStar), cStar = try #require(fixed.cStar)
        #expect(cStar < 0.9)
        let slopes = (lengths: maps.lengthMapDerivative(qStar), cross: maps.chiC(q: qStar, c: cStar))
        let epsilon = 1e-5 * qStar
        for kernel in [Convolution.Kernel.gaussian, .deltaOrthogonal] {
            let conv = try Convolution(shape: [p], size: 3, sigmaW: 2.0, kernel: kernel)
            let phi = Nonlinearity(.tanh, rescales: false), bias = Bias(sigmaB: 0.3)
            func layer(_ sigma: [Double]) -> [Double] {
                var state = MeanFieldState(input: ScaledMoments(covariance: sigma, count: p))
                state.positions = p
                state.pairs = .all
                for map in [phi, conv, bias] as [any LayerMap] { state = map.propagate(state)! }
                return state.moments.covariance
            }
            let stationary = (0..<(p * p)).map { $0 / p == $0 % p ? qStar : cStar * qStar }
            let base = layer(stationary)
            for k in [1, 2, 3, 6] {
                let wave = (0..<p).map { cos(2 * Double.pi * Double(k * $0) / Double(p)) }
                let lambda = conv.footprintEigenvalue(mode: [k])
                let box = kernel == .gaussian ? (1 + 2 * cos(2 * Double.pi * Double(k) / Double(p))) / 3 : 1
                #expect(abs(lambda - box) < 1e-15)
                // Displaced lengths (entries (q, q)) or cross terms at offset 1 (entries (q, q + 1) and their mirror).
                for (offset, slope) in [(0, slopes.lengths), (1, slopes.cross)] {
                    var displaced = stationary
                    for q in 0..<p {
                        let r = (q + offset) % p
                        displaced[q * p + r] += epsilon * wave[q]
                        if offset > 0 { displaced[r * p + q] += epsilon * wave[q] }
                    }
                    let next = layer(displaced)
                    let amplitude = (0..<p).reduce(0.0) { $0 + (next[$1 * p + ($1 + offset) % p] - base[$1 * p + ($1 + offset) % p]) * wave[$1] }
                        / (0..<p).reduce(0.0) { $0 + epsilon * wave[$1] * wave[$1] }
                    #expect(abs(amplitude - slope * lambda) < 1e-6 * abs(slope),
                            "\(kernel.rawValue) mode \(k), offset \(offset): \(amplitude) vs \(slope * lambda)")
                }
            }
        }
    }

    /// Residual conv nets (Gaussian kernel, a = 1) against their theory, which adds the skip's
    /// cross term through the means to the conv map: the Monte Carlo's gap to the theory in
    /// q, c and the spatial correlations shrinks like 1/C, a finite-width effect — at C = 512
    /// it is within a quarter of the gap at C = 128 plus 4 combined standard errors, at every
    /// layer (a theory off by δ would keep a gap δ at both widths and fail once δ exceeds
    /// that). The delta-orthogonal kernel's residual theory and samples are the fully connected
    /// ones per position (the known answers above).
    @Test(arguments: [Activation.tanh, .relu])
    func residualConvNetsConvergeToTheirTheory(_ activation: Activation) throws {
        let depth = 6, p = 6
        var gaps: [[(gap: Double, se: Double)]] = []
        for channels in [128, 512] {
            let spec = NetworkSpec(width: channels, depth: depth, sigmaW: 1.2, sigmaB: 0.1, activation: activation,
                                   weightInit: .gaussian, architecture: .convolution(kernelSize: 3, family: .residual(scale: 1)),
                                   spatialShape: [p])
            let inputs = try InputBatch(spec: .gaussianSignal(count: 2, q0: 1, shape: [channels, p]), dimension: channels * p,
                                        stream: stream(0, .inputs))
            var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("q", "c", "spatial"), seed: 51,
                                                 point: 0, backend: .implicit)
            var stats = sampler.makeStatistics()
            for s in 0..<32 { try sampler.run(sample: s, into: &stats) }
            let theory = TheoryContext(network: spec, inputs: inputs)
            let predicted = [MeanSquaredLength().predict(theory), MeanCorrelation().predict(theory),
                             SpatialCorrelation().predict(theory)].flatMap(\.values)
            #expect(predicted.count == stats.names.count)
            gaps.append(predicted.indices.flatMap { k in
                (0..<depth).map { l in (stats.moments[k][l].mean - predicted[k][l]!, stats.moments[k][l].standardError!) }
            })
        }
        for (wide, narrow) in zip(gaps[1], gaps[0]) {
            let tolerance = abs(narrow.gap) / 4 + 4 * (wide.se * wide.se + narrow.se * narrow.se / 16).squareRoot()
            #expect(abs(wide.gap) <= tolerance, "\(activation.name): gap \(wide.gap) at C = 512 vs \(narrow.gap) at C = 128")
        }
    }

    /// Labatie's (2019) sensitivity over positions × inputs against its theory, whose noise
    /// carries the O(1/C₀) correlation of the input noise with the input (3 channels here, an
    /// O(1) share): within 4 standard errors plus the fully connected test's finite-width
    /// allowance of 2l/C relative (RepresentationTheoryTests) plus the square root's Jensen
    /// term the theory leaves out, at most Var(ratio)/8 with the noise ratio's relative
    /// variance below 2/(C₀² B P) (each position's cos²θ of noise against input has variance
    /// ~2/C₀², averaged over B·P of them): 1/(4 C₀² B P) relative; and exactly 1 at layer 1 with a
    /// delta-orthogonal kernel, which is an isometry per position for signal and noise alike.
    /// tanh and relu, both kernels, 1-D and 2-D, on the dense and the implicit backend.
    @Test(arguments: [(Activation.tanh, WeightLaw.gaussian, [3, 10], Backend.dense), (.tanh, .deltaOrthogonal, [3, 10], .dense),
                      (.relu, .gaussian, [3, 4, 4], .implicit), (.relu, .deltaOrthogonal, [3, 4, 4], .implicit)])
    func sensitivityOverPositionsMatchesItsTheory(_ activation: Activation, _ kernel: WeightLaw, _ shape: [Int],
                                                  _ backend: Backend) throws {
        let channels = 256, depth = 8
        let spec = NetworkSpec(width: channels, depth: depth, sigmaW: 1.4, sigmaB: 0.1, activation: activation,
                               weightInit: kernel, architecture: .convolution(kernelSize: 3),
                               spatialShape: Array(shape.dropFirst()))
        let inputs = try InputBatch(spec: .gaussianSignal(count: 3, q0: 1, shape: shape), dimension: shape.reduce(1, *),
                                    stream: stream(0, .inputs))
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("sensitivity"), seed: 31,
                                             point: 0, backend: backend)
        var stats = sampler.makeStatistics()
        for s in 0..<32 { try sampler.run(sample: s, into: &stats) }
        let predicted = Sensitivity().predict(TheoryContext(network: spec, inputs: inputs)).values[0]
        for l in 1...depth {
            let m = stats.moments[0][l - 1], expected = try #require(predicted[l - 1])
            let jensen = 1 / (4 * Double(shape[0] * shape[0] * 3 * spec.positions))
            let tolerance = 4 * m.standardError! + (2 * Double(l) / Double(channels) + jensen) * expected
            #expect(abs(m.mean - expected) <= tolerance, "\(activation.name) \(kernel.rawValue) \(shape) layer \(l): \(m.mean) vs \(expected) ± \(tolerance)")
        }
        if kernel == .deltaOrthogonal { #expect(abs(stats.moments[0][0].mean - 1) < 1e-12) }
    }

    /// The same theory with the input noise taken independent of the input (the fully
    /// connected recursion per position, R = 0) misses a delta-orthogonal tanh net's measured
    /// sensitivity by more than that tolerance: the correction is not decoration.
    @Test func sensitivityNeedsTheInputNoiseCorrelation() throws {
        let channels = 256, depth = 8, shape = [3, 10]
        let spec = NetworkSpec(width: channels, depth: depth, sigmaW: 1.4, sigmaB: 0.1, activation: .tanh,
                               weightInit: .deltaOrthogonal, architecture: .convolution(kernelSize: 3), spatialShape: [10])
        let inputs = try InputBatch(spec: .gaussianSignal(count: 3, q0: 1, shape: shape), dimension: 30, stream: stream(0, .inputs))
        var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("sensitivity"), seed: 31, point: 0)
        var stats = sampler.makeStatistics()
        for s in 0..<32 { try sampler.run(sample: s, into: &stats) }
        let theory = TheoryContext(network: spec, inputs: inputs)
        let maps = theory.maps, sigma2 = 1.4 * 1.4, n = 30
        let signal0 = GramGeometry.centredTrace(inputs.moments(positions: 10).covariance, count: n)
        var v = [Double](repeating: 1, count: n), worst = 0.0
        for (l, t) in theory.positionPairLayers.enumerated() {
            let chi = (signal0 * sigma2 * v.reduce(0, +) / Double(n) / GramGeometry.centredTrace(t.covariance, count: n)).squareRoot()
            let m = stats.moments[0][l]
            worst = max(worst, abs(m.mean - chi) / (4 * m.standardError! + 2 * Double(l + 1) / Double(channels) * chi))
            v = (0..<n).map { v[$0] * maps.chi1(q: t.q[$0]) }
        }
        #expect(worst > 1.5, "the uncorrected noise passed (\(worst) of the tolerance)")
    }

    /// Labatie's effective rank over positions × inputs: exact at layer 1 with a
    /// delta-orthogonal kernel (an isometry per position keeps the centred Gram); elsewhere an
    /// estimator biased downward at finite width, `Tr C/λ_max` with λ_max of a Wishart of C
    /// degrees of freedom in d = B·P dimensions inflated by up to the Marchenko–Pastur edge
    /// `(1 + √(d/C))²` (the isotropic worst case), so at most 4 standard errors above the
    /// theory and at most 4 standard errors plus `eff_rank (1 − (1 + √(d/C))^{−2})` below it,
    /// at C = 256 and at C = 4096 (implicit);
    /// and the deepest layer's gap, where at C = 256 it is more than 4 standard errors, shrinks
    /// with C.
    @Test(arguments: [WeightLaw.gaussian, .deltaOrthogonal])
    func effectiveRankOverPositionsConvergesToItsTheory(_ kernel: WeightLaw) throws {
        let depth = 8, shape = [3, 10], d = 30
        let inputs = try InputBatch(spec: .gaussianSignal(count: 3, q0: 1, shape: shape), dimension: 30, stream: stream(0, .inputs))
        var gaps: [(gap: Double, se: Double)] = []
        for channels in [256, 4096] {
            let spec = NetworkSpec(width: channels, depth: depth, sigmaW: 1.0, sigmaB: 0.1, activation: .tanh, weightInit: kernel,
                                   architecture: .convolution(kernelSize: 3), spatialShape: [10])
            var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("eff_rank"), seed: 41, point: 0,
                                                 backend: .implicit)
            var stats = sampler.makeStatistics()
            for s in 0..<24 { try sampler.run(sample: s, into: &stats) }
            let predicted = EffectiveRank().predict(TheoryContext(network: spec, inputs: inputs)).values[0]
            let edge = 1 - 1 / pow(1 + (Double(d) / Double(channels)).squareRoot(), 2)
            for l in 1...depth {
                let m = stats.moments[0][l - 1], expected = try #require(predicted[l - 1])
                let below = 4 * m.standardError! + expected * edge
                #expect(m.mean - expected <= 4 * m.standardError! && expected - m.mean <= below,
                        "\(kernel.rawValue) C = \(channels) layer \(l): \(m.mean) vs \(expected) (− \(below), + 4 SE)")
                if l == 1 && kernel == .deltaOrthogonal { #expect(abs(m.mean - expected) < 1e-10 * expected) }
            }
            let last = stats.moments[0][depth - 1]
            gaps.append((abs(last.mean - predicted[depth - 1]!), last.standardError!))
        }
        if gaps[0].gap > 4 * gaps[0].se {
            #expect(gaps[1].gap < gaps[0].gap, "\(kernel.rawValue): the gap at layer \(depth) grew from \(gaps[0]) to \(gaps[1]) with C")
        }
    }

    /// Known answers of the theory: a delta-orthogonal conv net's state evolves position by
    /// position (𝒜 the identity), so its q and c are the position averages of the fully
    /// connected theory run on each position's inputs (with their means, for the residual
    /// family, whose skip adds the product of the means); and with k = 1 a Gaussian conv net
    /// is a dense net at every position, with the same theory.
    @Test(arguments: [(Architecture.ConvolutionFamily.plain, Architecture.feedforward),
                      (.residual(scale: 0.8), .residual(scale: 0.8))])
    func convTheoryIsTheFullyConnectedOnePerPosition(_ family: Architecture.ConvolutionFamily, _ dense: Architecture) throws {
        let shape = [4, 6], p = 6
        let inputs = try InputBatch(spec: .gaussianSignal(count: 2, q0: 1.3, shape: shape), dimension: 24,
                                    stream: stream(0, .inputs))
        let perPosition = inputs.moments(positions: p)
        for (kernel, k) in [(WeightLaw.deltaOrthogonal, 3), (.gaussian, 1)] {
            let spec = NetworkSpec(width: 32, depth: 5, sigmaW: 1.4, sigmaB: 0.2, activation: .tanh, weightInit: kernel,
                                   architecture: .convolution(kernelSize: k, family: family), spatialShape: [p])
            let conv = spec.meanField(input: perPosition)
            let fullyConnected = NetworkSpec(width: 32, depth: 5, sigmaW: 1.4, sigmaB: 0.2, activation: .tanh, architecture: dense)
            let positions = (0..<p).map { q in
                fullyConnected.meanField(inputGram: [perPosition.value(q, q), perPosition.value(q, p + q),
                                                     perPosition.value(p + q, q), perPosition.value(p + q, p + q)],
                                         inputMeans: [perPosition.mean(q), perPosition.mean(p + q)], count: 2)
            }
            for l in 0..<5 {
                for (a, b) in [(0, 0), (0, 1), (1, 1)] {
                    let average = positions.reduce(0.0) { $0 + $1[l].covariance[a * 2 + b] } / Double(p)
                    #expect(abs(conv[l].covariance[a * 2 + b] - average) < 1e-13 * max(1, abs(average)),
                            "\(dense.name) \(kernel.rawValue) k = \(k), layer \(l + 1), entry (\(a), \(b))")
                }
            }
        }
    }

    /// Samples: a delta-orthogonal conv net is the fully connected orthogonal net applied at
    /// every position, in each of Labatie's families. Both draw the same Haar matrix and biases
    /// from the same streams, so the conv net's Gram (the position average) equals, layer by
    /// layer, the average over positions of the orthogonal net's Gram on the B·P position
    /// vectors (to rounding: the GEMMs group the same dot products differently). Batch norm
    /// normalises a conv channel over the batch and the positions, which is the fully
    /// connected net's normalisation of that unit over its B·P inputs.
    @Test(arguments: [(Architecture.ConvolutionFamily.plain, Architecture.feedforward),
                      (.residual(scale: 0.8), .residual(scale: 0.8)), (.batchNorm, .batchNorm),
                      (.batchNormResidual(scale: 1), .batchNormResidual(scale: 1))])
    func deltaOrthogonalConvIsTheOrthogonalNetAtEveryPosition(_ family: Architecture.ConvolutionFamily,
                                                              _ dense: Architecture) throws {
        let (p, b, depth) = (6, 2, 3), width = 16, c0 = dense.isResidual ? width : 8
        let sigmaB = dense.usesBatchNorm ? 0 : 0.2
        let signals = try InputBatch(spec: .gaussianSignal(count: b, q0: 1, shape: [c0, p]), dimension: c0 * p,
                                     stream: stream(0, .inputs))
        // Input a at position q as vector a·P + q.
        let rows = (0..<(b * p)).map { i in (0..<c0).map { signals.matrix[$0 + c0 * (i % p), i / p] } }
        let vectors = try InputBatch(spec: .file(path: "", rows: rows, q0: nil), dimension: c0, stream: stream(0, .inputs))
        let conv = NetworkSpec(width: width, depth: depth, sigmaW: 1.3, sigmaB: sigmaB, activation: .tanh,
                               weightInit: .deltaOrthogonal, architecture: .convolution(kernelSize: 3, family: family),
                               spatialShape: [p])
        let fullyConnected = NetworkSpec(width: width, depth: depth, sigmaW: 1.3, sigmaB: sigmaB, activation: .tanh,
                                         weightInit: .orthogonal, architecture: dense)
        func gram(_ spec: NetworkSpec, _ inputs: InputBatch) throws -> EnsembleStatistics {
            var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs, observables: observe("gram"), seed: 9, point: 0)
            var stats = sampler.makeStatistics()
            try sampler.run(sample: 0, into: &stats)
            return stats
        }
        let (cs, ds) = (try gram(conv, signals), try gram(fullyConnected, vectors))
        func entry(_ s: EnsembleStatistics, _ a: Int, _ c: Int, layer l: Int) throws -> Double {
            try #require(s.moments[try #require(s.names.firstIndex(of: "gram_\(a)_\(c)"))][l].mean)
        }
        for l in 0..<depth {
            for (a, c) in [(0, 0), (0, 1), (1, 1)] {
                let expected = try (0..<p).reduce(0.0) { $0 + (try entry(ds, a * p + $1, c * p + $1, layer: l)) } / Double(p)
                let value = try entry(cs, a, c, layer: l)
                #expect(abs(value - expected) < 1e-12 * max(1, abs(expected)),
                        "\(dense.name) layer \(l + 1), (\(a), \(c)): \(value) vs \(expected)")
            }
        }
    }

    /// Whole conv nets on the two backends are equal in law: q, c, every Gram entry, the
    /// spatial structure, the effective rank and the sensitivity (whose noise rides on
    /// tangent columns through the implicit layer's joint law) at layers 1, L/2 and L within 4
    /// combined standard errors `4 √(se_dense² + se_implicit²)`
    /// (different random numbers, the same law), for both kernels in 1-D and 2-D; an implicit
    /// net of another footprint (k = 1, a deliberately wrong covariance) fails against the
    /// dense k = 3 net.
    @Test(arguments: [(WeightLaw.gaussian, [3, 12]), (.gaussian, [2, 5, 4]), (.deltaOrthogonal, [3, 12]),
                      (.deltaOrthogonal, [2, 5, 4])])
    func denseAndImplicitConvNetsAreEqualInLaw(_ kernel: WeightLaw, _ shape: [Int]) throws {
        let depth = 6
        func spec(_ k: Int) -> NetworkSpec {
            NetworkSpec(width: 64, depth: depth, sigmaW: 1.4, sigmaB: 0.2, activation: .tanh, weightInit: kernel,
                        architecture: .convolution(kernelSize: k), spatialShape: Array(shape.dropFirst()))
        }
        let inputs = try InputBatch(spec: .gaussianSignal(count: 3, q0: 1, shape: shape), dimension: shape.reduce(1, *),
                                    stream: stream(0, .inputs))
        func run(_ spec: NetworkSpec, _ backend: Backend) throws -> EnsembleStatistics {
            var sampler = NetworkSampler<Double>(spec: spec, inputs: inputs,
                                                 observables: observe("q", "c", "gram", "spatial", "eff_rank", "sensitivity"),
                                                 seed: backend == .dense ? 21 : 22, point: 0, backend: backend)
            var stats = sampler.makeStatistics()
            for s in 0..<48 { try sampler.run(sample: s, into: &stats) }
            return stats
        }
        func worstZ(_ a: EnsembleStatistics, _ b: EnsembleStatistics) -> (Double, String) {
            worstTwoSampleZ(a, b, names: a.names, layers: [1, depth / 2, depth])
        }
        let dense = try run(spec(3), .dense)
        let (z, at) = worstZ(dense, try run(spec(3), .implicit))
        #expect(z < 4, "\(kernel.rawValue) \(shape): \(at) (z = \(z))")
        if kernel == .gaussian {
            let (zWrong, _) = worstZ(dense, try run(spec(1), .implicit))
            #expect(zWrong > 4, "an implicit k = 1 net passed as the k = 3 law (z = \(zWrong))")
        }
    }
}
