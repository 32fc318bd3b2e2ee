import CMPI

/// A process group: a typed wrapper over `MPI_Comm`.
///
/// `@unchecked Sendable`: MPI communicator handles are process-global immutable tokens;
/// the calls themselves are made from the thread that initialised MPI.
public struct Communicator: @unchecked Sendable {
    let raw: MPI_Comm

    /// This process's rank in the group. The corresponding C function is `MPI_Comm_rank`.
    public var rank: Int {
        var r: Int32 = 0
        MPI_Comm_rank(raw, &r)
        return Int(r)
    }

    /// The number of processes in the group. The corresponding C function is `MPI_Comm_size`.
    public var size: Int {
        var s: Int32 = 0
        MPI_Comm_size(raw, &s)
        return Int(s)
    }

    /// Blocks until every rank has called it. The corresponding C function is `MPI_Barrier`.
    public func barrier() throws(MPIError) {
        try check(MPI_Barrier(raw), "MPI_Barrier")
    }

    /// Element-wise reduction of `values` over all ranks, result on every rank.
    /// The corresponding C function is `MPI_Allreduce` (in place).
    public func allReduce<T: MPIScalar>(_ values: inout [T], _ op: ReductionOp) throws(MPIError) {
        let count = Int32(values.count)
        let code = values.withUnsafeMutableBufferPointer { buffer in
            MPI_Allreduce(MPI_IN_PLACE, buffer.baseAddress, count, T.mpiDatatype, op.raw, raw)
        }
        try check(code, "MPI_Allreduce")
    }

    /// Sends `value` from rank `root` to every rank. The corresponding C function is `MPI_Bcast`.
    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws(MPIError) {
        let count = Int32(values.count)
        let code = values.withUnsafeMutableBufferPointer { buffer in
            MPI_Bcast(buffer.baseAddress, count, T.mpiDatatype, Int32(root), raw)
        }
        try check(code, "MPI_Bcast")
    }
}

/// A reduction operation. The corresponding C handles are `MPI_SUM`, `MPI_MAX`, `MPI_MIN`.
public struct ReductionOp: @unchecked Sendable {
    let raw: MPI_Op
    public static var sum: ReductionOp { ReductionOp(raw: MPI_SUM) }
    public static var max: ReductionOp { ReductionOp(raw: MPI_MAX) }
    public static var min: ReductionOp { ReductionOp(raw: MPI_MIN) }
}

/// A Swift scalar type with a predefined MPI datatype.
public protocol MPIScalar {
    static var mpiDatatype: MPI_Datatype { get }
}
extension Double: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_DOUBLE } }
extension Float: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_FLOAT } }
extension Int64: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_INT64_T } }
extension UInt64: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_UINT64_T } }
extension Int32: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_INT32_T } }
