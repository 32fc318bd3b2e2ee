#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra
import Randomness

/// A whole feedforward layer of the implicit backend with Gaussian weights,
/// `h^l = W x^{l−1} + b`, `x^l = φ(h^l)`, in one streamed pass that never stores h or x.
/// The network is carried from layer to layer as the R of x's thin QR, which is all the
/// next layer's law needs (`W X = (σ_w/√N) Z R`, ``Affine``). A block of rows at a time,
/// in cache: Z drawn into a ``TriangularFactorStream``'s block, `H = Z (σ_w/√N · R) + b` in
/// place, H's Gram summed, φ in place, and the block folded into the next R.
///
/// The draws, the arithmetic and the order of every sum are those of ``Affine``, ``Bias``,
/// ``SampledNetwork/measureGram()`` and ``Nonlinearity`` run one after the other (blocks
/// of ``Matrix/streamedBlockRows(columns:)`` rows, a multiple of the Gram's 256), so both
/// give the same numbers; only a rescaled positively homogeneous φ differs, by the
/// rounding of `φ(h/2^e)` against `φ(h)/2^e` (none, away from subnormals). What the fusion
/// saves is the six trips through memory between the maps, each over all of h
/// (64 MB at N = 10⁶, B = 8) and each as long as the arithmetic of the whole layer.
///
/// It serves a composition of exactly ``Affine``, ``Bias``, then ``Nonlinearity`` and
/// ``Skip/none``, in float64, with no tangent columns, at most 16 inputs, and observables
/// that read only the Gram of h (``Observable/readsOnlyGram``).
struct StreamedGaussianLayer: Sendable {
    let affine: Affine
    let bias: Bias
    let nonlinearity: Nonlinearity

    /// The fused layer for this sampler, or nil where one of the conditions above fails.
    init?(composition: Composition, backend: Backend, scalar: Any.Type, columns: Int, batch: Int,
          observers: [any Observable]) {
        guard backend == .implicit, scalar == Double.self, columns == batch, batch <= 16,
              observers.allSatisfy(\.readsOnlyGram),
              composition.pre.count == 2, composition.post.count == 2,
              let affine = composition.pre[0] as? Affine, affine.spec.weightInit == .gaussian,
              let bias = composition.pre[1] as? Bias,
              let nonlinearity = composition.post[0] as? Nonlinearity,
              let skip = composition.post[1] as? Skip, skip.scale == nil
        else { return nil }
        self.affine = affine
        self.bias = bias
        self.nonlinearity = nonlinearity
    }

    /// Layer `network.layer`: `network.gram` of h^l and, before the last layer, the factor
    /// of x^l (``SampledNetwork/factor``, nil once the network has diverged; its power-of-two
    /// rescaling waits in ``SampledNetwork/pendingLogScale`` for ``advance(_:)``).
    func sample<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) {
        precondition(T.self == Double.self, "the streamed layer is float64")
        let n = network.width, c = network.batch, last = network.isLastLayer
        let input: Matrix<Double>?
        if network.layer == 1 {
            let rows = network.fanIn, ld = network.source.rows
            input = network.source.elements.withUnsafeBufferPointer { ps in
                Matrix<Double>.streamedTriangularFactor(of: ps.baseAddress!, rows: rows, columns: c, leadingDimension: ld)
            }
        } else {
            input = network.factor
        }
        network.factor = nil
        guard let r = input else {
            network.gram = [Double](repeating: .nan, count: c * c)
            return
        }
        let scale = affine.sigmaW / Double(network.fanIn).squareRoot()
        let scaledR = r.elements.map { scale * $0 }
        let weights = network.stream(.weights), biases = network.stream(.biases)
        let biasScale = bias.sigmaB * exp(-network.forwardLogScale)
        let phi = nonlinearity.activation, rescales = nonlinearity.rescales
        var next = TriangularFactorStream(columns: c)
        let ld = next.leadingDimension
        var largest = 0.0, finite = true, first = 0
        while first < n {
            let rows = Swift.min(next.blockRows, n - first), h = next.block
            for j in 0..<c {
                weights.fillStandardNormal(UnsafeMutableBufferPointer(start: h + j * ld, count: rows), from: j * n + first)
            }
            if bias.sigmaB > 0 {
                network.bias.withUnsafeMutableBufferPointer { pb in
                    let b = UnsafeMutableRawPointer(pb.baseAddress!).assumingMemoryBound(to: Double.self)
                    biases.fillStandardNormal(UnsafeMutableBufferPointer(start: b, count: rows), from: first, scale: biasScale)
                    Affine.triangularProduct(h, leadingDimension: ld, rows: rows, columns: c, scaledR: scaledR,
                                             into: h, ld: ld, bias: b)
                }
            } else {
                Affine.triangularProduct(h, leadingDimension: ld, rows: rows, columns: c, scaledR: scaledR, into: h, ld: ld)
            }
            network.addToGram(h, rows: rows, leadingDimension: ld, first: first == 0)
            if !last {
                if rescales { for a in 0..<c { for i in 0..<rows { largest = max(largest, abs(h[a * ld + i])) } } }
                for a in 0..<c {
                    phi.apply(UnsafeBufferPointer(start: h + a * ld, count: rows),
                              into: UnsafeMutableBufferPointer(start: h + a * ld, count: rows))
                }
                finite = finite && next.fold(rows: rows)
            }
            first += rows
        }
        network.finishGram()
        guard !last, finite, var factor = next.factor else { return }
        if rescales, let e = Nonlinearity.rescaleExponent(largest: largest, Double.self) {
            let down = exp2(-e)
            for k in factor.elements.indices { factor.elements[k] *= down }
            network.pendingLogScale = e * log(2)
        }
        network.factor = factor
    }

    /// After the observables have seen h^l: x^l's rescaling, if any, takes effect.
    func advance<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>) {
        network.forwardLogScale += network.pendingLogScale
        network.pendingLogScale = 0
    }
}
