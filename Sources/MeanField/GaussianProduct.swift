/// `E Π_k f_k(u_k)` for a centred Gaussian vector u of a few dimensions (three or four in
/// practice: the four-point functions `E φ_aφ_bφ_cφ_d` of three or four distinct inputs that
/// the covariance of disjoint kernel entries needs, ``BatchKernelFluctuations``).
///
/// Method: u = L z with L the Cholesky factor of Σ and z standard normal, integrated level by
/// level: at level k, given z_1…z_{k−1}, u_k = m_k + L_kk z_k with `m_k = Σ_{j<k} L_kj z_j`, so
/// f_k's kinks (and its bends, when L_kk > 1) land in z_k at known points. Each level is a
/// composite Gauss–Legendre rule of `pointsPerPanel` nodes on the panels of
/// ``GaussianExpectation`` (the Gaussian's own points on [−10, 10]) split at those images. What
/// the inner levels return is f_j blurred by the levels between, smooth in z_k but narrowly so
/// where the inputs are nearly collinear: each level's panels are also split about the kinks of
/// the factors inside it, with a ladder at 1, 4 and 16 blur widths, as ``GaussianExpectation``'s
/// 2-D rule does. The innermost level is read from a table of its location (``InnerTable``). A
/// pivot of L below 10⁻¹⁴ of its variance is a degenerate direction: u_k = m_k.
///
/// A one-factor Σ (``oneFactor(_:dimension:)``: a Gram batch's) is integrated instead as
/// `E_w Π_k E_e f_k(a_k w + b_k e)`, a 1-D integral of 1-D ones, by the same rule with 4 points
/// more per panel, its w panels split likewise at each factor's blurred kinks.
///
/// Accuracy, measured against an independent one-factor reduction (adaptive Gauss–Kronrod) for
/// relu, tanh, erf and hard_tanh at correlations up to 0.99: 6 points per panel within 10⁻⁴
/// relative (up to 3·10⁻⁵), the default 10 within 10⁻⁷ (the table's interpolation is then the
/// limit). The default is the finer one because c's variance near |c| = 1 is a small difference
/// of these integrals: at 1 − c = 10⁻³ a 10⁻⁵ error in `E φ_aφ_bφ_cφ_d` moves c's predicted spread
/// of four inputs by 7 %. Cost: (panels × points)^(d−1) evaluations and lookups for the nested
/// levels, 10⁵–10⁶ for d = 4 (relu: 7 panels, half its nodes zero; tanh at lengths above 1 up
/// to 13, its bends); d·(panels × points)² for the one-factor route.
public struct GaussianProduct: Sendable {
    public let pointsPerPanel: Int
    /// The nested levels' rule, and the one-factor route's (4 points more: it is cheap).
    private let rule: GaussLegendre, fineRule: GaussLegendre

    /// Whether one-factor covariances take their cheap route (false: always the nested levels,
    /// a cross-check of the two).
    public let oneFactorRoute: Bool

    public init(pointsPerPanel: Int = 10, oneFactorRoute: Bool = true) {
        precondition(pointsPerPanel >= 1, "a rule needs at least one point per panel")
        self.pointsPerPanel = pointsPerPanel
        self.oneFactorRoute = oneFactorRoute
        rule = GaussLegendre(points: pointsPerPanel)
        fineRule = GaussLegendre(points: pointsPerPanel + 4)
    }

