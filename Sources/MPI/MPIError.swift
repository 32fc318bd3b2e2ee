import CMPI

/// An error code returned by an MPI call, with the library's own description.
///
/// Communicators created by ``MPIRuntime`` carry `MPI_ERRORS_RETURN`, so a failing call
/// returns its code instead of aborting the job; every wrapper turns a code other than
/// `MPI_SUCCESS` into this error.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    /// The raw code returned by the call.
    public let code: Int32
    /// The name of the MPI function that failed, e.g. `MPI_Allreduce`.
    public let function: String
    /// `MPI_Error_string` of the code.
    public let message: String

    init(code: Int32, function: String) {
        self.code = code
        self.function = function
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING))
        var length: Int32 = 0
        if MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS {
            message = String(decoding: buffer[..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            message = "unknown MPI error"
        }
    }

    public var description: String { "\(function) failed (code \(code)): \(message)" }
}

/// Throws ``MPIError`` unless `code` is `MPI_SUCCESS`.
@inline(__always)
func check(_ code: Int32, _ function: String) throws(MPIError) {
    if code != MPI_SUCCESS { throw MPIError(code: code, function: function) }
}
