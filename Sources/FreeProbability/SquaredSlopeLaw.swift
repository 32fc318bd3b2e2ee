#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeanField

/// The law of `d² = φ′(√q z)²`, z ~ N(0, 1): the spectral law of one layer's `D_l²` at
/// infinite width (Pennington, Schoenholz & Ganguli 2017).
///
/// Representation:
/// - **atoms**, exact: where φ′ is constant on an interval of x (relu, leaky_relu, hard_tanh,
///   the linear pieces of selu and elu, linear everywhere) the law has a point mass φ′² with
///   the Gaussian mass of that interval (`½ erfc`), e.g. relu: {0: ½, 1: ½};
/// - **the continuous rest** as a discrete law on quadrature nodes: composite `points`-point
///   Gauss–Legendre in z on |z| ≤ 10 (Gaussian mass outside 1.5·10⁻²³), split at the images
///   of the flat regions' ends, at a z-grid of step ½ (the Gaussian's scale) and at an
///   x-grid of step ½ on |x| ≤ 20 (φ′'s own scale, which is narrow in z when q is large);
///   node k carries `t_k = φ′(√q z_k)²` and the Gaussian weight of its node, rescaled so that
///   the continuous mass is exact. Nodes with equal t (±z for an even φ′²) are merged.
///
/// - **the same continuous part as a histogram** (`cells`): each node's share of its panel
///   (its Gauss–Legendre weight, an interval of z that contains it) mapped to the t-range it
///   covers, with that interval's exact Gaussian mass.
///
/// Sums over the nodes replace the Gaussian integrals of the S-transform, with exact moments;
/// they stand for the continuous law as long as the pole of 1/(1 − ut) stays a few node
/// spacings off the real axis, which the other factors of the product usually ensure. Where
/// they do not (a product dominated by one orthogonal layer, low-density stretches) the solver
/// switches to the histogram, whose transform is exact up to the axis. `refinement` divides
/// both steps. The one case with no other factor at all — a single D² times scalars
/// (orthogonal weights, depth 1) — uses `density(at:)`, the exact push-forward of the Gaussian.
struct SquaredSlopeLaw: Sendable {
    let activation: Activation
    let q: Double
    /// √q, floored at the least normal double (q = 0 is the limit q → 0⁺).
    let scale: Double
    /// Point masses from the flat regions of φ′ (including t = 0), merged by location.
    let atoms: [SpectralAtom]
    /// Values and weights of the continuous part's nodes, sorted by value, Σ weights = its mass.
    let values: [Double]
    let weights: [Double]
    /// For each continuous z-interval, its sorted grid (panel ends and nodes): where the
    /// push-forward density looks for the roots of t(z) = τ.
    let grids: [[Double]]
    /// The continuous part as a histogram: node i's cell in z (its Gauss–Legendre weight's share
    /// of the panel, which contains the node) mapped to the t-range it covers, with the cell's
    /// exact Gaussian mass; equal cells (±z for an even φ′²) merged. Sorted by lower end.
    let cells: [(lower: Double, upper: Double, weight: Double)]
    /// E d² and E d⁴.
    let mean: Double
    let secondMoment: Double

    /// Half-width in z of the range represented.
    static let halfWidth = 10.0

