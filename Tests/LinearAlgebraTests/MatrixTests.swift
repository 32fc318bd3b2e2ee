#if canImport(Glibc)
import Glibc
#endif
import LinearAlgebra
import Randomness
import Testing

private func stream(_ sample: UInt32) -> RandomStream {
    RandomStream(StreamID(seed: 11, point: 0, sample: sample, layer: 0, purpose: .weights))
}

private func naiveProduct(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Matrix<Double> {
    var c = Matrix<Double>(rows: a.rows, columns: b.columns)
    for i in 0..<a.rows { for j in 0..<b.columns {
        var s = 0.0
        for k in 0..<a.columns { s += a[i, k] * b[k, j] }
        c[i, j] = s
    } }
    return c
}

private func maxAbsDifference<T: BLASScalar>(_ a: Matrix<T>, _ b: Matrix<T>) -> Double {
    zip(a.elements, b.elements).map { Double(abs($0 - $1)) }.max() ?? 0
}

@Suite struct MatrixTests {
    @Test func gemmMatchesNaiveProductInBothOrientations() {
        let a = Matrix<Double>.gaussian(rows: 7, columns: 5, stream: stream(1))
        let b = Matrix<Double>.gaussian(rows: 5, columns: 3, stream: stream(2))
        #expect(maxAbsDifference(Matrix.product(a, b), naiveProduct(a, b)) < 1e-13)
        #expect(maxAbsDifference(Matrix.product(a.transposed, b, transA: .transposed), naiveProduct(a, b)) < 1e-13)
        #expect(maxAbsDifference(Matrix.product(b, a, transA: .transposed, transB: .transposed), naiveProduct(a, b).transposed) < 1e-13)
        let af = Matrix<Float>(rows: 7, columns: 5, elements: a.elements.map(Float.init))
        let bf = Matrix<Float>(rows: 5, columns: 3, elements: b.elements.map(Float.init))
        let cf = Matrix.product(af, bf)
        #expect(zip(cf.elements, naiveProduct(a, b).elements).allSatisfy { abs(Double($0) - $1) < 1e-5 })
    }

    @Test func gramIsAtransposeA() {
        let a = Matrix<Double>.gaussian(rows: 9, columns: 4, stream: stream(3))
        #expect(maxAbsDifference(a.gram(alpha: 0.5), naiveProduct(a.transposed, a).scaled(0.5)) < 1e-13)
    }

    @Test func knownSingularValuesAndEigenvalues() throws {
        // [[3, 0], [4, 5]] has singular values 3√5 and √5 (ENGINEERING.md §3.3).
        let m = Matrix<Double>(rows: 2, columns: 2, elements: [3, 4, 0, 5])
        let s = try m.singularValues()
        #expect(abs(s[0] - 3 * 5.0.squareRoot()) < 1e-13 && abs(s[1] - 5.0.squareRoot()) < 1e-13)
        let e = try Matrix<Double>(rows: 2, columns: 2, elements: [2, 1, 1, 2]).symmetricEigenvalues()
        #expect(abs(e[0] - 1) < 1e-14 && abs(e[1] - 3) < 1e-14)
        let ef = try Matrix<Float>(rows: 2, columns: 2, elements: [2, 1, 1, 2]).symmetricEigenvalues()
        #expect(abs(ef[0] - 1) < 1e-6 && abs(ef[1] - 3) < 1e-6)
    }

    @Test func choleskyReconstructsAndRefusesIndefinite() throws {
        let a = Matrix<Double>.gaussian(rows: 12, columns: 6, stream: stream(4))
        let g = a.gram()
        let l = try g.cholesky()
        #expect(maxAbsDifference(Matrix.product(l, l, transB: .transposed), g) < 1e-12)
        for j in 1..<6 { for i in 0..<j { #expect(l[i, j] == 0) } }
        let indefinite = Matrix<Double>(rows: 2, columns: 2, elements: [1, 2, 2, 1])
        #expect(throws: LAPACKError.self) { try indefinite.cholesky() }
        do { _ = try indefinite.cholesky() } catch {
            #expect(error.info == 2 && error.description.contains("not positive definite"))
        }
    }

    @Test func thinQRIsOrthonormalAndReconstructs() throws {
        let a = Matrix<Double>.gaussian(rows: 10, columns: 4, stream: stream(5))
        let (q, r) = try a.qr()
        #expect(maxAbsDifference(q.gram(), .identity(4)) < 1e-13)
        #expect(maxAbsDifference(Matrix.product(q, r), a) < 1e-13)
    }
}

@Suite struct HaarTests {
    @Test func haarMatricesAreOrthogonal() throws {
        let o = try Matrix<Double>.haarOrthogonal(rows: 32, columns: 32, stream: stream(6))
        #expect(maxAbsDifference(o.gram(), .identity(32)) < 1e-13)
        #expect(maxAbsDifference(Matrix.product(o, o, transB: .transposed), .identity(32)) < 1e-13)
        let frame = try Matrix<Float>.haarOrthogonal(rows: 20, columns: 5, stream: stream(7))
        #expect(maxAbsDifference(frame.gram(), .identity(5)) < 1e-5)
    }

    /// Haar measure on O(N): E Tr O = 0, E (Tr O)² = 1 (N ≥ 2), E O_ij² = 1/N,
    /// E O_ij⁴ = 3/(N(N+2)) (Diaconis & Shahshahani 1994). Without the sign correction
    /// of diag(R), LAPACK's Q has a biased trace, and these moments fail.
    @Test func haarMomentsMatchTheInvariantMeasure() throws {
        let n = 6, samples = 4000
        var trace = [Double](), entry2 = [Double](), entry4 = [Double]()
        for s in 0..<samples {
            let o = try Matrix<Double>.haarOrthogonal(rows: n, columns: n, stream: stream(100 + UInt32(s)))
            trace.append((0..<n).reduce(0) { $0 + o[$1, $1] })
            entry2.append(o[1, 2] * o[1, 2])
            entry4.append(pow4(o[3, 0]))
        }
        func check(_ xs: [Double], _ expected: Double) {
            let m = xs.reduce(0, +) / Double(xs.count)
            let v = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)
            let se = (v / Double(xs.count)).squareRoot()
            #expect(abs(m - expected) < 5 * se, "mean \(m) vs \(expected) ± \(se)")
        }
        check(trace, 0)
        check(trace.map { $0 * $0 }, 1)
        check(entry2, 1 / Double(n))
        check(entry4, 3 / Double(n * (n + 2)))
    }
}

private func pow4(_ x: Double) -> Double { x * x * x * x }

extension Matrix where T == Double {
    func scaled(_ s: Double) -> Matrix { Matrix(rows: rows, columns: columns, elements: elements.map { $0 * s }) }
}

/// The streamed TSQR factor of the implicit backend (`Matrix.streamedTriangularFactor`).
@Suite struct StreamedFactorTests {
    /// R of the streamed factor, from a matrix (ld = rows).
    private func streamedR(_ x: Matrix<Double>) -> Matrix<Double>? {
        x.elements.withUnsafeBufferPointer {
            Matrix<Double>.streamedTriangularFactor(of: $0.baseAddress!, rows: x.rows, columns: x.columns, leadingDimension: x.rows)
        }
    }

    /// The streamed factor against LAPACK's `dgeqrf` on one QR of X: many blocks of rows
    /// (512-row blocks at 8 columns, 768 at 5) and one (100 rows), and short groups of the
    /// reflections' four-column kernel (5 and 3 columns). The streamed R has a non-negative
    /// diagonal; LAPACK's rows are turned to match. Both are backward stable and X is well
    /// conditioned (κ ≈ 1.1 at these aspect ratios): they agree to a small multiple of m·ε.
    @Test(arguments: [(8, 10_000), (5, 10_000), (3, 100)])
    func streamedFactorIsLAPACKsR(columns: Int, rows: Int) throws {
        let x = Matrix<Double>.gaussian(rows: rows, columns: columns, stream: stream(6))
        let r = try #require(streamedR(x))
        var reference = try x.triangularFactor()
        for k in 0..<columns {
            #expect(r[k, k] >= 0)
            let sign = reference[k, k] < 0 ? -1.0 : 1
            for j in k..<columns { reference[k, j] *= sign }
        }
        let scale = reference.elements.map(abs).max()!
        #expect(maxAbsDifference(r, reference) / scale < 1e-12)
    }

    /// Column j of X scaled by 2^e_j scales column j of R by 2^e_j, exactly in binary arithmetic
    /// while nothing over- or underflows; with e = ±520 and −600 the plain sums of squares
    /// would (2^±1040, 2^−1200), so this checks the guarded norms, which round differently
    /// from the plain ones: R of the scaled X, unscaled, is R of X to a few hundred ulps of
    /// each column's norm (X is well conditioned, so rounding is not amplified).
    @Test func streamedFactorKeepsColumnScales() throws {
        let x = Matrix<Double>.gaussian(rows: 5000, columns: 5, stream: stream(7))
        let exponents = [520, -520, 0, 3, -600]
        var scaled = x
        for (j, e) in exponents.enumerated() { for i in 0..<x.rows { scaled[i, j] = x[i, j] * exp2(Double(e)) } }
        let r = try #require(streamedR(x)), rs = try #require(streamedR(scaled))
        for (j, e) in exponents.enumerated() {
            let norm = (0...j).map { r[$0, j] * r[$0, j] }.reduce(0, +).squareRoot()
            for i in 0...j { #expect(abs(rs[i, j] * exp2(Double(-e)) - r[i, j]) <= 1e-13 * norm) }
        }
    }

    /// A column nearly parallel to another (x₂ = x₀ + 10⁻⁶ z) keeps its small component R_22
    /// (≈ 10⁻⁶‖x₂‖) as LAPACK's one QR of X gives it, within twice the column-wise backward
    /// error of Householder QR, 2·m·u·‖x₂‖ (Higham 2002, Thm 19.4: the perturbations of x₀
    /// and x₂ each move the projection by at most m·u·‖x₂‖); a Gram matrix would lose it.
    @Test func streamedFactorKeepsNearlyParallelColumns() throws {
        var x = Matrix<Double>.gaussian(rows: 5000, columns: 3, stream: stream(7))
        for i in 0..<x.rows { x[i, 2] = x[i, 0] + 1e-6 * x[i, 2] }
        let r = try #require(streamedR(x)), reference = try x.triangularFactor()
        let x2 = (0...2).map { reference[$0, 2] * reference[$0, 2] }.reduce(0, +).squareRoot()
        #expect(abs(reference[2, 2]) < 1e-5 * x2)
        #expect(abs(abs(r[2, 2]) - abs(reference[2, 2])) <= 2 * Double(x.rows) * Double.ulpOfOne / 2 * x2)
    }

    /// The rows folded in blocks of 512 (six folds), of 429 (seven) and of 37 (82) give the
    /// same R to rounding: each fold flips the signs of R's rows, and the non-negative
    /// diagonal undoes it (without it, R after an odd number of folds differs in sign from
    /// R after an even number).
    @Test func blockingDoesNotChangeR() throws {
        let x = Matrix<Double>.gaussian(rows: 3000, columns: 6, stream: stream(10))
        func folded(_ size: Int) throws -> Matrix<Double> {
            var s = TriangularFactorStream(columns: 6)
            var first = 0
            while first < x.rows {
                let count = min(size, x.rows - first)
                for j in 0..<6 { for i in 0..<count { s.block[j * s.leadingDimension + i] = x[first + i, j] } }
                let folded = s.fold(rows: count)
                #expect(folded)
                first += count
            }
            let r = s.factor
            return try #require(r)
        }
        let r = try folded(512)
        let scale = r.elements.map(abs).max()!
        for size in [429, 37] { #expect(maxAbsDifference(try folded(size), r) / scale < 1e-13, "blocks of \(size)") }
    }

    /// Fewer rows than columns: R is padded with zero rows and RᵀR = XᵀX; a non-finite entry
    /// anywhere gives nil.
    @Test func streamedFactorOfAWideMatrixAndOfNonFiniteInput() throws {
        let x = Matrix<Double>.gaussian(rows: 3, columns: 6, stream: stream(8))
        let r = try #require(streamedR(x))
        #expect(maxAbsDifference(Matrix.product(r, r, transA: .transposed), x.gram()) < 1e-13)
        for i in 3..<6 { for j in 0..<6 { #expect(r[i, j] == 0) } }
        var bad = Matrix<Double>.gaussian(rows: 9000, columns: 4, stream: stream(9))
        bad[8500, 3] = .infinity
        #expect(streamedR(bad) == nil)
        bad[8500, 3] = .nan
        #expect(streamedR(bad) == nil)
    }
}