    /// `E Π_k f_k(u_k)`, u ~ N(0, Σ), Σ d×d row-major (positive semi-definite); `factors[k]`:
    /// f_k and its breakpoints.
    public func expectation(covariance sigma: [Double], factors: [(f: GaussianExpectation.BatchFunction,
                                                                    breakpoints: Breakpoints)]) -> Double {
        let d = factors.count
        precondition(d >= 1 && sigma.count == d * d, "Σ must be d×d for d factors")
        // Per slot (a level, and one more for the one-factor route's common factor): nodes,
        // weights × density, the points u and f there (padded to 8).
        let most = fineRule.nodes.count
        let points = factors.map { $0.breakpoints.kinks.count + $0.breakpoints.bends.count }
        // A level's panels: the Gaussian's 6, its own factor's images, and 7 (a point and its
        // ladder) for each image of an inner factor (``blurred(_:location:slope:spread:)``).
        var panels: [Int] = []
        for k in 0..<d {
            let inner: Int = points[(k + 1)...].reduce(0, +)
            panels.append(6 + points[k] + 7 * inner)
        }
        let all: Int = points.reduce(0, +)
        panels.append(6 + 7 * all)
        let capacity: [Int] = panels.map { ($0 * most + 7) & ~7 }
        let offsets = capacity.reduce(into: [0]) { $0.append($0.last! + 4 * $1) }
        let storage = UnsafeMutableBufferPointer<Double>.allocate(capacity: offsets.last!)
        defer { storage.deallocate() }
        var nodes = rule.nodes, weights = rule.weights
        /// Where factor k, reached as `m + slope·z` and blurred by the inner levels' spread, needs
        /// panel ends in z: its images, and, where the blur is narrower than the Gaussian
        /// (spread < |slope|), a ladder at 1, 4 and 16 blur widths about each kink (and bend,
        /// when the blur is wider than 1), as ``GaussianExpectation``'s 2-D rule does.
        func blurred(_ k: Int, location m: Double, slope: Double, spread: Double) -> [Double] {
            guard slope != 0 else { return [] }
            let breakpoints = factors[k].breakpoints
            var points = breakpoints.images(location: m, scale: slope)
            let width = spread / abs(slope)
            if width < 1 {
                for x in spread > 1 ? breakpoints.kinks + breakpoints.bends : breakpoints.kinks {
                    let centre = (x - m) / slope
                    for step in [1.0, 4, 16] { points += [centre - step * width, centre + step * width] }
                }
            }
            return points
        }
        /// The rule for `E f_k(m + s z)` (f ≡ 1 without a factor) in slot `slot`, with panel ends
        /// also at `extra`, each node z and its weighted f handed to `body`.
        func sum(_ slot: Int, factor k: Int?, location m: Double, scale s: Double, extra: [Double] = [],
                 _ body: (_ node: Double, _ weightedValue: Double) -> Double) -> Double {
            let size = capacity[slot], base = offsets[slot]
            let zs = UnsafeMutableBufferPointer(rebasing: storage[base..<(base + size)])
            let ws = UnsafeMutableBufferPointer(rebasing: storage[(base + size)..<(base + 2 * size)])
            let xs = UnsafeMutableBufferPointer(rebasing: storage[(base + 2 * size)..<(base + 3 * size)])
            let fx = UnsafeMutableBufferPointer(rebasing: storage[(base + 3 * size)..<(base + 4 * size)])
            var count = 0
            if s == 0 {
                zs[0] = 0; ws[0] = 1; count = 1
            } else {
                let points = GaussianExpectation.panelPoints((k.map { factors[$0].breakpoints.images(location: m, scale: s) } ?? []) + extra)
                for p in 1..<points.count {
                    let centre = 0.5 * (points[p] + points[p - 1]), half = 0.5 * (points[p] - points[p - 1])
                    for i in nodes.indices {
                        zs[count] = centre + half * nodes[i]
                        ws[count] = half * weights[i]
                        count += 1
                    }
                }
            }
            let padded = (count + 7) & ~7
            if s != 0 {
                // ϕ(z) four nodes at a time: e^{−z²/2} = 1/e^{z²/2} (|z| ≤ 10, no overflow).
                for i in count..<padded { zs[i] = zs[count - 1] }
                for i in stride(from: 0, to: padded, by: 4) {
                    let z = SIMD4(zs[i], zs[i + 1], zs[i + 2], zs[i + 3])
                    let density = Self.inverseRootTwoPi / Activation.exponential(0.5 * z * z)
                    for j in 0..<4 { ws[i + j] *= density[j] }
                }
            }
            guard let k else {
                var total = 0.0
                for i in 0..<count { total += body(zs[i], ws[i]) }
                return total
            }
            for i in 0..<padded { xs[i] = m + s * zs[Swift.min(i, count - 1)] }
            factors[k].f(UnsafeBufferPointer(rebasing: xs[0..<padded]), UnsafeMutableBufferPointer(rebasing: fx[0..<padded]))
            var total = 0.0
            for i in 0..<count where fx[i] != 0 { total += body(zs[i], ws[i] * fx[i]) }
            return total
        }
        guard d > 1 else { return sum(0, factor: 0, location: 0, scale: sigma[0].squareRoot()) { _, v in v } }
        if oneFactorRoute, let (a, b) = Self.oneFactor(sigma, dimension: d) {
            (nodes, weights) = (fineRule.nodes, fineRule.weights)
            // u_k = a_k w + b_k e_k: E_w Π_k E_e f_k(a_k w + b_k e), a 1-D integral of 1-D ones.
            let extra = (0..<d).flatMap { k in blurred(k, location: 0, slope: a[k], spread: b[k]) }
            return sum(d, factor: nil, location: 0, scale: 1, extra: extra) { w, weight in
                var product = weight
                for k in 0..<d where product != 0 {
                    product *= sum(k, factor: k, location: a[k] * w, scale: b[k]) { _, v in v }
                }
                return product
            }
        }
        let l = Self.cholesky(sigma, dimension: d)
        var z = [Double](repeating: 0, count: d)
        /// `Σ_{i<k} L_ji z_i`: u_j's mean given the levels before k (k = j: its location).
        func location(_ j: Int, before k: Int? = nil) -> Double {
            var m = 0.0
            for i in 0..<(k ?? j) { m += l[j * d + i] * z[i] }
            return m
        }
        let last = d - 1, innermost = l[last * d + last]
        let table = InnerTable(scale: innermost, reach: Self.halfWidth * (0..<last).reduce(0) { $0 + abs(l[last * d + $1]) }) { m in
            sum(last, factor: last, location: m, scale: innermost) { _, v in v }
        }
        // `spread[k * d + j]`: how much the levels after k blur u_j, `√(Σ_{k<i≤j} L_ji²)`.
        var spread = [Double](repeating: 0, count: d * d)
        for k in 0..<d { for j in (k + 1)..<d { spread[k * d + j] = ((k + 1)...j).reduce(0.0) { $0 + l[j * d + $1] * l[j * d + $1] }.squareRoot() } }
        func level(_ k: Int) -> Double {
            // Each inner factor j > k depends on z_k through L_jk, blurred by the levels between.
            let extra = ((k + 1)..<d).flatMap { j in
                blurred(j, location: location(j, before: k), slope: l[j * d + k], spread: spread[k * d + j])
            }
            return sum(k, factor: k, location: location(k), scale: l[k * d + k], extra: extra) { node, value in
                z[k] = node
                if k + 1 < last { return value * level(k + 1) }
                let m = location(last)
                return value * (table?.value(at: m) ?? sum(last, factor: last, location: m, scale: innermost) { _, v in v })
            }
        }
        return level(0)
    }

