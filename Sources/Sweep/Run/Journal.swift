import Ensembles
import Foundation

/// FNV-1a, 64-bit (Fowler–Noll–Vo): a fast checksum and fingerprint, not a cryptographic hash.
enum FNV1a {
    static func hash<S: Sequence>(_ bytes: S, into h: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 where S.Element == UInt8 {
        var h = h
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    static func hex(_ h: UInt64) -> String {
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// A problem with the journal of an output folder.
public struct JournalError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// The checkpoint of a sweep: every finished task's partial statistics, appended by the
/// coordinator as tasks finish, so `--resume` can skip them after a crash or a kill.
///
/// `journal/tasks.journal` is a header (`SPJRNL02` + the campaign hash, 24 bytes) and
/// then records:
///
///     magic "SPR1" (u32) | task (u64) | length (u32) | payload (length bytes) | checksum (u64)
///
/// little-endian, the checksum FNV-1a over task, length and payload. Each record goes to
/// the operating system in one `write` as soon as its task is done, so it survives a
/// `kill -9` of the process. On resume a record that is cut short (a kill mid-write), has
/// a bad checksum or does not decode is reported and its task recomputed, never merged;
/// the journal is rewritten with the good records only. `journal/campaign.json` holds
/// the normalised campaign, to say what changed when a resume is refused.
struct Journal {
    static let fileMagic = Array("SPJRNL02".utf8)
    /// Format 01 held M2 where format 02 holds √(M2/n): its records are recomputed, never read.
    static let formerMagic = Array("SPJRNL01".utf8)
    static let recordMagic: UInt32 = 0x3152_5053  // "SPR1"
    static let recordOverhead = 4 + 8 + 4 + 8

    let directory: String
    private let handle: FileHandle

    var path: String { directory + "/tasks.journal" }

    /// What a resume found: the good partials by task, and notes on what was dropped.
    struct Recovered {
        var partials: [Int: [UInt8]] = [:]
        var notes: [String] = []
    }

    /// Starts a fresh journal (`hash` the campaign's), or, for a resume, keeps the good
    /// records of the existing one and returns them.
    static func open(outputDirectory: String, campaign: Campaign, resume: Bool,
                     decodable: (Int, [UInt8]) -> Bool) throws(JournalError) -> (Journal, Recovered) {
        let directory = outputDirectory + "/journal"
        let fm = FileManager.default
        let path = directory + "/tasks.journal"
        var recovered = Recovered()
        if resume {
            guard let data = fm.contents(atPath: path) else {
                throw JournalError(message: "\(path): no journal to resume from (run without --resume to start)")
            }
            let header = [UInt8](data.prefix(24))
            try checkSameCampaign(directory: directory, campaign: campaign, header: header)
            if Array(header.prefix(8)) == formerMagic {
                recovered.notes.append("\(path) was written by an older signalprop (journal format 01, whose partials hold "
                                       + "M2 instead of √(M2/n)): every task is recomputed")
            } else {
                recovered = scan([UInt8](data), decodable: decodable)
            }
        } else {
            try? fm.removeItem(atPath: directory)
        }
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let json = try JSONSerialization.data(withJSONObject: campaign.normalized, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(String(decoding: json, as: UTF8.self) + "\n", to: directory + "/campaign.json")
        } catch {
            throw JournalError(message: "\(directory): cannot write the journal (\(SystemMessage.describe(error)))")
        }
        var content = fileMagic + Array(campaign.hash.utf8)
        for task in recovered.partials.keys.sorted() { content += record(task: task, payload: recovered.partials[task]!) }
        do {
            try AtomicFile.write(Data(content), to: path)
        } catch {
            throw JournalError(message: "\(path): cannot create the journal (\(error.reason))")
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw JournalError(message: "\(path): cannot open the journal for appending")
        }
        _ = try? handle.seekToEnd()
        return (Journal(directory: directory, handle: handle), recovered)
    }

    /// Appends one finished task.
    func append(task: Int, payload: [UInt8]) throws(JournalError) {
        do {
            try handle.write(contentsOf: Data(Self.record(task: task, payload: payload)))
        } catch {
            throw JournalError(message: "\(path): cannot append task \(task): \(error)")
        }
    }

    func close() { try? handle.close() }

    static func record(task: Int, payload: [UInt8]) -> [UInt8] {
        var w = BinaryWriter(capacity: payload.count + recordOverhead)
        w.write(recordMagic)
        w.write(UInt64(task))
        w.write(UInt32(payload.count))
        w.write(payload)
        w.write(FNV1a.hash(w.bytes.dropFirst(4)))
        return w.bytes
    }

    /// Reads records until the end or until one cannot be delimited; a record whose
    /// checksum or payload is bad is skipped (its task is recomputed).
    static func scan(_ bytes: [UInt8], decodable: (Int, [UInt8]) -> Bool) -> Recovered {
        var out = Recovered()
        var r = BinaryReader(bytes, offset: min(bytes.count, 24))
        var index = 0
        while r.remaining > 0 {
            let start = r.offset
            guard r.remaining >= recordOverhead,
                  let magic = try? r.read(UInt32.self), magic == recordMagic,
                  let task = try? r.read(UInt64.self), let length = try? r.read(UInt32.self),
                  r.remaining >= Int(length) + 8, let payload = try? r.readBytes(Int(length)),
                  let checksum = try? r.read(UInt64.self) else {
                out.notes.append("journal record \(index) at byte \(start) is torn or unreadable (\(bytes.count - start) "
                                 + "bytes left); it and anything after it will be recomputed")
                break
            }
            let expected = FNV1a.hash(bytes[(start + 4)..<(start + 16 + Int(length))])
            if checksum != expected {
                out.notes.append("journal record \(index) (task \(task)) at byte \(start) fails its checksum; recomputing that task")
            } else if !decodable(Int(task), payload) {
                out.notes.append("journal record \(index) (task \(task)) does not fit this campaign; recomputing that task")
            } else if out.partials[Int(task)] == nil {
                out.partials[Int(task)] = payload
            }
            index += 1
        }
        return out
    }

    /// Refuses a resume whose campaign differs from the journal's, naming what changed.
    static func checkSameCampaign(directory: String, campaign: Campaign, header: [UInt8]) throws(JournalError) {
        guard header.count == 24, [fileMagic, formerMagic].contains(Array(header.prefix(8))) else {
            throw JournalError(message: "\(directory)/tasks.journal is not a SignalProp journal")
        }
        let recorded = String(decoding: header.suffix(16), as: UTF8.self)
        guard recorded != campaign.hash else { return }
        var changes: [String] = []
        if let data = FileManager.default.contents(atPath: directory + "/campaign.json"),
           let old = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            changes = differences(old, campaign.normalized, prefix: "")
        }
        let what = changes.isEmpty ? "" : ": " + changes.joined(separator: "; ")
        throw JournalError(message: "cannot resume: the campaign changed since the journal was written"
                           + "\(what). Run without --resume (and --force) to start over.")
    }

    /// Human-readable differences between two normalised campaigns.
    static func differences(_ old: [String: Any], _ new: [String: Any], prefix: String) -> [String] {
        var out: [String] = []
        for key in Set(old.keys).union(new.keys).sorted() {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch (old[key], new[key]) {
            case let (a as [String: Any], b as [String: Any]):
                out += differences(a, b, prefix: name)
            case let (a?, b?):
                let (sa, sb) = (render(a), render(b))
                if sa != sb { out.append("\(name) was \(sa), now \(sb)") }
            case (let a?, nil): out.append("\(name) was \(render(a)), now absent")
            case (nil, let b?): out.append("\(name) is new: \(render(b))")
            default: break
            }
        }
        return out
    }

    private static func render(_ v: Any) -> String {
        if let data = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(v)"
    }
}
