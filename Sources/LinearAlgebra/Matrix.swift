import CBLAS

/// A dense column-major matrix: element (i, j) is `elements[i + j * rows]`.
///
/// Column-major is what BLAS and LAPACK expect, so every operation below hands
/// `elements` to OpenBLAS without copying or transposing.
public struct Matrix<T: BLASScalar>: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    public var elements: [T]

    /// A `rows × columns` matrix filled with `value`.
    public init(rows: Int, columns: Int, repeating value: T = 0) {
        precondition(rows >= 0 && columns >= 0, "matrix dimensions must be non-negative")
        self.rows = rows
        self.columns = columns
        elements = [T](repeating: value, count: rows * columns)
    }

    /// A matrix over existing column-major storage.
    public init(rows: Int, columns: Int, elements: [T]) {
        precondition(elements.count == rows * columns, "expected \(rows * columns) elements, got \(elements.count)")
        self.rows = rows
        self.columns = columns
        self.elements = elements
    }

    /// The `n × n` identity.
    public static func identity(_ n: Int) -> Matrix {
        var m = Matrix(rows: n, columns: n)
        for i in 0..<n { m[i, i] = 1 }
        return m
    }

    @inline(__always)
    public subscript(row: Int, column: Int) -> T {
        get { elements[row + column * rows] }
        set { elements[row + column * rows] = newValue }
    }

    /// The transpose (a copy).
    public var transposed: Matrix {
        var t = Matrix(rows: columns, columns: rows)
        for j in 0..<columns {
            for i in 0..<rows { t.elements[j + i * columns] = elements[i + j * rows] }
        }
        return t
    }
}

/// Whether an operand enters a product as itself or transposed.
public enum Transpose: Sendable {
    case none, transposed

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

extension Matrix {
    /// `C ← α op(A) op(B) + β C` (BLAS `?gemm`), in place in `self`.
    public mutating func multiply(_ a: Matrix, _ b: Matrix, transA: Transpose = .none,
                                  transB: Transpose = .none, alpha: T = 1, beta: T = 0) {
        let (m, k) = transA == .none ? (a.rows, a.columns) : (a.columns, a.rows)
        let (kb, n) = transB == .none ? (b.rows, b.columns) : (b.columns, b.rows)
        precondition(k == kb && m == rows && n == columns,
                     "gemm shapes: op(A) \(m)×\(k), op(B) \(kb)×\(n), C \(rows)×\(columns)")
        guard m > 0, n > 0 else { return }
        let ldc = Int32(Swift.max(rows, 1))
        a.elements.withUnsafeBufferPointer { pa in
            b.elements.withUnsafeBufferPointer { pb in
                elements.withUnsafeMutableBufferPointer { pc in
                    T.gemm(transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha,
                           pa.baseAddress!, Int32(Swift.max(a.rows, 1)), pb.baseAddress!,
                           Int32(Swift.max(b.rows, 1)), beta, pc.baseAddress!, ldc)
                }
            }
        }
    }

    /// The product `op(A) op(B)`.
    public static func product(_ a: Matrix, _ b: Matrix, transA: Transpose = .none,
                               transB: Transpose = .none) -> Matrix {
        let m = transA == .none ? a.rows : a.columns
        let n = transB == .none ? b.columns : b.rows
        var c = Matrix(rows: m, columns: n)
        c.multiply(a, b, transA: transA, transB: transB)
        return c
    }

    /// The Gram matrix `α AᵀA` (BLAS `?syrk`, both triangles filled).
    public func gram(alpha: T = 1) -> Matrix {
        var c = Matrix(rows: columns, columns: columns)
        gram(into: &c, alpha: alpha)
        return c
    }

    /// Writes `α AᵀA` into `c` (`columns × columns`) without allocating (BLAS `?syrk`,
    /// then the lower triangle mirrored from the upper one).
    public func gram(into c: inout Matrix, alpha: T = 1) {
        precondition(c.rows == columns && c.columns == columns, "gram output must be \(columns)×\(columns)")
        guard columns > 0, rows > 0 else { return }
        elements.withUnsafeBufferPointer { pa in
            c.elements.withUnsafeMutableBufferPointer { pc in
                T.syrkTransposed(n: columns, k: rows, alpha: alpha, a: pa.baseAddress!, lda: rows, c: pc.baseAddress!)
            }
        }
        for j in 0..<columns {
            for i in (j + 1)..<Swift.max(j + 1, columns) { c[i, j] = c[j, i] }
        }
    }