    static let inverseRootTwoPi = 1 / (2 * Double.pi).squareRoot()

    /// Half-width in standard deviations of every level's range (``GaussianExpectation/halfWidth``).
    static let halfWidth = GaussianExpectation.halfWidth

    /// The innermost level's expectation `G(m) = E f_d(m + L_dd z)` as a function of its
    /// location m, tabulated on a uniform grid of step L_dd/32 over the locations the outer
    /// nodes reach and read by four-point (cubic) Lagrange interpolation: G is f_d blurred on
    /// the scale L_dd, so the interpolation's error is about (1/32)⁴ of G's variation on that
    /// scale, near the rule's own at 10 points. It replaces the innermost level's nodes by one
    /// lookup (a factor of panels × points fewer evaluations). Nil (the level is integrated directly) where the
    /// grid would pass 2¹⁶ points (a direction nearly determined by the others).
    struct InnerTable {
        let start: Double, step: Double, values: [Double]

        init?(scale: Double, reach: Double, _ g: (Double) -> Double) {
            guard scale > 0 else { return nil }
            let step = scale / 32, count = Int((2 * reach / step).rounded(.up)) + 5
            guard count <= 1 << 16 else { return nil }
            let first = -reach - 2 * step
            (start, self.step) = (first, step)
            values = (0..<count).map { g(first + Double($0) * step) }
        }

