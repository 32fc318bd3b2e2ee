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