    /// `self ← self + α B Bᵀ` on the upper triangle only (BLAS `?syrk`, β = 1): the
    /// accumulation of a sum of outer Grams; mirror the triangle when done.
    public mutating func addOuterGram(_ b: Matrix, alpha: T) {
        precondition(rows == columns && b.rows == rows, "B Bᵀ must be \(rows)×\(rows)")
        guard rows > 0, b.columns > 0 else { return }
        b.elements.withUnsafeBufferPointer { pb in
            elements.withUnsafeMutableBufferPointer { pc in
                T.syrk(CblasUpper, CblasNoTrans, Int32(rows), Int32(b.columns), alpha, pb.baseAddress!, Int32(rows),
                       1, pc.baseAddress!, Int32(rows))
            }
        }
    }
}

extension BLASScalar {
    /// The upper triangle of `C ← α AᵀA` (BLAS `?syrk`), A `k × n` with leading dimension
    /// `lda`, C `n × n`; the lower triangle is left as it was.
    @inline(__always)
    public static func syrkTransposed(n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                                      c: UnsafeMutablePointer<Self>) {
        syrk(CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(lda), 0, c, Int32(n))
    }

    /// `C ← α op(A) op(B) + β C` on raw column-major storage (BLAS `?gemm`), for callers
    /// that multiply sub-blocks of larger buffers without copying them.
    @inline(__always)
    public static func multiply(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Self,
                                a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                                beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int) {
        gemm(transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
             beta, c, Int32(ldc))
    }
}

extension Matrix where T == Double {
    /// The upper triangle of `HᵀH` for the rows×c matrix H at `h` (column-major, leading
    /// dimension `ld`), into `g` (c×c, column-major: `g[b·c + a]`, a ≤ b). The rows are taken
    /// 256 at a time, so each block of H is read from memory once and its c(c+1)/2 column
    /// dot products run from L1, four rows to a SIMD register with two accumulators each, and
    /// four of them (one column against four) to a pass, so one load of the column serves four.
    /// For a few columns this is several times BLAS `syrk` (``gram(into:alpha:)``), whose
    /// packing costs more than its arithmetic there. `accumulating`: added to `g` as it is,
    /// so a matrix whose rows arrive in blocks of a multiple of 256 gets, block after block,
    /// exactly the sums of one call on all of it.
    public static func gramUpper(_ h: UnsafePointer<Double>, rows n: Int, columns c: Int, leadingDimension ld: Int,
                                 into g: UnsafeMutablePointer<Double>, accumulating: Bool = false) {
        if !accumulating { for k in 0..<(c * c) { g[k] = 0 } }
        var first = 0
        while first < n {
            let rows = Swift.min(256, n - first)
            for b in 0..<c {
                let y = UnsafeRawPointer(h + b * ld + first)
                var a = 0
                while a <= b {
                    // Up to four entries (a…a+3, b) per pass over y.
                    let lanes = Swift.min(4, b - a + 1)
                    func x(_ q: Int) -> UnsafeRawPointer { UnsafeRawPointer(h + Swift.min(a + q, b) * ld + first) }
                    let xs = (x(0), x(1), x(2), x(3))
                    let sums: SIMD4<Double>
                    switch lanes {      // a constant in each case: no work for the lanes past b
                    case 4: sums = dots(xs, y, rows: rows, lanes: 4)
                    case 3: sums = dots(xs, y, rows: rows, lanes: 3)
                    case 2: sums = dots(xs, y, rows: rows, lanes: 2)
                    default: sums = dots(xs, y, rows: rows, lanes: 1)
                    }
                    let i = rows & ~7
                    for q in 0..<lanes {
                        var sum = sums[q]
                        let xq = h + (a + q) * ld + first, yq = h + b * ld + first
                        for r in i..<rows { sum.addProduct(xq[r], yq[r]) }
                        g[b * c + a + q] += sum
                    }
                    a += 4
                }
            }
            first += rows
        }
    }

    /// `Σ_i x_q[i] y[i]` for q < `lanes`, over the first `rows & ~7` rows: eight rows per
    /// step, two SIMD4 sums per entry (the rows left go one by one after).
    @_transparent
    private static func dots(_ x: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                             _ y: UnsafeRawPointer, rows: Int, lanes: Int) -> SIMD4<Double> {
        var s0 = (SIMD4<Double>(), SIMD4<Double>(), SIMD4<Double>(), SIMD4<Double>()), s1 = s0
        var i = 0
        while i + 8 <= rows {
            let o = i * 8
            let y0 = y.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
            let y1 = y.loadUnaligned(fromByteOffset: o + 32, as: SIMD4<Double>.self)
            @_transparent func add(_ s: inout SIMD4<Double>, _ t: inout SIMD4<Double>, _ xq: UnsafeRawPointer) {
                s.addProduct(xq.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self), y0)
                t.addProduct(xq.loadUnaligned(fromByteOffset: o + 32, as: SIMD4<Double>.self), y1)
            }
            add(&s0.0, &s1.0, x.0)
            if lanes > 1 { add(&s0.1, &s1.1, x.1) }
            if lanes > 2 { add(&s0.2, &s1.2, x.2) }
            if lanes > 3 { add(&s0.3, &s1.3, x.3) }
            i += 8
        }
        return SIMD4((s0.0 + s1.0).sum(), (s0.1 + s1.1).sum(), (s0.2 + s1.2).sum(), (s0.3 + s1.3).sum())
    }
}
