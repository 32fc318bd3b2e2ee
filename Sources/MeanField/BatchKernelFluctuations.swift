/// The leading-order covariance across networks of every entry of the empirical kernel
/// `K̂^l_ij = h^l_i·h^l_j/N` of B inputs: `N · Cov(K̂^l_ij, K̂^l_kl)` for all entries i ≤ j,
/// k ≤ l, at every layer, finite as N → ∞ (Roberts, Yaida & Hanin 2022, ch. 4: the four-point
/// vertex over B inputs).
///
/// The recursion is ``KernelFluctuations``'s over all entries at once: with
/// `s^l = N Cov δΣ^l`, `s^1 = 0`, `s^{l+1} = σ_w⁴ (A s^l Aᵀ + C_φφ(Σ^l))` and
/// `N Cov K̂^l = s^l + C_hh(Σ^l)`, where A = ∂F/∂Σ is sparse (F_ij depends on Σ_ii, Σ_ij, Σ_jj
/// only: each pair's slopes, which its ``KernelFluctuations`` computed) and
/// `C_φφ[(ij),(kl)] = E[φ_iφ_jφ_kφ_l] − F_ij F_kl`. What a pair's table lacks are the entries
/// of disjoint or overlapping pairs, e.g. `Cov(K̂_ab, K̂_cd)` or `Cov(K̂_ab, K̂_ac)`: their noise
/// needs the four-point functions of three and four distinct inputs, `E φ_a²φ_bφ_c` and
/// `E φ_aφ_bφ_cφ_d` (``GaussianProduct``). Orthogonal weights subtract, as for a pair, the
/// Wishart of U = Σ − σ_b² and each noise's regression on the rows' Gram,
/// `½ tr(M_x U M_y U)` with the B×B `M_(ij) = E ∇²(φ_iφ_j)`. Each pair's block equals its
/// ``KernelFluctuations/scaledCovariances`` (the same recursion restricted to the pair's
/// entries, which it maps into themselves).
public struct BatchKernelFluctuations: Sendable {
    /// B.
    public let batch: Int
    /// `N · Cov` over the entries in ``entryIndex(_:_:)`` order, per layer (layer 1 first),
    /// row-major; it stops before the first layer where a moment is not finite.
    public let scaledCovariances: [[Double]]

    /// The index of entry (i, j) among the B(B + 1)/2 entries i ≤ j, row by row.
    public func entryIndex(_ i: Int, _ j: Int) -> Int {
        let (a, b) = (Swift.min(i, j), Swift.max(i, j))
        return a * batch - a * (a - 1) / 2 + (b - a)
    }

    /// `N · Cov(K̂_ij, K̂_kl)` at `layer` (1-based); nil beyond the computed layers.
    public func covariance(_ i: Int, _ j: Int, _ k: Int, _ l: Int, layer: Int) -> Double? {
        guard layer >= 1, layer <= scaledCovariances.count else { return nil }
        let m = batch * (batch + 1) / 2
        return scaledCovariances[layer - 1][entryIndex(i, j) * m + entryIndex(k, l)]
    }

