/// The n×n upper-triangular R of the thin QR of a tall m×n matrix X whose rows arrive a
/// block at a time and are never kept: R ← R of the stacked [R; next block] (the
/// sequential, "flat tree" TSQR of Demmel, Grigori, Hoemmen & Langou 2012, SIAM J. Sci.
/// Comput. 34, A206). Each stack fits in cache, so a 10⁶×8 X costs one pass over memory
/// instead of the ~2n passes of one Householder QR of X, and a producer can write each
/// block straight into the stack (``block``) while it is hot. Householder throughout
/// (``Matrix/householderTriangularize(_:rows:columns:leadingDimension:)``), so it keeps
/// the columns' relative accuracy as one QR of X does (RᵀR = XᵀX up to rounding), in
/// float64. Fewer than n rows in all are padded with zero rows.
///
/// Each fold's reflections flip the signs of R's rows (`β = −sign(α)‖·‖`, α = R_kk), so the
/// signs depend on how the rows were blocked; ``factor`` turns every row whose diagonal is
/// negative, giving the R with a non-negative diagonal — for X of full rank the unique one —
/// so that what is drawn from it (the implicit backend's `Z R`) does not depend on the
/// block size either.
public struct TriangularFactorStream: ~Copyable {
    /// n.
    public let columns: Int
    /// The most rows one ``fold(rows:)`` takes (``Matrix/streamedBlockRows(columns:)``).
    public let blockRows: Int
    /// Of the stack, column-major: a multiple of 4, so with the 64-byte aligned buffer every
    /// column starts on a 32-byte boundary and the reflections' vector loads never split a line.
    public let leadingDimension: Int
    private let stack: UnsafeMutablePointer<Double>
    /// One column of the stack's shape, where the reflections' unused lanes write.
    private let scratch: UnsafeMutablePointer<Double>
    /// Rows of R on top of the stack: 0 before the first block, then n.
    private var top = 0
    private var finite = true

    public init(columns n: Int) {
        precondition(n >= 1, "a factor needs at least one column")
        columns = n
        blockRows = Matrix<Double>.streamedBlockRows(columns: n)
        leadingDimension = (n + blockRows + 3) & ~3
        stack = UnsafeMutableRawPointer.allocate(byteCount: leadingDimension * n * 8, alignment: 64)
            .bindMemory(to: Double.self, capacity: leadingDimension * n)
        stack.initialize(repeating: 0, count: leadingDimension * n)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: leadingDimension * 8, alignment: 64)
            .bindMemory(to: Double.self, capacity: leadingDimension)
        scratch.initialize(repeating: 0, count: leadingDimension)
    }

    deinit {
        stack.deallocate()
        scratch.deallocate()
    }

    /// Where the next block goes: its column j at `block + j·leadingDimension`, up to
    /// ``blockRows`` rows, below the current R.
    public var block: UnsafeMutablePointer<Double> { stack + top }

    /// Folds the `count` rows written at ``block`` into R. False, and R no longer
    /// meaningful, once any row of X was non-finite (the reflections' first sums tell, in
    /// the same pass over the block that starts them).
    public mutating func fold(rows count: Int) -> Bool {
        precondition(count >= 1 && count <= blockRows, "a block holds 1…blockRows rows")
        let n = columns, lda = leadingDimension
        let height = Swift.max(top + count, n)
        for j in 0..<n { for i in (top + count)..<height { stack[j * lda + i] = 0 } }
        finite = finite && Matrix<Double>.householderTriangularize(stack, rows: height, columns: n,
                                                                   leadingDimension: lda, scratch: scratch)
        guard finite else { return false }
        top = n
        return true
    }

    /// R of the rows folded so far, its diagonal non-negative (zero before the first block);
    /// nil once one was non-finite.
    public var factor: Matrix<Double>? {
        guard finite else { return nil }
        var r = Matrix<Double>(rows: columns, columns: columns)
        for i in 0..<columns {
            let sign: Double = stack[i * leadingDimension + i] < 0 ? -1 : 1
            for j in i..<columns { r[i, j] = sign * stack[j * leadingDimension + i] }
        }
        return r
    }
}
