import CMPI

/// A message waiting to be received: who sent it, with which tag, how many bytes.
public struct MessageInfo: Sendable, Equatable {
    public let source: Int
    public let tag: Int
    public let byteCount: Int
}

extension Communicator {
    /// Sends `bytes` to rank `destination` with `tag` (blocking standard-mode send: returns
    /// once the buffer may be reused). The corresponding C function is `MPI_Send`.
    public func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws(MPIError) {
        let code = bytes.withUnsafeBufferPointer { p in
            MPI_Send(p.baseAddress, Int32(p.count), MPI_BYTE, Int32(destination), Int32(tag), raw)
        }
        try check(code, "MPI_Send")
    }

    /// Starts sending `bytes` to `destination` without waiting for it to be received; the
    /// returned ``PendingSend`` owns a copy of the bytes until ``PendingSend/isComplete()``
    /// says so. The corresponding C function is `MPI_Isend`.
    public func sendAsync(_ bytes: [UInt8], to destination: Int, tag: Int) throws(MPIError) -> PendingSend {
        let pending = PendingSend(bytes)
        let code = MPI_Isend(pending.buffer.baseAddress, Int32(bytes.count), MPI_BYTE, Int32(destination), Int32(tag),
                             raw, pending.request)
        try check(code, "MPI_Isend")
        return pending
    }

    /// The number of ranks on this rank's node (shared-memory domain).
    /// The corresponding C function is `MPI_Comm_split_type` with `MPI_COMM_TYPE_SHARED`.
    public func nodeSize() throws(MPIError) -> Int {
        var node: MPI_Comm? = nil
        try check(MPI_Comm_split_type(raw, Int32(MPI_COMM_TYPE_SHARED), 0, MPI_INFO_NULL, &node),
                  "MPI_Comm_split_type")
        defer { MPI_Comm_free(&node) }
        var size: Int32 = 0
        MPI_Comm_size(node, &size)
        return Int(size)
    }

    /// Whether a message is waiting, without receiving it (`source`/`tag` nil match any).
    /// The corresponding C function is `MPI_Iprobe`.
    public func poll(source: Int? = nil, tag: Int? = nil) throws(MPIError) -> MessageInfo? {
        var flag: Int32 = 0
        var status = MPI_Status()
        try check(MPI_Iprobe(Int32(source ?? Int(MPI_ANY_SOURCE)), Int32(tag ?? Int(MPI_ANY_TAG)), raw, &flag, &status),
                  "MPI_Iprobe")
        guard flag != 0 else { return nil }
        return try info(status)
    }

    /// Blocks until a message matching `source`/`tag` is waiting. The corresponding C function is `MPI_Probe`.
    public func wait(source: Int? = nil, tag: Int? = nil) throws(MPIError) -> MessageInfo {
        var status = MPI_Status()
        try check(MPI_Probe(Int32(source ?? Int(MPI_ANY_SOURCE)), Int32(tag ?? Int(MPI_ANY_TAG)), raw, &status),
                  "MPI_Probe")
        return try info(status)
    }

    /// Receives the message `message` describes (from a ``poll(source:tag:)`` or
    /// ``wait(source:tag:)``). The corresponding C function is `MPI_Recv`.
    public func receive(_ message: MessageInfo) throws(MPIError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: message.byteCount)
        let code = bytes.withUnsafeMutableBufferPointer { p in
            MPI_Recv(p.baseAddress, Int32(p.count), MPI_BYTE, Int32(message.source), Int32(message.tag), raw,
                     MPI_STATUS_IGNORE)
        }
        try check(code, "MPI_Recv")
        return bytes
    }

    /// Gathers a string from every rank at `root` (empty array elsewhere), in rank order.
    /// Strings are cut to 255 bytes. The corresponding C function is `MPI_Gather`.
    public func gather(_ text: String, root: Int) throws(MPIError) -> [String] {
        let width = 256
        var mine = [UInt8](repeating: 0, count: width)
        for (i, b) in text.utf8.prefix(width - 1).enumerated() { mine[i] = b }
        var all = [UInt8](repeating: 0, count: rank == root ? width * size : 0)
        let code = mine.withUnsafeBufferPointer { pm in
            all.withUnsafeMutableBufferPointer { pa in
                MPI_Gather(pm.baseAddress, Int32(width), MPI_BYTE, pa.baseAddress, Int32(width), MPI_BYTE,
                           Int32(root), raw)
            }
        }
        try check(code, "MPI_Gather")
        guard rank == root else { return [] }
        return (0..<size).map { r in
            let slice = all[(r * width)..<((r + 1) * width)]
            return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Terminates every process of the group with `code` as mpirun's exit status.
    /// The corresponding C function is `MPI_Abort`.
    public func abort(code: Int32) -> Never {
        MPI_Abort(raw, code)
        fatalError("MPI_Abort returned")
    }

    private func info(_ status: MPI_Status) throws(MPIError) -> MessageInfo {
        var count: Int32 = 0
        var s = status
        try check(MPI_Get_count(&s, MPI_BYTE, &count), "MPI_Get_count")
        return MessageInfo(source: Int(status.MPI_SOURCE), tag: Int(status.MPI_TAG), byteCount: Int(count))
    }
}

/// A send in flight: keeps its buffer (and its request, at a fixed address MPI may
/// write to) alive until MPI is done with it.
public final class PendingSend {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    let request: UnsafeMutablePointer<MPI_Request?>

    init(_ bytes: [UInt8]) {
        buffer = .allocate(capacity: max(bytes.count, 1))
        _ = buffer.initialize(from: bytes)
        request = .allocate(capacity: 1)
        request.initialize(to: MPI_REQUEST_NULL)
    }

    /// Whether the send has completed (then the buffer may be released).
    /// The corresponding C function is `MPI_Test`.
    public func isComplete() throws(MPIError) -> Bool {
        var flag: Int32 = 0
        try check(MPI_Test(request, &flag, MPI_STATUS_IGNORE), "MPI_Test")
        return flag != 0
    }

    /// Blocks until the send has completed. The corresponding C function is `MPI_Wait`.
    public func wait() throws(MPIError) {
        try check(MPI_Wait(request, MPI_STATUS_IGNORE), "MPI_Wait")
    }

    deinit {
        buffer.deallocate()
        request.deallocate()
    }
}