    init(activation: Activation, q: Double, refinement: Int = 1, points: Int = 8) {
        precondition(q >= 0 && q.isFinite, "q must be finite and non-negative")
        precondition(refinement >= 1, "refinement must be at least 1")
        self.activation = activation
        self.q = q
        let s = Swift.max(q.squareRoot(), Double.leastNormalMagnitude)
        self.scale = s
        let flat = activation.flatDerivativeRegions

        // Atoms: Gaussian masses of the flat regions, merged by value.
        var atomList: [SpectralAtom] = []
        for region in flat {
            let mass = gaussianMass(region.lower / s, region.upper / s)
            guard mass > 0 else { continue }
            let t = region.slope * region.slope
            if let i = atomList.firstIndex(where: { $0.location == t }) {
                atomList[i].weight += mass
            } else {
                atomList.append(SpectralAtom(location: t, weight: mass))
            }
        }
        let atomMass = atomList.reduce(0) { $0 + $1.weight }
        let continuousMass = Swift.max(0, 1 - atomMass)

        // Continuous intervals in z: the complement of the flat regions, within |z| ≤ Z.
        let z = Self.halfWidth
        var intervals: [(Double, Double)] = []
        var start = -Double.infinity
        for region in flat.sorted(by: { $0.lower < $1.lower }) {
            if region.lower > start { intervals.append((start, region.lower)) }
            start = Swift.max(start, region.upper)
        }
        if start < .infinity { intervals.append((start, .infinity)) }
        let zIntervals = intervals.compactMap { (a, b) -> (Double, Double)? in
            let lo = Swift.max(-z, a / s), hi = Swift.min(z, b / s)
            return hi > lo ? (lo, hi) : nil
        }

        let rule = GaussLegendre(points: points)
        let zStep = 0.5 / Double(refinement), xStep = 0.5 / Double(refinement), xRange = 20.0
        var nodeValues: [Double] = [], nodeWeights: [Double] = [], grids: [[Double]] = []
        var cellList: [(lower: Double, upper: Double, weight: Double)] = []
        if continuousMass > 0 {
            for (a, b) in zIntervals {
                var ends = [a, b]
                var k = (a / zStep).rounded(.up)
                while k * zStep < b { ends.append(k * zStep); k += 1 }
                let xa = Swift.max(a * s, -xRange), xb = Swift.min(b * s, xRange)
                if xb > xa {
                    var j = (xa / xStep).rounded(.up)
                    while j * xStep < xb { ends.append(j * xStep / s); j += 1 }
                }
                ends.sort()
                var panels: [Double] = [ends[0]]
                for e in ends.dropFirst() where e - panels[panels.count - 1] > 1e-12 * (b - a) { panels.append(e) }
                if panels.count < 2 { continue }
                if panels[panels.count - 1] != b { panels[panels.count - 1] = b }
                var grid: [Double] = []
                for p in 1..<panels.count {
                    let lo = panels[p - 1], hi = panels[p]
                    let centre = 0.5 * (lo + hi), half = 0.5 * (hi - lo)
                    grid.append(lo)
                    var cellStart = lo
                    var tStart = { let d = activation.derivative(s * lo); return d * d }()
                    for i in 0..<rule.nodes.count {
                        let zi = centre + half * rule.nodes[i]
                        let d = activation.derivative(s * zi)
                        nodeValues.append(d * d)
                        nodeWeights.append(rule.weights[i] * half * standardNormalPDF(zi))
                        grid.append(zi)
                        let cellEnd = i == rule.nodes.count - 1 ? hi : Swift.min(hi, cellStart + rule.weights[i] * half)
                        let dEnd = activation.derivative(s * cellEnd)
                        let tEnd = dEnd * dEnd
                        cellList.append((Swift.min(tStart, d * d, tEnd), Swift.max(tStart, d * d, tEnd),
                                         gaussianMass(cellStart, cellEnd)))
                        cellStart = cellEnd; tStart = tEnd
                    }
                }
                grid.append(panels[panels.count - 1])
                grids.append(Self.withCriticalPoints(grid, activation: activation, scale: s))
            }
        }
        // Merge equal values, rescale to the exact continuous mass.
        var order = Array(nodeValues.indices)
        order.sort { nodeValues[$0] < nodeValues[$1] }
        var values: [Double] = [], weights: [Double] = []
        for i in order where nodeWeights[i] > 0 {
            if let last = values.last, last == nodeValues[i] {
                weights[weights.count - 1] += nodeWeights[i]
            } else {
                values.append(nodeValues[i]); weights.append(nodeWeights[i])
            }
        }
        let total = weights.reduce(0, +)
        if total > 0 { weights = weights.map { $0 * continuousMass / total } }
        cellList.sort { ($0.lower, $0.upper) < ($1.lower, $1.upper) }
        var cells: [(lower: Double, upper: Double, weight: Double)] = []
        for cell in cellList where cell.weight > 0 {
            if let last = cells.last, Swift.abs(last.lower - cell.lower) <= 1e-12 * cell.upper,
               Swift.abs(last.upper - cell.upper) <= 1e-12 * cell.upper {
                cells[cells.count - 1].weight += cell.weight
            } else {
                cells.append(cell)
            }
        }
        let cellTotal = cells.reduce(0) { $0 + $1.weight }
        if cellTotal > 0 { cells = cells.map { ($0.lower, $0.upper, $0.weight * continuousMass / cellTotal) } }
        // A continuous part of a single value (q → 0 for a smooth φ) is an atom.
        if values.count == 1 {
            if let i = atomList.firstIndex(where: { $0.location == values[0] }) {
                atomList[i].weight += weights[0]
            } else {
                atomList.append(SpectralAtom(location: values[0], weight: weights[0]))
            }
            values = []; weights = []; grids = []; cells = []
        } else if values.isEmpty, continuousMass > 0, atomMass > 0 {
            // Mass beyond |z| = 10 only: renormalise the atoms.
            atomList = atomList.map { SpectralAtom(location: $0.location, weight: $0.weight / atomMass) }
        }
        atomList.sort { $0.location < $1.location }
        self.atoms = atomList
        self.values = values
        self.weights = weights
        self.grids = grids
        self.cells = cells
        var m1 = 0.0, m2 = 0.0
        for a in atomList { m1 += a.weight * a.location; m2 += a.weight * a.location * a.location }
        for (t, w) in zip(values, weights) { m1 += w * t; m2 += w * t * t }
        self.mean = m1
        self.secondMoment = m2
    }

