import CBLAS

/// A LAPACK routine reported failure through its `info` argument.
public struct LAPACKError: Error, CustomStringConvertible, Sendable {
    /// The routine, e.g. `dpotrf`.
    public let routine: String
    /// LAPACK's `info`: `-i` means argument `i` was illegal; a positive value is
    /// routine-specific (for `potrf`: the leading minor of that order is not positive
    /// definite; for `syevd`/`gesdd`: the algorithm did not converge).
    public let info: Int32

    public var description: String {
        if info < 0 { return "\(routine): argument \(-info) had an illegal value" }
        switch routine.dropFirst() {
        case "potrf": return "\(routine): the leading minor of order \(info) is not positive definite"
        case "syevd", "gesdd": return "\(routine): the algorithm failed to converge (info = \(info))"
        default: return "\(routine) failed with info = \(info)"
        }
    }
}

@inline(__always)
private func ascii(_ c: Character) -> CChar { CChar(c.asciiValue!) }

extension Matrix {
    private static var prefix: String { T.self == Double.self ? "d" : "s" }

    private static func check(_ info: Int32, _ routine: String) throws(LAPACKError) {
        if info != 0 { throw LAPACKError(routine: prefix + routine, info: info) }
    }

    /// The lower-triangular Cholesky factor `L` with `A = L Lᵀ` (LAPACK `?potrf`).
    /// Throws when `A` is not numerically positive definite.
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public func cholesky() throws(LAPACKError) -> Matrix {
        precondition(rows == columns, "Cholesky needs a square matrix")
        var l = self
        let n = Int32(rows)
        let info = l.elements.withUnsafeMutableBufferPointer { T.potrf(ascii("L"), n, $0.baseAddress!, Swift.max(n, 1)) }
        try Self.check(info, "potrf")
        for j in 0..<columns { for i in 0..<j { l[i, j] = 0 } }
        return l
    }

    /// `X = A⁻¹ B` for this matrix being the lower Cholesky factor `L` of `A = L Lᵀ`
    /// (from `cholesky()`; LAPACK `?potrs`).
    public func choleskySolve(_ b: Matrix) throws(LAPACKError) -> Matrix {
        precondition(rows == columns && b.rows == rows, "Cholesky solve needs a square factor and matching rows")
        var x = b
        let info = elements.withUnsafeBufferPointer { pa in
            x.elements.withUnsafeMutableBufferPointer { pb in
                T.potrs(ascii("L"), Int32(rows), Int32(b.columns), pa.baseAddress!, Int32(Swift.max(rows, 1)),
                        pb.baseAddress!, Int32(Swift.max(rows, 1)))
            }
        }
        try Self.check(info, "potrs")
        return x
    }

    /// The thin QR factorisation `A = Q R` of an `m × n` matrix with `m ≥ n` (LAPACK
    /// `?geqrf` + `?orgqr`): `Q` is `m × n` with orthonormal columns, `R` is `n × n`
    /// upper triangular.
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public func qr() throws(LAPACKError) -> (q: Matrix, r: Matrix) {
        precondition(rows >= columns, "thin QR needs rows ≥ columns")
        var a = self
        let m = Int32(rows), n = Int32(columns)
        var tau = [T](repeating: 0, count: columns)
        let info = a.elements.withUnsafeMutableBufferPointer { pa in
            tau.withUnsafeMutableBufferPointer { T.geqrf(m, n, pa.baseAddress!, Swift.max(m, 1), $0.baseAddress!) }
        }
        try Self.check(info, "geqrf")
        var r = Matrix(rows: columns, columns: columns)
        for j in 0..<columns { for i in 0...j { r[i, j] = a[i, j] } }
        let info2 = a.elements.withUnsafeMutableBufferPointer { pa in
            tau.withUnsafeBufferPointer { T.orgqr(m, n, n, pa.baseAddress!, Swift.max(m, 1), $0.baseAddress!) }
        }
        try Self.check(info2, "orgqr")
        return (a, r)
    }

    /// The `n × n` upper-triangular R of the thin QR factorisation `A = QR` of an `m × n`
    /// matrix, m ≥ n (LAPACK `?geqrf` only: Q is not formed). `RᵀR = AᵀA`, computed column
    /// by column with Householder reflections, so columns of very different size and nearly
    /// parallel columns keep their relative accuracy (a Gram matrix would not).
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public func triangularFactor() throws(LAPACKError) -> Matrix {
        var a = self
        return try a.formTriangularFactor()
    }

    /// `triangularFactor()` in place: this matrix is overwritten with LAPACK's Householder
    /// data (no copy of a tall matrix: for buffers reused from layer to layer).
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public mutating func formTriangularFactor() throws(LAPACKError) -> Matrix {
        precondition(rows >= columns, "thin QR needs rows ≥ columns")
        let (m, n) = (rows, columns)
        var tau = [T](repeating: 0, count: n)
        let info = elements.withUnsafeMutableBufferPointer { pa in
            tau.withUnsafeMutableBufferPointer {
                T.geqrf(Int32(m), Int32(n), pa.baseAddress!, Int32(Swift.max(m, 1)), $0.baseAddress!)
            }
        }
        try Self.check(info, "geqrf")
        var r = Matrix(rows: n, columns: n)
        for j in 0..<n { for i in 0...j { r[i, j] = self[i, j] } }
        return r
    }

