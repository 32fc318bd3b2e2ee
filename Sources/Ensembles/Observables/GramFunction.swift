#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LinearAlgebra

/// An observable that is a function of the batch's Gram matrix `G_ab = h_a·h_b/N` at each
/// layer: one formula turns the sampled G into measurements and the mean-field covariance
/// `q^l_ab` into their infinite-width predictions (the geometry of the batch does not care
/// which of the two it is given).
public protocol GramFunction: Observable {
    /// The quantities of `gram` (B×B row-major) whose true scale is `scale` times its
    /// stored one (`e^{2·forwardLogScale}` for a rescaled sampled batch, 1 for theory).
    func values(_ gram: [Double], count: Int, scale: Double) throws(LAPACKError) -> [Double]
    /// Whether layer `layer` of a `depth`-layer network is measured (default: every layer).
    func measures(layer: Int, depth: Int) -> Bool
    /// Whether, in a convolutional net, it is a function of the Gram of all B·P (input,
    /// position) vectors, `h_{a,p}·h_{b,r}/C` (Labatie 2019's moments over inputs and
    /// positions), rather than of the position-averaged B×B Gram (default: false).
    var overPositions: Bool { get }
    /// The predicted standard deviation across networks of each quantity at each layer
    /// (``Prediction/standardDeviations``; default: none).
    func standardDeviations(_ theory: TheoryContext) -> [[Double?]]
}

extension GramFunction {
    public func measures(layer: Int, depth: Int) -> Bool { true }
    public var overPositions: Bool { false }
    public func standardDeviations(_ theory: TheoryContext) -> [[Double?]] { [] }
    /// True even ``overPositions``: those read h itself only in convolutional nets, which
    /// never run as one streamed pass (``StreamedGaussianLayer`` is a dense affine layer's).
    public var readsOnlyGram: Bool { true }

    public mutating func preActivation<T: BLASScalar & GaussianFillable>(_ network: inout SampledNetwork<T>,
                                                                          into statistics: inout EnsembleStatistics,
                                                                          slot: Slot) throws(LAPACKError) {
        guard !slot.quantities.isEmpty, measures(layer: network.layer, depth: network.spec.depth) else { return }
        let scale = exp(2 * network.forwardLogScale), p = network.spec.positions
        guard overPositions && p > 1 else {
            statistics.add(layer: network.layer, try values(network.gram, count: network.batch, scale: scale), at: slot)
            return
        }
        // The batch's C·P × B block read as C × (B·P): column a·P + p is input a at position p.
        let c = network.width, n = network.batch * p
        let h = Matrix(rows: c, columns: n, elements: network.output.elements[0..<(c * n)].map { Double($0) })
        statistics.add(layer: network.layer, try values(h.gram(alpha: 1 / Double(c)).elements, count: n, scale: scale), at: slot)
    }

    public func predict(_ theory: TheoryContext) -> Prediction { gramPrediction(theory) }

    /// The formula on the mean-field covariance at every layer, with the standard deviations.
    func gramPrediction(_ theory: TheoryContext) -> Prediction {
        let shape = theory.shape
        let overPositions = overPositions && theory.network.positions > 1
        let count = quantities(shape).count, b = overPositions ? theory.batch * theory.network.positions : theory.batch
        let perLayer = (overPositions ? theory.positionPairLayers : theory.layers).map { t -> [Double]? in
            guard count > 0 && measures(layer: t.layer, depth: theory.network.depth) else { return nil }
            guard t.overflows || t.underflows else { return try? values(t.covariance, count: b, scale: 1) }
            // Lengths beyond Double's range: the formula on the covariance at a common power-of-two
            // scale, so that scale-free quantities (c, eff_rank, …) stay exact and the others
            // round to ±∞ or 0 as Double would.
            let (gram, scale) = t.commonScaled
            return try? values(gram, count: b, scale: scale)
        }
        var prediction = Prediction(quantities: count, theory: theory) { k, l -> Double? in
            guard let row = perLayer[l - 1], !row[k].isNaN else { return nil }
            return row[k]
        }
        prediction.standardDeviations = standardDeviations(theory)
        return prediction
    }

    /// ``gramPrediction(_:)`` with theory_sd and theory_1n of every quantity f by the delta
    /// method over the whole kernel (``TheoryContext/deltaMethodMoments(layer:frame:_:)`` on
    /// ``values(_:count:scale:)``) at the layers where `smooth` holds, with derivatives taken
    /// in `frame(l)` (``DifferenceFrame``; nil: about K); for fully connected nets of at most
    /// ``TheoryContext/fluctuationBatchLimit`` inputs. `smooth` is each observable's margin:
    /// the quantity smooth on the scale of the kernel's fluctuations. The standard deviation is
    /// also silent where the quadratic term's variance, `½ tr((∇²f P)²)/N²`, reaches a twentieth
    /// of the leading `∇fᵀP∇f/N`: the leading order would then be more than 2.4 % low (a first
    /// layer's Wishart noise on inputs in the plane, nearly orthogonal to orth_gap's gradient,
    /// left it 2.5 times too small at N = 128).
    func deltaMethodPrediction(_ theory: TheoryContext, frame: (_ layer: Int) -> DifferenceFrame? = { _ in nil },
                               smooth: (_ layer: Int) -> Bool) -> Prediction {
        var prediction = gramPrediction(theory)
        let b = theory.batch, n = Double(theory.network.width), count = quantities(theory.shape).count
        guard b >= 2, b <= TheoryContext.fluctuationBatchLimit, theory.network.positions == 1,
              theory.kernelFluctuations != nil else { return prediction }
        let valid = (1...theory.network.depth).map { l in l <= theory.layers.count && smooth(l) }
        let moments = (0..<count).map { k in
            (1...theory.network.depth).map { l in
                valid[l - 1] ? theory.deltaMethodMoments(layer: l, frame: frame(l)) { g in try? values(g, count: b, scale: 1)[k] } : nil
            }
        }
        prediction.standardDeviations = standardDeviations(theory, quantities: count) { k, l in
            guard let m = moments[k][l - 1], m.quadratic / n <= m.variance / 20 else { return nil }
            return (m.variance, nil)
        }
        prediction.corrected = moments.map { $0.map { $0?.mean } }
        return prediction
    }

    /// Each quantity's standard deviation across networks at each layer from `variance`,
    /// `N · Var` at layer l to leading order (nil: silent) and, where there is one, its next
    /// order V₂: `√(V₁/N + V₂/N²)` (``KernelFluctuations/scaledSecondOrderCovariances``), or
    /// `√(V₁/N)` without V₂ or where the sum is not positive; [] without a fluctuation theory.
    func standardDeviations(_ theory: TheoryContext, quantities: Int,
                            _ variance: (_ quantity: Int, _ layer: Int) -> (first: Double, second: Double?)?) -> [[Double?]] {
        guard theory.kernelFluctuations != nil else { return [] }
        let n = Double(theory.network.width), depth = theory.network.depth
        return (0..<quantities).map { k in
            (1...depth).map { l in
                guard l <= theory.layers.count, let v = variance(k, l), v.first >= 0 else { return nil }
                if let second = v.second, v.first / n + second / (n * n) > 0 {
                    return (v.first / n + second / (n * n)).squareRoot()
                }
                return (v.first / n).squareRoot()
            }
        }
    }
}
