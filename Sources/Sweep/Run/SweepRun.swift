import Ensembles
import Foundation
import LinearAlgebra
import MeanField
import MPI

/// Options of one `signalprop sweep` invocation beyond the campaign file itself.
public struct SweepOptions: Sendable {
    public var outputDirectory: String
    public var force: Bool
    public var resume: Bool
    /// Compute threads on rank 0 (nil: all cores on a single rank, 1 beside the
    /// coordinator when there are several ranks; 0: rank 0 only coordinates).
    public var threads: Int?
    public var showProgress: Bool
    public var configPath: String
    /// Per-rank memory limit in bytes (nil: available memory / ranks on this node).
    public var memoryLimit: Int?
    /// The shortest silence, in seconds, after which a worker rank is taken as stalled (``StallRule``).
    public var stallTimeout: Double

    public init(outputDirectory: String, force: Bool = false, resume: Bool = false, threads: Int? = nil,
                showProgress: Bool = true, configPath: String, memoryLimit: Int? = nil, stallTimeout: Double = 60) {
        self.outputDirectory = outputDirectory
        self.force = force
        self.resume = resume
        self.threads = threads
        self.showProgress = showProgress
        self.configPath = configPath
        self.memoryLimit = memoryLimit
        self.stallTimeout = stallTimeout
    }
}

/// Why a sweep did not start: refused before any work (exit status 2).
public struct SweepRefusal: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// A rank other than 0 stops because rank 0 refused the sweep; it has nothing to say.
public struct FollowerStop: Error, Sendable {
    public let status: Int32
}

/// What a finished sweep reports to the command line (on rank 0).
public struct SweepSummary: Sendable {
    public let points: Int
    public let networks: Int
    public let tasks: Int
    public let tasksFromJournal: Int
    public let seconds: Double
    /// Per-point findings: diverged or vanished quantities, values beyond Double's range.
    public let warnings: [String]
    /// Notes on journal records that were dropped on resume.
    public let journalNotes: [String]
    /// One line per rank: busy share of the wall time.
    public let utilisation: [String]
    /// Worker ranks that stopped answering (their tasks ran elsewhere; the tables are complete).
    public let stalled: [String]
}

/// A whole sweep on one or many ranks: rank 0 checks, journals, coordinates, computes and
/// writes; the other ranks serve tasks.
public struct SweepRun {
    public let campaign: Campaign
    public let options: SweepOptions
    public let world: Communicator

    public init(campaign: Campaign, options: SweepOptions, world: Communicator) {
        self.campaign = campaign
        self.options = options
        self.world = world
    }

    /// Compute threads on rank 0.
    var localThreads: Int {
        options.threads ?? (world.size == 1 ? Self.usableCores : 1)
    }

