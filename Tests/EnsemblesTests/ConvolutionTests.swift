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
}