    /// Whether the law is a single point mass (a scalar factor: D² = φ′² 1).
    var isPointMass: Bool { values.isEmpty && atoms.count == 1 }

    /// Mass at t = 0.
    var zeroMass: Double { atoms.first(where: { $0.location == 0 })?.weight ?? 0 }

    /// t(z) = φ′(√q z)².
    func value(at z: Double) -> Double {
        let d = activation.derivative(scale * z)
        return d * d
    }

    /// The density of the continuous part at t = τ: `Σ ϕ(z_i)/|t′(z_i)|` over the roots z_i of
    /// t(z) = τ in the continuous intervals, `t′(z) = 2√q φ′(√q z) φ″(√q z)`. Roots are
    /// bracketed on the grid and refined by safeguarded Newton steps.
    func density(at tau: Double) -> Double {
        var total = 0.0
        for grid in grids {
            var zPrevious = grid[0], fPrevious = value(at: zPrevious) - tau
            for z in grid.dropFirst() {
                let f = value(at: z) - tau
                if f == 0 {
                    total += rootTerm(z)
                } else if fPrevious != 0, (f > 0) != (fPrevious > 0) {
                    total += rootTerm(refineRoot(zPrevious, fPrevious, z, f, tau))
                }
                zPrevious = z; fPrevious = f
            }
        }
        return total
    }

    private func rootTerm(_ z: Double) -> Double {
        standardNormalPDF(z) / Swift.abs(slope(at: z))
    }

    /// t′(z) = 2√q φ′(√q z) φ″(√q z).
    private func slope(at z: Double) -> Double { Self.slope(at: z, activation: activation, scale: scale) }

    private static func slope(at z: Double, activation: Activation, scale: Double) -> Double {
        let x = scale * z
        return 2 * scale * activation.derivative(x) * activation.secondDerivative(x)
    }

    /// The grid with the critical points of t(z) added: where t′ changes sign between two
    /// grid points, its zero (by bisection). With them every grid cell is monotone in t, so a
    /// pair of roots near an interior extremum (gelu's φ′ = 0, its maximum of φ′) is bracketed.
    private static func withCriticalPoints(_ grid: [Double], activation: Activation, scale: Double) -> [Double] {
        var result = [grid[0]]
        var zPrevious = grid[0], dPrevious = slope(at: zPrevious, activation: activation, scale: scale)
        for z in grid.dropFirst() {
            let d = slope(at: z, activation: activation, scale: scale)
            if (d > 0 && dPrevious < 0) || (d < 0 && dPrevious > 0) {
                var (a, b, da) = (zPrevious, z, dPrevious)
                while b - a > 2 * Double.ulpOfOne * Swift.max(Swift.abs(a), Swift.abs(b)) {
                    let c = 0.5 * (a + b)
                    guard c > a, c < b else { break }
                    let dc = slope(at: c, activation: activation, scale: scale)
                    if dc == 0 { a = c; b = c; break }
                    if (dc > 0) == (da > 0) { a = c; da = dc } else { b = c }
                }
                result.append(0.5 * (a + b))
            }
            result.append(z)
            zPrevious = z; dPrevious = d
        }
        return result
    }