    /// Eigenvalues of a symmetric matrix in ascending order (LAPACK `?syevd`, upper triangle read).
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public func symmetricEigenvalues() throws(LAPACKError) -> [T] {
        try symmetricEigen(vectors: false).values
    }

    /// Eigenvalues (ascending) and orthonormal eigenvectors (the columns of `vectors`, in
    /// the same order) of a symmetric matrix: `A = V diag(λ) Vᵀ` (LAPACK `?syevd`, upper
    /// triangle read). Without `vectors` the returned matrix is the overwritten input.
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public func symmetricEigen(vectors: Bool = true) throws(LAPACKError) -> (values: [T], vectors: Matrix) {
        precondition(rows == columns, "eigenvalues need a square matrix")
        var a = self
        let n = Int32(rows)
        var w = [T](repeating: 0, count: rows)
        guard rows > 0 else { return (w, a) }
        let info = a.elements.withUnsafeMutableBufferPointer { pa in
            w.withUnsafeMutableBufferPointer {
                T.syevd(ascii(vectors ? "V" : "N"), ascii("U"), n, pa.baseAddress!, n, $0.baseAddress!)
            }
        }
        try Self.check(info, "syevd")
        return (w, a)
    }

    /// Singular values in descending order (LAPACK `?gesdd`, no vectors).
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public func singularValues() throws(LAPACKError) -> [T] {
        var a = self
        let m = Int32(rows), n = Int32(columns)
        var s = [T](repeating: 0, count: Swift.min(rows, columns))
        guard !s.isEmpty else { return s }
        var u: T = 0, vt: T = 0
        let info = a.elements.withUnsafeMutableBufferPointer { pa in
            s.withUnsafeMutableBufferPointer { ps in
                T.gesdd(ascii("N"), m, n, pa.baseAddress!, Swift.max(m, 1), ps.baseAddress!, &u, 1, &vt, 1)
            }
        }
        try Self.check(info, "gesdd")
        return s
    }
}

extension Matrix where T == Double {
    /// Rows per block of ``streamedTriangularFactor(of:rows:columns:leadingDimension:)`` for
    /// n columns: about 256 KiB of doubles (within a core's L2), a multiple of 16, at least n.
    public static func streamedBlockRows(columns n: Int) -> Int {
        Swift.max(n, Swift.max(16, (32_768 / Swift.max(n, 1)) & ~15))
    }

    /// The n×n upper-triangular R of the thin QR of the m×n matrix X at `x` (column-major,
    /// leading dimension `ld`, either precision; zero rows pad it when m < n), reading X once,
    /// a block of rows at a time: R ← R of the stacked [R; next block] (the sequential,
    /// "flat tree" TSQR of Demmel, Grigori, Hoemmen & Langou 2012, SIAM J. Sci. Comput. 34,
    /// A206). Each stack fits in cache, so a 10⁶×8 X costs one pass over memory instead of
    /// the ~2n passes of one Householder QR of X; it is Householder throughout, so it keeps
    /// the columns' relative accuracy as one QR of X does (RᵀR = XᵀX up to rounding, R unique
    /// up to the signs of its rows). Nil when X holds a non-finite value.
    @_specialize(exported: true, where S == Double)
    @_specialize(exported: true, where S == Float)
    public static func streamedTriangularFactor<S: BLASScalar>(of x: UnsafePointer<S>, rows m: Int, columns n: Int,
                                                                leadingDimension ld: Int) throws(LAPACKError) -> Matrix? {
        precondition(m >= 1 && n >= 1 && ld >= m, "streamedTriangularFactor needs a non-empty X with ld ≥ rows")
        let block = streamedBlockRows(columns: n), lda = n + block
        var stack = [Double](repeating: 0, count: lda * n)
        var tau = [Double](repeating: 0, count: n)
        // dgeqrf's workspace for the tallest stack, from its size query, reused by every block.
        var query = 0.0
        let queried = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, Int32(lda), Int32(n), &stack, Int32(lda), &tau, &query, -1)
        if queried != 0 { throw LAPACKError(routine: "dgeqrf", info: queried) }
        var work = [Double](repeating: 0, count: Swift.max(1, Int(query)))
        var first = 0, top = 0    // rows of X consumed; rows of R on top of the stack
        while first < m {
            let count = Swift.min(block, m - first)
            let height = Swift.max(top + count, n)
            let finite = stack.withUnsafeMutableBufferPointer { a in
                var finite = true
                for j in 0..<n {
                    let column = x + j * ld + first, target = j * lda + top
                    var poison = 0.0   // v · 0 is 0 for finite v, NaN for ±∞ and NaN: a branch-free check
                    for i in 0..<count {
                        let v = Double(column[i])
                        poison += v * 0
                        a[target + i] = v
                    }
                    finite = finite && poison == 0
                    for i in (top + count)..<height { a[j * lda + i] = 0 }
                }
                return finite
            }
            guard finite else { return nil }
            let info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, Int32(height), Int32(n), &stack, Int32(lda), &tau,
                                           &work, Int32(work.count))
            if info != 0 { throw LAPACKError(routine: "dgeqrf", info: info) }
            // Keep R on top: clear the reflectors below its diagonal.
            for j in 0..<n { for i in (j + 1)..<n { stack[j * lda + i] = 0 } }
            top = n
            first += count
        }
        var r = Matrix(rows: n, columns: n)
        for j in 0..<n { for i in 0...j { r[i, j] = stack[j * lda + i] } }
        return r
    }
}
