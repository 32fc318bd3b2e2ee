#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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
    /// Rows per block of ``streamedTriangularFactor(of:rows:columns:leadingDimension:)`` and
    /// ``TriangularFactorStream`` for n columns: about 32 KiB of doubles, so that a block and
    /// the reflections over it stay in a core's L1 data cache (512 rows at n = 8: 5 % faster
    /// for the width-10⁶ network than 4096 rows in L2), a multiple of 256 (so a block is whole
    /// blocks of ``gramUpper(_:rows:columns:leadingDimension:into:accumulating:)``), at least n.
    public static func streamedBlockRows(columns n: Int) -> Int {
        Swift.max(n, Swift.max(256, (4096 / Swift.max(n, 1)) & ~255))
    }

    /// The n×n upper-triangular R of the thin QR of the m×n matrix X at `x` (column-major,
    /// leading dimension `ld`, either precision; zero rows pad it when m < n), reading X once,
    /// a block of rows at a time through a ``TriangularFactorStream``: its diagonal
    /// non-negative. Nil when X holds a non-finite value.
    @_specialize(exported: true, where S == Double)
    @_specialize(exported: true, where S == Float)
    public static func streamedTriangularFactor<S: BLASScalar>(of x: UnsafePointer<S>, rows m: Int, columns n: Int,
                                                                leadingDimension ld: Int) -> Matrix? {
        precondition(m >= 1 && n >= 1 && ld >= m, "streamedTriangularFactor needs a non-empty X with ld ≥ rows")
        var stream = TriangularFactorStream(columns: n)
        var first = 0
        while first < m {
            let count = Swift.min(stream.blockRows, m - first), block = stream.block, lda = stream.leadingDimension
            for j in 0..<n {
                let column = x + j * ld + first, target = block + j * lda
                for i in 0..<count { target[i] = Double(column[i]) }
            }
            guard stream.fold(rows: count) else { return nil }
            first += count
        }
        return stream.factor
    }

    /// Overwrites the m×n column-major A (m ≥ n) at `a` with the R of its QR in its upper
    /// triangle and zeros below: n Householder reflections `H_k = I − τ_k v_k v_kᵀ`, each as
    /// LAPACK's `dlarfg` builds it (β = −sign(α)·‖(α, x)‖, τ = (β − α)/β, v = (1, x/(α − β)),
    /// so R's diagonal has `dgeqrf`'s signs) and applied to the columns right of it
    /// (Golub & Van Loan 2013, Algorithm 5.2.1). The reflectors are not kept: only R is
    /// wanted. Written for the stacks of the streamed factor (a few columns, rows within
    /// L2), where `dgeqr2`'s calls per column cost more than its arithmetic: the columns
    /// right of k are taken four at a time (`w = c_k + vᵀc` in one pass over v, then
    /// `c −= τ w v`), four rows per vector, aligned when `a` and `ld` allow.
    static func householderTriangularize(_ a: UnsafeMutablePointer<Double>, rows m: Int, columns n: Int,
                                         leadingDimension ld: Int) {
        precondition(m >= n && ld >= m, "householderTriangularize needs rows ≥ columns and ld ≥ rows")
        for k in 0..<n {
            let v = a + k * ld + k + 1, tail = m - k - 1      // x: below the diagonal of column k
            let alpha = a[k * ld + k]
            let xnorm = norm(v, count: tail)
            guard xnorm > 0 else { continue }                   // H = I; τ = 0
            let beta = -copysign(hypot(alpha, xnorm), alpha)
            let tau = (beta - alpha) / beta
            let divisor = alpha - beta                          // |α − β| = |α| + ‖(α, x)‖ ≥ ‖x‖ > 0
            let reciprocal = 1 / divisor
            if reciprocal.isFinite {
                for i in 0..<tail { v[i] *= reciprocal }
            } else {
                for i in 0..<tail { v[i] /= divisor }
            }
            a[k * ld + k] = beta
            // Rows before the first 32-byte boundary of v go element by element.
            let head = Swift.min(tail, (4 - (Int(bitPattern: v) >> 3) & 3) & 3)
            var j = k + 1
            while j < n {
                let g = Swift.min(4, n - j)
                // A short group repeats its last column in the dot products and ignores them.
                let c = (a + j * ld + k, a + (j + Swift.min(1, g - 1)) * ld + k, a + (j + Swift.min(2, g - 1)) * ld + k,
                         a + (j + g - 1) * ld + k)
                var w = SIMD4(c.0[0], c.1[0], c.2[0], c.3[0])
                for i in 1...max(head, 1) where i <= head {
                    w += v[i - 1] * SIMD4(c.0[i], c.1[i], c.2[i], c.3[i])
                }
                w += dots(v + head, c.0 + 1 + head, c.1 + 1 + head, c.2 + 1 + head, c.3 + 1 + head, count: tail - head)
                let step = -tau * w
                for q in 0..<g {
                    let column = a + (j + q) * ld + k
                    column[0] += step[q]
                    for i in 0..<head { column[1 + i].addProduct(step[q], v[i]) }
                }
                if g == 4 {
                    update(v + head, c.0 + 1 + head, c.1 + 1 + head, c.2 + 1 + head, c.3 + 1 + head, by: step,
                           count: tail - head)
                } else {
                    for q in 0..<g { axpy(step[q], v + head, a + (j + q) * ld + k + 1 + head, count: tail - head) }
                }
                j += g
            }
            for i in 0..<tail { v[i] = 0 }
        }
    }

    /// ‖x‖₂ of `count` doubles without spurious overflow or underflow: the plain sum of
    /// squares (eight partial sums) when no square can have overflowed and the subnormal
    /// squares' rounding (≤ 2⁻¹⁰⁷⁵ each, count ≤ 2¹⁵ of them) is below ε of a sum ≥ 2⁻⁹⁰⁰;
    /// else the sum over x scaled by a power of two near its largest magnitude (exact), as
    /// `dnrm2` guards it.
    private static func norm(_ x: UnsafeMutablePointer<Double>, count: Int) -> Double {
        let sum = dot(x, x, count: count)
        if sum.isFinite && sum >= 0x1p-900 { return sum.squareRoot() }
        var largest = 0.0
        for i in 0..<count { largest = Swift.max(largest, x[i].magnitude) }
        guard largest > 0, largest.isFinite else { return largest }
        let scale = Double(sign: .plus, exponent: -largest.exponent, significand: 1)
        var scaled = 0.0
        for i in 0..<count { let s = x[i] * scale; scaled += s * s }
        return scaled.squareRoot() / scale
    }

    /// `Σ x_i y_i`: four vectors of partial sums, so that the adds do not wait on each other.
    @inline(__always)
    private static func dot(_ x: UnsafeMutablePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) -> Double {
        let px = UnsafeRawPointer(x), py = UnsafeRawPointer(y)
        var s = (SIMD4<Double>(), SIMD4<Double>(), SIMD4<Double>(), SIMD4<Double>())
        var i = 0
        while i + 16 <= count {
            @inline(__always) func at(_ o: Int) -> (SIMD4<Double>, SIMD4<Double>) {
                (px.loadUnaligned(fromByteOffset: (i + o) * 8, as: SIMD4<Double>.self),
                 py.loadUnaligned(fromByteOffset: (i + o) * 8, as: SIMD4<Double>.self))
            }
            let (x0, y0) = at(0), (x1, y1) = at(4), (x2, y2) = at(8), (x3, y3) = at(12)
            s.0.addProduct(x0, y0); s.1.addProduct(x1, y1); s.2.addProduct(x2, y2); s.3.addProduct(x3, y3)
            i += 16
        }
        var total = ((s.0 + s.1) + (s.2 + s.3)).sum()
        while i < count { total.addProduct(x[i], y[i]); i += 1 }
        return total
    }

    /// `(v·c₀, v·c₁, v·c₂, v·c₃)` in one pass over v: two rows of four lanes per step, eight
    /// independent sums.
    @inline(__always)
    private static func dots(_ v: UnsafeMutablePointer<Double>, _ c0: UnsafeMutablePointer<Double>,
                             _ c1: UnsafeMutablePointer<Double>, _ c2: UnsafeMutablePointer<Double>,
                             _ c3: UnsafeMutablePointer<Double>, count: Int) -> SIMD4<Double> {
        let pv = UnsafeRawPointer(v), p = (UnsafeRawPointer(c0), UnsafeRawPointer(c1), UnsafeRawPointer(c2),
                                           UnsafeRawPointer(c3))
        var a = (SIMD4<Double>(), SIMD4<Double>(), SIMD4<Double>(), SIMD4<Double>())
        var b = a
        var i = 0
        while i + 8 <= count {
            let o0 = i * 8, o1 = (i + 4) * 8
            let v0 = pv.loadUnaligned(fromByteOffset: o0, as: SIMD4<Double>.self)
            let v1 = pv.loadUnaligned(fromByteOffset: o1, as: SIMD4<Double>.self)
            a.0.addProduct(v0, p.0.loadUnaligned(fromByteOffset: o0, as: SIMD4<Double>.self))
            a.1.addProduct(v0, p.1.loadUnaligned(fromByteOffset: o0, as: SIMD4<Double>.self))
            a.2.addProduct(v0, p.2.loadUnaligned(fromByteOffset: o0, as: SIMD4<Double>.self))
            a.3.addProduct(v0, p.3.loadUnaligned(fromByteOffset: o0, as: SIMD4<Double>.self))
            b.0.addProduct(v1, p.0.loadUnaligned(fromByteOffset: o1, as: SIMD4<Double>.self))
            b.1.addProduct(v1, p.1.loadUnaligned(fromByteOffset: o1, as: SIMD4<Double>.self))
            b.2.addProduct(v1, p.2.loadUnaligned(fromByteOffset: o1, as: SIMD4<Double>.self))
            b.3.addProduct(v1, p.3.loadUnaligned(fromByteOffset: o1, as: SIMD4<Double>.self))
            i += 8
        }
        var w = SIMD4((a.0 + b.0).sum(), (a.1 + b.1).sum(), (a.2 + b.2).sum(), (a.3 + b.3).sum())
        while i < count {
            w += v[i] * SIMD4(c0[i], c1[i], c2[i], c3[i])
            i += 1
        }
        return w
    }

    /// `c_q ← c_q + step_q v` for q = 0…3, in one pass over v.
    @inline(__always)
    private static func update(_ v: UnsafeMutablePointer<Double>, _ c0: UnsafeMutablePointer<Double>,
                               _ c1: UnsafeMutablePointer<Double>, _ c2: UnsafeMutablePointer<Double>,
                               _ c3: UnsafeMutablePointer<Double>, by step: SIMD4<Double>, count: Int) {
        let pv = UnsafeRawPointer(v)
        let t0 = UnsafeMutableRawPointer(c0), t1 = UnsafeMutableRawPointer(c1), t2 = UnsafeMutableRawPointer(c2),
            t3 = UnsafeMutableRawPointer(c3)
        let s0 = SIMD4(repeating: step[0]), s1 = SIMD4(repeating: step[1]), s2 = SIMD4(repeating: step[2]),
            s3 = SIMD4(repeating: step[3])
        var i = 0
        while i + 4 <= count {
            let o = i * 8, x = pv.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
            addProduct(t0, s0, x, o); addProduct(t1, s1, x, o); addProduct(t2, s2, x, o); addProduct(t3, s3, x, o)
            i += 4
        }
        while i < count {
            c0[i].addProduct(step[0], v[i]); c1[i].addProduct(step[1], v[i])
            c2[i].addProduct(step[2], v[i]); c3[i].addProduct(step[3], v[i])
            i += 1
        }
    }

    /// `y ← y + αx`, four lanes at a time.
    @inline(__always)
    private static func axpy(_ alpha: Double, _ x: UnsafeMutablePointer<Double>, _ y: UnsafeMutablePointer<Double>,
                             count: Int) {
        let px = UnsafeRawPointer(x), py = UnsafeMutableRawPointer(y), s = SIMD4<Double>(repeating: alpha)
        var i = 0
        while i + 4 <= count {
            addProduct(py, s, px.loadUnaligned(fromByteOffset: i * 8, as: SIMD4<Double>.self), i * 8)
            i += 4
        }
        while i < count { y[i].addProduct(alpha, x[i]); i += 1 }
    }

    /// The four doubles at `p + offset` plus `s·x`, stored back.
    @inline(__always)
    private static func addProduct(_ p: UnsafeMutableRawPointer, _ s: SIMD4<Double>, _ x: SIMD4<Double>, _ offset: Int) {
        p.storeBytes(of: p.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self).addingProduct(s, x),
                     toByteOffset: offset, as: SIMD4<Double>.self)
    }
}
