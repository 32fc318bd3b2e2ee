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

    /// Overwrites the first n rows of the m×n column-major A (m ≥ n) at `a` with the R of
    /// its QR (upper triangle, zeros below the diagonal); the rows below n are left holding
    /// nothing meaningful. n Householder reflections `H_k = I − τ_k v_k v_kᵀ`, each as
    /// LAPACK's `dlarfg` builds it (β = −sign(α)·‖(α, x)‖, τ = (β − α)/β, v = (1, x/(α − β)),
    /// so R's diagonal has `dgeqrf`'s signs), applied to the columns right of it (Golub &
    /// Van Loan 2013, Algorithm 5.2.1). The reflectors are not kept: only R is wanted.
    ///
    /// Written for the stacks of the streamed factor (a few columns, a few hundred rows in
    /// L1), where the cost is trips through the stack, not arithmetic: reflection k is one
    /// pass per four columns right of it, which updates them (`c ← c − τ (c_k + vᵀc) v`, v
    /// never formed: `vᵀc = xᵀc/(α − β)`) and, from the updated values still in registers,
    /// sums what reflection k + 1 needs: ‖x_{k+1}‖² and `x_{k+1}ᵀc` for the columns right of
    /// it ("look-ahead"). Where ‖x‖² could have over- or underflowed (outside [2⁻⁹⁰⁰, 2⁹⁰⁰]),
    /// or a sum is not finite, x is first scaled by a power of two near its largest magnitude
    /// (exact) and its sums recomputed, as `dnrm2` guards a norm. `scratch`: m doubles, the
    /// target of a pass's unused lanes (their coefficient is 0; what they hold is never read
    /// into R), aligned as the columns are (`a` and `scratch` 32-byte aligned, ld a multiple
    /// of 4) so that every pass's vector loads are. False, and A no longer meaningful, where
    /// an entry of A was not finite (a NaN below a zero-norm column would otherwise vanish
    /// from R).
    static func householderTriangularize(_ a: UnsafeMutablePointer<Double>, rows m: Int, columns n: Int,
                                         leadingDimension ld: Int, scratch: UnsafeMutablePointer<Double>) -> Bool {
        precondition(m >= n && ld >= m, "householderTriangularize needs rows ≥ columns and ld ≥ rows")
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { buffer -> Bool in
            // sums[j], j ≥ k: x_kᵀ c_j over the rows below k's diagonal (sums[k] = ‖x_k‖²);
            // then, j > k, the coefficient of x_k in the update of c_j.
            let sums = buffer.baseAddress!
            // c_j += sums[j]·x for the columns j ≥ first, from `row` down, and then sums[j] is
            // Σ y c_j below `row`, y being column `first`: the sums of the next reflection.
            func reflectColumns(from first: Int, row: Int, x: UnsafeMutablePointer<Double>, updates: Bool = true) {
                var j = first
                while j < n {
                    let g = Swift.min(4, n - j)
                    func target(_ q: Int) -> UnsafeMutablePointer<Double> {
                        q < g ? a + (j + q) * ld + row : scratch + row
                    }
                    var coefficients = SIMD4<Double>()
                    for q in 0..<g { coefficients[q] = sums[j + q] }
                    let t = (target(0), target(1), target(2), target(3)), y = a + first * ld + row
                    // Constant arguments, so that each case is a loop of its own: no work for
                    // the lanes past g in the vector loop, none for the update of the identity.
                    let next: SIMD4<Double>
                    switch (g, j == first, updates) {
                    case (4, true, true): next = reflect(x, t, coefficients, y, lanes: 4, firstIsY: true, count: m - row)
                    case (4, false, true): next = reflect(x, t, coefficients, y, lanes: 4, firstIsY: false, count: m - row)
                    case (3, true, true): next = reflect(x, t, coefficients, y, lanes: 3, firstIsY: true, count: m - row)
                    case (3, false, true): next = reflect(x, t, coefficients, y, lanes: 3, firstIsY: false, count: m - row)
                    case (2, true, true): next = reflect(x, t, coefficients, y, lanes: 2, firstIsY: true, count: m - row)
                    case (2, false, true): next = reflect(x, t, coefficients, y, lanes: 2, firstIsY: false, count: m - row)
                    case (1, true, true): next = reflect(x, t, coefficients, y, lanes: 1, firstIsY: true, count: m - row)
                    case (1, false, true): next = reflect(x, t, coefficients, y, lanes: 1, firstIsY: false, count: m - row)
                    case (_, true, false):
                        next = reflect(x, t, coefficients, y, lanes: 4, firstIsY: true, updates: false, count: m - row)
                    default:
                        next = reflect(x, t, coefficients, y, lanes: 4, firstIsY: false, updates: false, count: m - row)
                    }
                    for q in 0..<g { sums[j + q] = next[q] }
                    j += g
                }
            }
            // The identity first (every coefficient 0) gives the first reflection's sums. A sum
            // is not finite where an entry below row 0 is not, or where a product overflowed:
            // which of the two, only the entries tell.
            for j in 0..<n { sums[j] = 0 }
            reflectColumns(from: 0, row: 0, x: a, updates: false)
            if !(0..<n).allSatisfy({ sums[$0].isFinite && a[$0 * ld].isFinite }) {
                for j in 0..<n { for i in 0..<m where !a[j * ld + i].isFinite { return false } }
            }
            var summed = true
            for k in 0..<n where k + 1 < m {
                let x = a + k * ld + k + 1, tail = m - k - 1
                if !summed { for j in k..<n { sums[j] = dot(x, a + j * ld + k + 1, count: tail) } }
                var scale = 1.0
                if !(sums[k] >= 0x1p-900 && sums[k] <= 0x1p900) || !(k..<n).allSatisfy({ sums[$0].isFinite }) {
                    var largest = 0.0
                    for i in 0..<tail { largest = Swift.max(largest, x[i].magnitude) }
                    if largest > 0 && largest.isFinite {
                        scale = Double(sign: .plus, exponent: -largest.exponent, significand: 1)
                        for i in 0..<tail { x[i] *= scale }
                        for j in k..<n { sums[j] = dot(x, a + j * ld + k + 1, count: tail) }
                    }
                }
                summed = false
                guard sums[k] > 0 else { continue }                 // x = 0: H = I, τ = 0
                let alpha = a[k * ld + k]
                // ‖(α, x)‖: the plain root where α² cannot overflow (‖x‖² ≥ 2⁻⁹⁰⁰ there, so
                // an α² that underflows loses nothing that counts).
                let norm = scale == 1 && abs(alpha) < 0x1p450
                    ? (alpha * alpha + sums[k]).squareRoot() : hypot(alpha, sums[k].squareRoot() / scale)
                let beta = -copysign(norm, alpha)
                let tau = (beta - alpha) / beta
                let toV = 1 / ((alpha - beta) * scale)              // v = toV · x as stored
                a[k * ld + k] = beta
                for j in (k + 1)..<n {
                    let step = -tau * (a[j * ld + k] + sums[j] * toV)
                    a[j * ld + k] += step
                    sums[j] = step * toV
                }
                reflectColumns(from: k + 1, row: k + 1, x: x)
                summed = true
                for i in 0..<Swift.min(tail, n - k - 1) { x[i] = 0 }
            }
            return true
        }
    }

    /// One pass of a reflection over its `count` rows, up to four target columns at once
    /// (`lanes` of them; the others aimed at the scratch column): `t_q[i] += c_q·x[i]`
    /// (unless not `updates`: the identity), and over the rows after the first,
    /// `Σ_i y[i]·t_q[i]` of the updated t (y: the next column, itself t₀ when `firstIsY`, its
    /// new values then taken from the registers). Four rows per vector, two vectors per step
    /// (eight independent sums), aligned once the first ≤ 3 rows are done (the columns share
    /// an alignment).
    @_transparent
    private static func reflect(_ x: UnsafeMutablePointer<Double>,
                                _ t: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>,
                                      UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>),
                                _ c: SIMD4<Double>, _ y: UnsafeMutablePointer<Double>, lanes: Int, firstIsY: Bool,
                                updates: Bool = true, count: Int) -> SIMD4<Double> {
        @inline(__always) func row(_ i: Int) -> SIMD4<Double> {
            let u = SIMD4(t.0[i], t.1[i], t.2[i], t.3[i]) + c * x[i]
            t.0[i] = u[0]; t.1[i] = u[1]; t.2[i] = u[2]; t.3[i] = u[3]
            return (firstIsY ? u[0] : y[i]) * u
        }
        _ = row(0)
        var sums = SIMD4<Double>()
        let offset = (Int(bitPattern: x) >> 3) & 3             // x's row 0 within its 32 bytes
        let head = Swift.min(count, 4 - offset)                 // rows 1 ..< head go one by one
        var i = 1
        while i < head { sums += row(i); i += 1 }
        let px = UnsafeRawPointer(x), py = UnsafeRawPointer(y)
        let p = (UnsafeMutableRawPointer(t.0), UnsafeMutableRawPointer(t.1), UnsafeMutableRawPointer(t.2),
                 UnsafeMutableRawPointer(t.3))
        let c0 = SIMD4(repeating: c[0]), c1 = SIMD4(repeating: c[1]), c2 = SIMD4(repeating: c[2]),
            c3 = SIMD4(repeating: c[3])
        var a = (SIMD4<Double>(), SIMD4<Double>(), SIMD4<Double>(), SIMD4<Double>()), b = a
        @inline(__always) func rows(_ o: Int, _ s: inout (SIMD4<Double>, SIMD4<Double>, SIMD4<Double>, SIMD4<Double>)) {
            @inline(__always) func column(_ pq: UnsafeMutableRawPointer) -> SIMD4<Double> {
                pq.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
            }
            let xv = px.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
            var u0 = column(p.0), u1 = SIMD4<Double>(), u2 = SIMD4<Double>(), u3 = SIMD4<Double>()
            if lanes > 1 { u1 = column(p.1) }
            if lanes > 2 { u2 = column(p.2) }
            if lanes > 3 { u3 = column(p.3) }
            if updates {
                u0 = u0.addingProduct(c0, xv)
                p.0.storeBytes(of: u0, toByteOffset: o, as: SIMD4<Double>.self)
                if lanes > 1 { u1 = u1.addingProduct(c1, xv); p.1.storeBytes(of: u1, toByteOffset: o, as: SIMD4<Double>.self) }
                if lanes > 2 { u2 = u2.addingProduct(c2, xv); p.2.storeBytes(of: u2, toByteOffset: o, as: SIMD4<Double>.self) }
                if lanes > 3 { u3 = u3.addingProduct(c3, xv); p.3.storeBytes(of: u3, toByteOffset: o, as: SIMD4<Double>.self) }
            }
            let yv = firstIsY ? u0 : py.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
            s.0.addProduct(yv, u0)
            if lanes > 1 { s.1.addProduct(yv, u1) }
            if lanes > 2 { s.2.addProduct(yv, u2) }
            if lanes > 3 { s.3.addProduct(yv, u3) }
        }
        while i + 8 <= count { rows(i * 8, &a); rows(i * 8 + 32, &b); i += 8 }
        if i + 4 <= count { rows(i * 8, &a); i += 4 }
        while i < count { sums += row(i); i += 1 }
        return sums + SIMD4((a.0 + b.0).sum(), (a.1 + b.1).sum(), (a.2 + b.2).sum(), (a.3 + b.3).sum())
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
}
