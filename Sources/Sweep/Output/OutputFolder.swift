import Foundation

/// An exclusive claim on an output folder for the life of the run: `flock` on
/// `DIR/.signalprop.lock`, which holds the owner's host and pid. The kernel drops the lock
/// when the process ends however it ends (kill -9 included), so a stale file never blocks
/// a rerun; a second run on the same folder is refused at once instead of racing the first
/// one's renames.
final class OutputLock {
    static let fileName = ".signalprop.lock"
    private let descriptor: Int32

    /// Takes the lock of the existing folder `directory`; throws naming the holder when
    /// another process has it.
    init(directory: String) throws(SweepRefusal) {
        let path = directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SweepRefusal(message: "\(directory): cannot create its lock file (\(SystemMessage.text(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw SweepRefusal(message: "\(directory): in use by another run (\(holder.map { $0.isEmpty ? "" : $0 } ?? "")); "
                               + "wait for it to finish or choose another --out")
        }
        let owner = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
        _ = ftruncate(fd, 0)
        _ = owner.withCString { pwrite(fd, $0, strlen($0), 0) }
        descriptor = fd
    }

    deinit { close(descriptor) }
}

/// What a start finds in its output folder.
enum OutputFolder {
    /// Names a run writes at the top of its folder (tables, manifest, journal, lock).
    static let ownNames: Set<String> = ["points.csv", "layers.csv", "spectra.csv", "manifest.json", "journal",
                                        "figures", OutputLock.fileName]

    /// Whether every entry of `directory` is one a run writes (or a temporary of one), so a
    /// folder left by a kill during start-up can be started over without losing anyone's files.
    static func holdsOnlyRunFiles(_ directory: String) -> Bool {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        return entries.allSatisfy { ownNames.contains($0) || isTemporary($0) }
    }

    /// `X.tmp`: an ``AtomicFile`` temporary a kill left before its rename.
    static func isTemporary(_ name: String) -> Bool { name.hasSuffix(".tmp") }

    /// Removes the temporaries a killed run left in `directory` and its journal.
    static func removeTemporaries(_ directory: String) {
        let fm = FileManager.default
        for folder in [directory, directory + "/journal"] {
            for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where isTemporary(name) {
                try? fm.removeItem(atPath: folder + "/" + name)
            }
        }
    }
}

/// Plain-language text for a system error number (`strerror`), with the common cases
/// said the way a user would.
enum SystemMessage {
    static func text(_ code: Int32) -> String {
        switch code {
        case ENOSPC: "the disk is full"
        case EDQUOT: "the disk quota is exceeded"
        case EACCES, EPERM: "permission denied"
        case EROFS: "the file system is read-only"
        case ENOENT: "no such file or folder"
        case ENOTDIR: "a part of the path is not a folder"
        case EISDIR: "it is a folder"
        default: String(cString: strerror(code))
        }
    }
}

extension SystemMessage {
    /// An error from Foundation's file calls in plain words: its POSIX cause where it has
    /// one (Foundation's own codes and domains are not for users).
    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if let posix = (ns.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap({ $0.domain == NSPOSIXErrorDomain ? $0 : nil }) {
            return text(Int32(posix.code))
        }
        if ns.domain == NSPOSIXErrorDomain { return text(Int32(ns.code)) }
        switch ns.code {
        case NSFileWriteOutOfSpaceError: return text(ENOSPC)
        case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: return text(EACCES)
        case NSFileWriteVolumeReadOnlyError: return text(EROFS)
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return text(ENOENT)
        default: return ns.localizedDescription
        }
    }
}
