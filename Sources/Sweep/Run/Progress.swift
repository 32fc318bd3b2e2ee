import Foundation

/// Progress of a running sweep on stderr: tasks and networks done, networks/s, ETA.
/// On a terminal one line is redrawn in place; otherwise a line is printed every few seconds.
struct ProgressReporter: Sendable {
    let totalTasks: Int
    let totalNetworks: Int
    let start = ContinuousClock.now
    let interactive = isatty(2) != 0
    let enabled: Bool
    private(set) var lastPrint = ContinuousClock.now
    private(set) var tasks = 0
    private(set) var networks = 0

    init(totalTasks: Int, totalNetworks: Int, enabled: Bool) {
        self.totalTasks = totalTasks
        self.totalNetworks = totalNetworks
        self.enabled = enabled
    }

    var elapsed: Double { Self.seconds(ContinuousClock.now - start) }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    mutating func taskFinished(networks n: Int) {
        tasks += 1
        networks += n
        guard enabled else { return }
        let now = ContinuousClock.now
        let interval: Double = interactive ? 0.2 : 5
        if tasks == totalTasks || Self.seconds(now - lastPrint) >= interval {
            lastPrint = now
            emit(final: tasks == totalTasks)
        }
    }

    private func emit(final: Bool) {
        let t = elapsed
        let rate = t > 0 ? Double(networks) / t : 0
        let eta = rate > 0 ? Double(totalNetworks - networks) / rate : .infinity
        var line = "sweep: \(tasks)/\(totalTasks) tasks, \(networks)/\(totalNetworks) networks, "
            + "\(Self.format(rate)) networks/s, "
        line += final ? "done in \(Self.duration(t))" : "ETA \(Self.duration(eta))"
        let text = interactive ? "\r\u{1B}[K" + line + (final ? "\n" : "") : line + "\n"
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func format(_ x: Double) -> String {
        x >= 100 ? String(Int(x.rounded())) : String(Double(Int((x * 10).rounded())) / 10)
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let total = Int(s.rounded())
        if total < 60 { return s < 10 ? "\(format(s))s" : "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(total % 60)s" }
        return "\(total / 3600)h\((total % 3600) / 60)m"
    }
}
