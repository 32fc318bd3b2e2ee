import Randomness

/// A ``BLASScalar`` that a ``RandomStream`` can fill with standard normals.
public protocol GaussianFillable {
    /// Writes elements `index ..< index + out.count` of `stream`'s standard-normal
    /// sequence, times `scale`, into `out`.
    static func fillStandardNormal(_ stream: RandomStream, _ out: UnsafeMutableBufferPointer<Self>,
                                   from index: Int, scale: Self)
}

extension Double: GaussianFillable {
    @inline(__always)
    public static func fillStandardNormal(_ stream: RandomStream, _ out: UnsafeMutableBufferPointer<Double>,
                                          from index: Int, scale: Double) {
        stream.fillStandardNormal(out, from: index, scale: scale)
    }
}

extension Float: GaussianFillable {
    @inline(__always)
    public static func fillStandardNormal(_ stream: RandomStream, _ out: UnsafeMutableBufferPointer<Float>,
                                          from index: Int, scale: Float) {
        stream.fillStandardNormal(out, from: index, scale: scale)
    }
}

extension Matrix where T: GaussianFillable {
    /// A matrix of iid `N(0, scale²)` entries: element `(i, j)` is element `i + j·rows`
    /// of `stream`, so any block of columns can be regenerated on its own.
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public static func gaussian(rows: Int, columns: Int, scale: T = 1, stream: RandomStream) -> Matrix {
        var m = Matrix(rows: rows, columns: columns)
        m.elements.withUnsafeMutableBufferPointer { T.fillStandardNormal(stream, $0, from: 0, scale: scale) }
        return m
    }

    /// A Haar-distributed `rows × columns` matrix with orthonormal columns (`rows ≥ columns`):
    /// the Q factor of a Gaussian matrix `G = QR` with the signs of diag(R) folded into Q
    /// (Mezzadri 2007, "How to generate random matrices from the classical compact groups").
    /// Without the sign fix, Q is not Haar (its distribution depends on LAPACK's convention).
    @_specialize(exported: true, where T == Double)
    @_specialize(exported: true, where T == Float)
    public static func haarOrthogonal(rows: Int, columns: Int, stream: RandomStream) throws(LAPACKError) -> Matrix {
        precondition(rows >= columns, "Haar frame needs rows ≥ columns")
        var (q, r) = try gaussian(rows: rows, columns: columns, stream: stream).qr()
        for j in 0..<columns where r[j, j] < 0 {
            for i in 0..<rows { q[i, j] = -q[i, j] }
        }
        return q
    }
}