    /// Cores this process may run on: the affinity mask (`Cpus_allowed` in
    /// /proc/self/status, so `mpirun --bind-to core` and `taskset` count), else the
    /// online processors.
    public static var usableCores: Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) {
            let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
            let count = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
            if count > 0 { return count }
        }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    /// Runs the sweep. Rank 0 returns the summary; other ranks return nil when done.
    public func run() throws -> SweepSummary? {
        // One BLAS thread per compute thread: ranks and threads already fill the cores, and
        // a fixed thread count keeps every GEMM's rounding, hence the tables, reproducible.
        OpenBLAS.threads = 1
        try checkSameCampaignOnEveryRank()
        let ranksOnNode = try world.nodeSize()  // collective: every rank calls it
        let catalog = TaskCatalog(campaign: campaign)
        var refusal: SweepRefusal?
        var opened: (Journal, Journal.Recovered)?
        var lock: OutputLock?
        if world.rank == 0 {
            do {
                let mode: StartMode
                (mode, lock) = try preflight(catalog: catalog, ranksOnNode: ranksOnNode)
                if lock == nil { lock = try createFolder() }
                opened = try openJournal(catalog: catalog, mode: mode)
            } catch let error as SweepRefusal {
                refusal = error
            } catch let error as JournalError {
                refusal = SweepRefusal(message: error.message)
            }
        }
        var status: [Int32] = [refusal == nil ? 0 : 2]
        try world.broadcast(&status, root: 0)
        if let refusal { throw refusal }
        guard status[0] == 0 else { throw FollowerStop(status: status[0]) }
        let hosts = try world.gather(MPIRuntime.processorName, root: 0)
        guard world.rank == 0, let (journal, recovered) = opened else {
            try Worker.serve(catalog: catalog, world: world)
            return nil
        }
        defer { journal.close() }
        // The folder stays locked until the tables are written.
        return try withExtendedLifetime(lock) {
            try coordinate(catalog: catalog, journal: journal, recovered: recovered, hosts: hosts)
        }
    }

    /// How rank 0 starts on its output folder.
    enum StartMode: Equatable {
        case fresh
        case resume
        /// `--resume` of a folder a kill left before its journal existed: started over.
        case restart(note: String)
    }

    /// Every rank read its own copy of the campaign (and input file): refuse to mix
    /// results if any copy differs from rank 0's.
    func checkSameCampaignOnEveryRank() throws {
        guard world.size > 1 else { return }
        let hash = UInt64(campaign.hash, radix: 16) ?? 0
        var low: [UInt64] = [hash], high: [UInt64] = [hash]
        try world.allReduce(&low, .min)
        try world.allReduce(&high, .max)
        guard low == high else {
            throw SweepRefusal(message: "the ranks read different campaigns (hashes differ): is \(options.configPath) "
                               + "or its input file different on some node?")
        }
    }

    /// Checks on rank 0 before anything is written: the output folder (locked first, so a
    /// second run on it is told so before anything else), whether there is anything to
    /// resume, and the memory guard.
    func preflight(catalog: TaskCatalog, ranksOnNode: Int) throws(SweepRefusal) -> (StartMode, OutputLock?) {
        let fm = FileManager.default
        let out = options.outputDirectory
        guard !out.isEmpty else { throw SweepRefusal(message: "--out is empty: name the folder for the results") }
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: out, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue { throw SweepRefusal(message: "\(out): exists and is not a folder") }
        let lock = exists ? try OutputLock(directory: out) : nil
        var mode = StartMode.fresh
        if options.resume {
            guard exists else { throw SweepRefusal(message: "\(out): nothing to resume (no such folder)") }
            if !fm.fileExists(atPath: out + "/journal/tasks.journal") {
                guard OutputFolder.holdsOnlyRunFiles(out) else {
                    throw SweepRefusal(message: "\(out): nothing to resume (no journal), and it holds files signalprop "
                                       + "did not write; choose another --out")
                }
                mode = .restart(note: "\(out) has no journal (the run was killed during start-up): starting from the beginning")
            } else {
                mode = .resume
            }
        } else if exists && !options.force {
            throw SweepRefusal(message: "\(out): already exists; choose another --out, pass --force to overwrite it, "
                               + "or --resume to continue a killed run")
        }
        let estimate = MemoryEstimate(campaign: campaign, threads: max(localThreads, 1))
        let limit = options.memoryLimit ?? MemoryEstimate.defaultLimit(ranksOnNode: ranksOnNode)
        if let limit, estimate.bytesPerRank > limit {
            throw SweepRefusal(message: "estimated memory per rank \(MemoryEstimate.format(estimate.bytesPerRank)) "
                               + "(\(estimate.largest)) exceeds the limit \(MemoryEstimate.format(limit))"
                               + (options.memoryLimit == nil ? " (available memory / ranks on this node)" : "")
                               + "; pass --memory-limit to override")
        }
        let disk = estimate.perNetworkDiskBytes
        if disk > 0, let free = MemoryEstimate.freeDisk(at: out), disk > free {
            throw SweepRefusal(message: "observe.per_network: networks.csv and the journal would take about "
                               + "\(MemoryEstimate.format(disk)), more than the \(MemoryEstimate.format(free)) free "
                               + "where \(out) is; sample fewer networks or drop per_network")
        }
        if campaign.observables.perNetwork, let point = campaign.points.max(by: { $0.network.depth < $1.network.depth }) {
            let perTask = campaign.block * campaign.observables.names(campaign.shape(point.network)).count * point.network.depth * 8
            if perTask >= Int(UInt32.max) / 2 {
                throw SweepRefusal(message: "observe.per_network: a task of \(campaign.block) networks carries "
                                   + "\(MemoryEstimate.format(perTask)) of values, beyond a journal record's 2 GiB; use a smaller block")
            }
        }
        return (mode, lock)
    }

    /// Creates the output folder of a fresh run and locks it.
    func createFolder() throws(SweepRefusal) -> OutputLock {
        let out = options.outputDirectory
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw SweepRefusal(message: "\(out): cannot create the output folder (\(SystemMessage.describe(error)))")
        }
        return try OutputLock(directory: out)
    }

    /// Clears what a fresh start must not keep (an earlier campaign's tables, a killed run's
    /// temporaries) and opens the journal.
    func openJournal(catalog: TaskCatalog, mode: StartMode) throws(JournalError) -> (Journal, Journal.Recovered) {
        let out = options.outputDirectory
        OutputFolder.removeTemporaries(out)
        if mode != .resume {  // a fresh run: no table of an earlier campaign may survive a kill of this one
            for table in ["points.csv", "layers.csv", "spectra.csv", "manifest.json"] {
                try? FileManager.default.removeItem(atPath: out + "/" + table)
            }
        }
        var (journal, recovered) = try Journal.open(outputDirectory: out, campaign: campaign, resume: mode == .resume,
                                                    decodable: { catalog.decode(task: $0, payload: $1) != nil })
        if case .restart(let note) = mode { recovered.notes.append(note) }
        return (journal, recovered)
    }

    private func coordinate(catalog: TaskCatalog, journal: Journal, recovered: Journal.Recovered,
                            hosts: [String]) throws -> SweepSummary {
        let started = Date()
        for note in recovered.notes { FileHandle.standardError.write(Data("warning: \(note)\n".utf8)) }
        var partials: [Int: EnsembleStatistics] = [:], theories: [Int: PointTheory] = [:]
        for (task, payload) in recovered.partials {
            switch catalog.decode(task: task, payload: payload) {
            case .theory(let theory): theories[catalog.theoryPoint(ofTask: task)!] = theory
            case .partial(let partial): partials[task] = partial
            case nil: preconditionFailure("the journal kept a record of task \(task) that does not decode")
            }
        }
        if options.showProgress, !recovered.partials.isEmpty {
            FileHandle.standardError.write(Data(("resume: \(partials.count) of \(catalog.count) sampling tasks and "
                                                 + "\(theories.count) of \(catalog.points.count) theories from the journal\n").utf8))
        }
        let coordinator = Coordinator(catalog: catalog, world: world, localThreads: localThreads, journal: journal,
                                      showProgress: options.showProgress, stallTimeout: options.stallTimeout)
        var timings = RunTimings()
        let (statistics, theoryList) = try coordinator.run(recovered: partials, recoveredTheories: theories, timings: &timings)
        let prepared = try catalog.points.indices.map { try catalog.prepared($0) }
        let out = options.outputDirectory
        let tables = Tables(campaign: campaign, points: prepared, theories: theoryList, statistics: statistics)
        try AtomicFile.write(tables.pointsCSV(), to: out + "/points.csv")
        try AtomicFile.write(tables.layersCSV(), to: out + "/layers.csv")
        if campaign.observables.perNetwork {
            try AtomicFile.write(tables.networksCSV(), to: out + "/networks.csv")
            try AtomicFile.write(tables.quantilesCSV(), to: out + "/quantiles.csv")
        }
        let stalled = timings.stalled.map { $0.description(host: $0.rank < hosts.count ? hosts[$0.rank] : nil) }
        let theoryNotes = theoryList.enumerated().flatMap { i, t in t.notes.map { "point \(i): \($0)" } }
        if let first = catalog.points.first, !campaign.observables.histograms(campaign.shape(first.network)).isEmpty {
            try AtomicFile.write(tables.spectraCSV(), to: out + "/spectra.csv")
        }
        let manifest = Manifest(campaign: campaign, configPath: options.configPath, started: started, finished: Date(),
                                timings: timings, hosts: hosts, points: prepared, statistics: statistics,
                                theories: theoryList, tasks: catalog.count,
                                journalNotes: recovered.notes + theoryNotes + stalled)
        try AtomicFile.write(try manifest.json(), to: out + "/manifest.json")
        return SweepSummary(points: prepared.count, networks: campaign.samples * prepared.count, tasks: catalog.count,
                            tasksFromJournal: timings.tasksFromJournal, seconds: timings.wallSeconds,
                            warnings: manifest.pointWarnings, journalNotes: recovered.notes,
                            utilisation: Self.utilisationLines(timings, hosts: hosts), stalled: stalled)
    }

    static func utilisationLines(_ t: RunTimings, hosts: [String]) -> [String] {
        t.busy.indices.map { r in
            let share = t.wallSeconds > 0 ? min(1, t.busy[r] / (t.wallSeconds * Double(max(t.threadsPerRank[r], 1)))) : 0
            let filled = Int((share * 20).rounded())
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 20 - filled)
            let host = r < hosts.count ? hosts[r] : "?"
            return "rank \(r) (\(host), \(t.threadsPerRank[r]) thread\(t.threadsPerRank[r] == 1 ? "" : "s")): \(bar) "
                + "\(Int((share * 100).rounded()))% busy"
        }
    }
}
