import Foundation
import GaussianProcess
import LinearAlgebra
import MeanField
import Testing

/// `A⁻¹ B` by Gaussian elimination with partial pivoting: the tests' own dense solve.
private func solve(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
    var a = a, b = b
    let n = a.count
    for col in 0..<n {
        let pivot = (col..<n).max { abs(a[$0][col]) < abs(a[$1][col]) }!
        a.swapAt(col, pivot); b.swapAt(col, pivot)
        for r in (col + 1)..<n {
            let f = a[r][col] / a[col][col]
            for c in col..<n { a[r][c] -= f * a[col][c] }
            for c in b[r].indices { b[r][c] -= f * b[col][c] }
        }
    }
    for r in stride(from: n - 1, through: 0, by: -1) {
        for c in b[r].indices {
            var s = b[r][c]
            for k in (r + 1)..<n { s -= a[r][k] * b[k][c] }
            b[r][c] = s / a[r][r]
        }
    }
    return b
}

private func inputs(_ count: Int, dimension: Int, seed: Double) -> [[Double]] {
    (0..<count).map { (a: Int) -> [Double] in
        (0..<dimension).map { (k: Int) -> Double in
            let phase = seed * Double(a * dimension + k + 1)
            return sin(phase) + 0.3 * Double(a)
        }
    }
}

@Suite struct GaussianProcessTests {
    /// Linear φ, σ_b = 0: K^l = σ_w^{2l} G0 and K̇ = σ_w², so Θ^l = l σ_w^{2l} G0.
    /// ReLU, σ_b = 0, one input: K̇ = σ_w²/2 = K^{l+1}/K^l, so Θ^l = l K^l.
    @Test func ntkClosedForms() {
        let g0 = [1.3, 0.4, 0.4, 0.9]
        let linear = NetworkGaussianProcess(activation: .linear, sigmaW: 1.2, sigmaB: 0, depth: 5)
        let (nngp, ntk) = linear.kernelsByLayer(gram: g0, count: 2)
        for l in 1...5 {
            for e in 0..<4 {
                #expect(abs(nngp[l - 1][e] - pow(1.44, Double(l)) * g0[e]) < 1e-12 * pow(1.44, Double(l)))
                #expect(abs(ntk[l - 1][e] - Double(l) * pow(1.44, Double(l)) * g0[e]) < 1e-12 * Double(l) * pow(1.44, Double(l)))
            }
        }
        let relu = NetworkGaussianProcess(activation: .relu, sigmaW: 1.7, sigmaB: 0, depth: 6)
        let r = relu.kernelsByLayer(gram: [0.8], count: 1)
        for l in 1...6 { #expect(abs(r.ntk[l - 1][0] - Double(l) * r.nngp[l - 1][0]) < 1e-12 * r.ntk[l - 1][0]) }
    }

    /// The Cholesky posterior equals a direct dense solve of the same formulas to 1e-10.
    @Test func posteriorEqualsADirectSolve() throws {
        let gp = NetworkGaussianProcess(activation: .tanh, sigmaW: 1.5, sigmaB: 0.2, depth: 3)
        let train = inputs(6, dimension: 4, seed: 0.7), test = inputs(3, dimension: 4, seed: 1.9)
        let targets = (0..<6).map { [cos(Double($0)), Double($0) / 6] }
        let (nngp, ntk) = try gp.posterior(train: train, targets: targets, test: test)
        let (k, theta) = gp.kernels(train + test)
        func rows(_ m: Matrix<Double>, _ r: Range<Int>, _ c: Range<Int>) -> [[Double]] { r.map { i in c.map { m[i, $0] } } }
        let x = 0..<6, s = 6..<9
        let kxx = rows(k, x, x), kxs = rows(k, x, s), txx = rows(theta, x, x), txs = rows(theta, x, s)
        let alpha = solve(kxx, targets), beta = solve(txx, targets)
        let kInvK = solve(kxx, kxs), tInv = solve(txx, txs)
        for i in 0..<3 {
            for j in 0..<2 {
                let mean = (0..<6).reduce(0) { $0 + kxs[$1][i] * alpha[$1][j] }
                let ntkMean = (0..<6).reduce(0) { $0 + txs[$1][i] * beta[$1][j] }
                #expect(abs(nngp.means[i][j] - mean) < 1e-10 * max(1, abs(mean)))
                #expect(abs(ntk.means[i][j] - ntkMean) < 1e-10 * max(1, abs(ntkMean)))
            }
            let prior = k[6 + i, 6 + i]
            let variance = prior - (0..<6).reduce(0) { $0 + kxs[$1][i] * kInvK[$1][i] }
            var ntkVariance = prior
            for a in 0..<6 {
                ntkVariance -= 2 * tInv[a][i] * kxs[a][i]
                for b in 0..<6 { ntkVariance += tInv[a][i] * kxx[a][b] * tInv[b][i] }
            }
            #expect(abs(nngp.variances[i] - variance) < 1e-10 * prior)
            #expect(abs(ntk.variances[i] - ntkVariance) < 1e-10 * prior)
        }
    }

    /// Without noise the NNGP and NTK-GP means interpolate the training targets, with zero
    /// NNGP variance there (up to the conditioning of K).
    @Test func posteriorInterpolatesTheTrainingData() throws {
        let gp = NetworkGaussianProcess(activation: .relu, sigmaW: 1.4, sigmaB: 0.1, depth: 4)
        let train = inputs(5, dimension: 3, seed: 1.1), targets = (0..<5).map { [Double($0 * $0) - 2] }
        let (nngp, ntk) = try gp.posterior(train: train, targets: targets, test: train)
        for i in 0..<5 {
            #expect(abs(nngp.means[i][0] - targets[i][0]) < 1e-7 && abs(ntk.means[i][0] - targets[i][0]) < 1e-7)
            #expect(abs(nngp.variances[i]) < 1e-7 && abs(ntk.variances[i]) < 1e-7)
        }
    }

    /// A repeated training input makes K(X, X) singular: refused with the reason and the
    /// remedy; a jitter makes it solvable.
    @Test func singularKernelIsRefusedUnlessJittered() throws {
        let gp = NetworkGaussianProcess(activation: .erf, sigmaW: 1.2, sigmaB: 0.1, depth: 2)
        let x = inputs(3, dimension: 3, seed: 0.5)
        let train = [x[0], x[1], x[0]], targets = [[1.0], [2.0], [1.0]]
        #expect { _ = try gp.posterior(train: train, targets: targets, test: [x[2]]) } throws: { error in
            let text = "\(error)"
            return text.contains("numerically") && text.contains("K(X, X)") && text.contains("--jitter")
        }
        let (nngp, _) = try gp.posterior(train: train, targets: targets, test: [x[2]], jitter: 1e-8)
        #expect(nngp.means[0][0].isFinite && nngp.variances[0] >= -1e-8)
    }
}