        func value(at m: Double) -> Double {
            let t = (m - start) / step
            let i = Swift.min(Swift.max(Int(t.rounded(.down)), 1), values.count - 3)
            let u = t - Double(i)
            let (p0, p1, p2, p3) = (values[i - 1], values[i], values[i + 1], values[i + 2])
            let a = -u * (u - 1) * (u - 2) / 6 * p0 + (u + 1) * (u - 1) * (u - 2) / 2 * p1
            return a - (u + 1) * u * (u - 2) / 2 * p2 + (u + 1) * u * (u - 1) / 6 * p3
        }
    }

    /// Loadings (a, b) with `Σ_kl = a_k a_l` off the diagonal and `Σ_kk = a_k² + b_k²` — a
    /// one-factor covariance, u_k = a_k w + b_k e_k — where Σ is one to 10⁻¹² relative (a Gram
    /// batch's, every pair alike with c ≥ 0, is), else nil; d ≥ 3 (a d = 2 covariance always is one,
    /// but its Cholesky route is as cheap).
    static func oneFactor(_ sigma: [Double], dimension d: Int) -> (a: [Double], b: [Double])? {
        guard d >= 3 else { return nil }
        var a = [Double](repeating: 0, count: d)
        for k in 0..<d {
            // |a_k|² = Σ_kl Σ_km / Σ_lm with l, m the two other lowest indices.
            let others = (0..<d).filter { $0 != k }, (l, m) = (others[0], others[1])
            guard sigma[l * d + m] != 0 else { return nil }
            let square = sigma[k * d + l] * sigma[k * d + m] / sigma[l * d + m]
            guard square > 0, square <= sigma[k * d + k] else { return nil }
            a[k] = square.squareRoot() * (k == 0 || sigma[k] > 0 ? 1 : -1)
        }
        for k in 0..<d {
            for l in (k + 1)..<d {
                let scale = (sigma[k * d + k] * sigma[l * d + l]).squareRoot()
                guard abs(sigma[k * d + l] - a[k] * a[l]) <= 1e-12 * scale else { return nil }
            }
        }
        let b = (0..<d).map { k -> Double in
            let rest = sigma[k * d + k] - a[k] * a[k]
            return rest > 1e-14 * sigma[k * d + k] ? rest.squareRoot() : 0
        }
        return (a, b)
    }

    /// The lower Cholesky factor of a positive semi-definite d×d matrix; a pivot at most 10⁻¹⁴
    /// of its diagonal entry (a direction the others determine) is set to 0 with its column.
    static func cholesky(_ a: [Double], dimension d: Int) -> [Double] {
        var l = [Double](repeating: 0, count: d * d)
        for j in 0..<d {
            var pivot = a[j * d + j]
            for k in 0..<j { pivot -= l[j * d + k] * l[j * d + k] }
            guard pivot > 1e-14 * a[j * d + j] else { continue }
            let root = pivot.squareRoot()
            l[j * d + j] = root
            for i in (j + 1)..<d {
                var v = a[i * d + j]
                for k in 0..<j { v -= l[i * d + k] * l[j * d + k] }
                l[i * d + j] = v / root
            }
        }
        return l
    }
}