    /// From the mean-field kernel of B ≥ 2 inputs at each layer (B×B row-major, layer 1
    /// first) and the fluctuations of each pair a < b, `pairs(a, b)` (their slopes and
    /// two-input noises, computed once). `sigmaW`, `sigmaB` and `weights` as for the pairs'
    /// ``KernelFluctuations``. It stops where a pair's table does (or a pair has none).
    public init?(activation: Activation, sigmaW: Double, sigmaB: Double = 0, weights: WeightLaw = .gaussian,
                 kernels: [[Double]], pairs: (_ a: Int, _ b: Int) -> KernelFluctuations?,
                 product: GaussianProduct = GaussianProduct()) {
        guard let first = kernels.first else { return nil }
        let b = Int(Double(first.count).squareRoot().rounded())
        precondition(b * b == first.count && b >= 2, "each kernel must be B×B, B ≥ 2")
        batch = b
        let unit = MeanFieldMaps(activation: activation, sigmaW: 1, sigmaB: 0)
        let w2 = sigmaW * sigmaW, w4 = w2 * w2, b2 = sigmaB * sigmaB, orthogonal = weights.isOrthogonal
        let entries = (0..<b).flatMap { i in (i..<b).map { j in (i, j) } }, m = entries.count
        func index(_ i: Int, _ j: Int) -> Int { Swift.min(i, j) * b - Swift.min(i, j) * (Swift.min(i, j) - 1) / 2 + abs(i - j) }
        var s = [Double](repeating: 0, count: m * m), out: [[Double]] = []
        layers: for (layer, sigma) in kernels.enumerated() {
            guard sigma.allSatisfy(\.isFinite), (0..<b).allSatisfy({ sigma[$0 * b + $0] > 0 }) else { break }
            let u = sigma.map { $0 - b2 }
            func wishart(_ g: [Double]) -> [Double] {
                entries.flatMap { i, j in entries.map { k, l in g[i * b + k] * g[j * b + l] + g[i * b + l] * g[j * b + k] } }
            }
            var measured = wishart(sigma)
            if orthogonal {
                let fixed = wishart(u)
                for x in 0..<(m * m) { measured[x] -= fixed[x] }
            }
            let here = (0..<(m * m)).map { s[$0] + measured[$0] }
            guard here.allSatisfy(\.isFinite) else { break }
            out.append(here)
            guard layer + 1 < kernels.count else { break }
            // A and the noise of every entry pair whose inputs are one or two, from the pairs.
            var a = [Double](repeating: 0, count: m * m), noise = [Double](repeating: .nan, count: m * m)
            var f = [Double](repeating: 0, count: m)
            for (x, e) in entries.enumerated() { f[x] = unit.secondMoment(qaa: sigma[e.0 * b + e.0], qbb: sigma[e.1 * b + e.1],
                                                                          qab: sigma[e.0 * b + e.1]) }
            for i in 0..<b {
                for j in (i + 1)..<b {
                    guard let pair = pairs(i, j), layer < pair.slopes.count else { break layers }
                    let (slopes, block) = (pair.slopes[layer], pair.noises[layer])
                    let local = [index(i, i), index(i, j), index(j, j)]
                    for x in 0..<3 {
                        for y in 0..<3 {
                            a[local[x] * m + local[y]] = slopes[x * 3 + y]
                            noise[local[x] * m + local[y]] = block[x * 3 + y]
                        }
                    }
                }
            }
            // Three or four distinct inputs: E Π φ^power over them (GaussianProduct), cached
            // on the powers and the inputs' covariance (a Gram batch has few distinct ones).
            var cache: [[UInt64]: Double] = [:]
            for x in 0..<m {
                for y in x..<m where noise[x * m + y].isNaN {
                    let (i, j) = entries[x], (k, l) = entries[y]
                    var powers: [Int: Int] = [:]
                    for v in [i, j, k, l] { powers[v, default: 0] += 1 }
                    let members = powers.keys.sorted { (powers[$0]!, $1) > (powers[$1]!, $0) }
                    let sub = members.flatMap { p in members.map { q in sigma[p * b + q] } }
                    let key = members.map { UInt64(powers[$0]!) } + sub.map(\.bitPattern)
                    let moment: Double
                    if let known = cache[key] {
                        moment = known
                    } else {
                        moment = product.expectation(covariance: sub, factors: members.map { p in
                            (f: Self.power(activation, powers[p]!), breakpoints: activation.breakpoints)
                        })
                        cache[key] = moment
                    }
                    noise[x * m + y] = moment - f[x] * f[y]
                    noise[y * m + x] = noise[x * m + y]
                }
            }
            if orthogonal {
                // M_x U for each entry x, then ½ tr(M_x U M_y U).
                let mu: [[Double]] = entries.enumerated().map { x, e in
                    var mx = [Double](repeating: 0, count: b * b)
                    let (i, j) = e
                    mx[i * b + i] += 2 * a[x * m + index(i, i)]
                    if i != j {
                        mx[j * b + j] += 2 * a[x * m + index(j, j)]
                        mx[i * b + j] = a[x * m + x]
                        mx[j * b + i] = a[x * m + x]
                    }
                    return (0..<(b * b)).map { e in (0..<b).reduce(0.0) { $0 + mx[(e / b) * b + $1] * u[$1 * b + e % b] } }
                }
                for x in 0..<m {
                    for y in 0..<m {
                        var trace = 0.0
                        for p in 0..<b { for q in 0..<b { trace += mu[x][p * b + q] * mu[y][q * b + p] } }
                        noise[x * m + y] -= 0.5 * trace
                    }
                }
            }
            var next = [Double](repeating: 0, count: m * m)
            // A s Aᵀ with A's three nonzero columns per row.
            let support = entries.map { i, j in i == j ? [index(i, i)] : [index(i, i), index(i, j), index(j, j)] }
            for x in 0..<m {
                for y in 0..<m {
                    var t = noise[x * m + y]
                    for p in support[x] { for q in support[y] { t += a[x * m + p] * s[p * m + q] * a[y * m + q] } }
                    next[x * m + y] = w4 * t
                }
            }
            s = next
        }
        guard !out.isEmpty else { return nil }
        scaledCovariances = out
    }

    /// `φ(x)^k` a buffer at a time.
    static func power(_ phi: Activation, _ k: Int) -> GaussianExpectation.BatchFunction {
        { x, y in
            phi.apply(x, into: y)
            for i in y.indices {
                let v = y[i]
                for _ in 1..<k { y[i] *= v }
            }
        }
    }
}