    /// The root of t(z) = τ in the bracket [a, b] (f = t − τ of opposite signs at its ends):
    /// Newton's method on t′, safeguarded by bisection whenever a step would leave the bracket
    /// or shrink it by less than half (Press et al., `rtsafe`), until the bracket is a few
    /// ulps wide or a step is below an ulp of z.
    private func refineRoot(_ a0: Double, _ fa0: Double, _ b0: Double, _ fb0: Double, _ tau: Double) -> Double {
        // Orient the bracket so that f(low) < 0 < f(high).
        var (low, high) = fa0 < 0 ? (a0, b0) : (b0, a0)
        var z = 0.5 * (a0 + b0)
        var previousStep = Swift.abs(b0 - a0)
        for _ in 0..<200 {
            let f = value(at: z) - tau
            if f == 0 { return z }
            if f < 0 { low = z } else { high = z }
            let width = Swift.abs(high - low)
            if width <= 4 * Double.ulpOfOne * Swift.max(Swift.abs(low), Swift.abs(high)) { return 0.5 * (low + high) }
            let d = slope(at: z)
            let newton = d != 0 ? z - f / d : .nan
            let inside = newton > Swift.min(low, high) && newton < Swift.max(low, high)
            if inside && Swift.abs(newton - z) < 0.5 * previousStep {
                previousStep = Swift.abs(newton - z)
                if previousStep <= Double.ulpOfOne * Swift.abs(z) { return newton }
                z = newton
            } else {
                previousStep = 0.5 * width
                z = 0.5 * (low + high)
            }
        }
        return z
    }

    /// The largest value of t: over the grid, refined by golden-section search around the
    /// best grid point (for an interior maximum of φ′², e.g. gelu's), and over the atoms.
    var maximum: Double {
        var best = atoms.filter { $0.weight > 0 }.map(\.location).max() ?? 0
        for grid in grids {
            var index = 0, top = -Double.infinity
            for (i, z) in grid.enumerated() {
                let t = value(at: z)
                if t > top { top = t; index = i }
            }
            var a = grid[Swift.max(0, index - 1)], b = grid[Swift.min(grid.count - 1, index + 1)]
            let g = (5.0.squareRoot() - 1) / 2
            for _ in 0..<80 where b - a > 1e-15 * Swift.max(1, Swift.abs(a)) {
                let c = b - g * (b - a), d = a + g * (b - a)
                if value(at: c) > value(at: d) { b = d } else { a = c }
            }
            best = Swift.max(best, top, value(at: 0.5 * (a + b)))
        }
        return best
    }

    /// The smallest value of t with mass (grid points of the continuous part, atoms).
    var minimum: Double {
        var least = atoms.filter { $0.weight > 0 }.map(\.location).min() ?? .infinity
        for grid in grids { for z in grid { least = Swift.min(least, value(at: z)) } }
        return least
    }
}

extension Activation {
    /// Intervals of x on which φ′ is constant, with that constant: the atoms of φ′(h)².
    /// Activations not listed here are treated as smooth (their flat pieces, if any, still
    /// come out right as merged quadrature nodes).
    var flatDerivativeRegions: [(lower: Double, upper: Double, slope: Double)] {
        switch self {
        case .linear: [(-.infinity, .infinity, 1)]
        case .relu: [(-.infinity, 0, 0), (0, .infinity, 1)]
        case .leakyReLU(let s): [(-.infinity, 0, s), (0, .infinity, 1)]
        case .hardTanh: [(-.infinity, -1, 0), (-1, 1, 1), (1, .infinity, 0)]
        case .selu: [(0, .infinity, Activation.seluLambda)]
        case .elu: [(0, .infinity, 1)]
        default: []
        }
    }
}

/// Φ(b) − Φ(a) for a ≤ b, accurate in both tails (through erfc).
func gaussianMass(_ a: Double, _ b: Double) -> Double {
    let r = 0.70710678118654752440084436210485
    if a >= 0 { return 0.5 * (erfc(a * r) - erfc(b * r)) }
    if b <= 0 { return 0.5 * (erfc(-b * r) - erfc(-a * r)) }
    return 1 - 0.5 * erfc(b * r) - 0.5 * erfc(-a * r)
}
