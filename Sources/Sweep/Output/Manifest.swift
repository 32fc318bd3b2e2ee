import Ensembles
import Foundation
import LinearAlgebra
import MPI

/// The package version written into every manifest.
public let signalPropVersion = "0.1.0"

extension Campaign {
    /// The campaign with every default filled in, as a JSON-ready dictionary: two files
    /// that mean the same campaign normalise to the same object (and the same ``hash``).
    public var normalized: [String: Any] {
        var inputs: [String: Any]
        switch self.inputs {
        case .gram(let count, let q0, let c0): inputs = ["kind": "gram", "count": count, "q0": q0, "c0": c0]
        case .gaussian(let count, let q0): inputs = ["kind": "gaussian", "count": count, "q0": q0]
        case .circle(let count, let q0): inputs = ["kind": "circle", "count": count, "q0": q0]
        case .gaussianSignal(let count, let q0, let shape): inputs = ["kind": "gaussian", "count": count, "q0": q0, "shape": shape]
        case .file(let path, let rows, let q0), .signalFile(let path, let rows, let q0, _):
            inputs = ["kind": "file", "path": path, "rows": rows.count, "columns": rows.first?.count ?? 0,
                      "content_hash": FNV1a.hex(FNV1a.hash(rows.flatMap { $0.flatMap { v in
                          withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) } }))]
            if let q0 { inputs["q0"] = q0; inputs["normalize"] = true }
            if case .signalFile(_, _, _, let shape) = self.inputs { inputs["shape"] = shape }
        }
        var network: [String: Any] = ["architecture": grid.architecture.map(\.name), "init": grid.weightInit.map(\.rawValue),
                                      "weight_scaling": weightScaling.rawValue, "backend": backendChoice.rawValue]
        if let residual = grid.architecture.first(where: \.isResidual) { network["residual_scale"] = residual.residualScale }
        if grid.architecture.contains(where: \.normalizesResidual) { network["residual_normalize"] = true }
        for case .convolution(let k, _) in grid.architecture { network["kernel_size"] = k }
        return [
            "name": name, "seed": Int(seed), "samples": samples, "block": block, "precision": precision.rawValue,
            "grid": ["width": grid.width, "depth": grid.depth, "sigma_w": grid.sigmaW, "sigma_b": grid.sigmaB,
                     "activation": grid.activation.map(\.name)] as [String: Any],
            "network": network,
            "inputs": inputs,
            "observe": ManifestValue.table(observables.normalized).json,
        ]
    }

    /// FNV-1a (64-bit) of the normalised configuration's canonical JSON, in hex.
    public var hash: String {
        let data = (try? JSONSerialization.data(withJSONObject: normalized, options: [.sortedKeys])) ?? Data()
        return FNV1a.hex(FNV1a.hash(data))
    }
}

/// Software the run used, for the manifest and `bench`.
public enum SoftwareVersions {
    public static var swift: String {
        #if compiler(>=6.3)
        "6.3+"
        #elseif compiler(>=6.2)
        "6.2"
        #else
        "6.0–6.1"
        #endif
    }

    /// The CPU the engine was compiled for (Package.swift: `SIGNALPROP_PORTABLE`).
    public static var targetCPU: String {
        #if SIGNALPROP_NATIVE
        "native (the build host's CPU)"
        #else
        "baseline x86-64 (portable build)"
        #endif
    }

    public static var dictionary: [String: Any] {
        ["signalprop": signalPropVersion, "swift": swift, "openmpi": MPIRuntime.libraryVersion,
         "openblas": OpenBLAS.configuration, "openblas_core": OpenBLAS.coreName]
    }
}

/// `manifest.json`: what ran, on what, how long, and what went wrong where.
struct Manifest {
    let campaign: Campaign
    let configPath: String
    let started: Date
    let finished: Date
    let timings: RunTimings
    let hosts: [String]
    let points: [PreparedPoint]
    let statistics: [EnsembleStatistics]
    let theories: [PointTheory]
    let tasks: Int
    let journalNotes: [String]

    /// What is out of the ordinary at point i, each as (flag, warning): a quantity non-finite
    /// in some networks — "diverged" where the lengths overflowed, "vanished" where they
    /// underflowed to 0 (q itself finite, the ratios 0/0) —, a mean or standard error beyond
    /// Double's range ("overflow", written inf), and theory lengths beyond Double's range
    /// ("theory_overflow", written inf) or below its normal range ("theory_underflow",
    /// written 0 or a subnormal), and any other theory column beyond Double's range (such as
    /// the Jacobian's m2 = m1²·(m2/m1²), "theory_overflow"); correlations and other
    /// scale-free theory stay exact there.
    func findings(_ i: Int) -> [(flag: String, warning: String)] {
        var found: [(String, String)] = []
        let s = statistics[i], point = "point \(points[i].point.index)"
        let q = s.names.firstIndex(of: "q")
        for (k, name) in s.names.enumerated() {
            if let layer = s.moments[k].firstIndex(where: { $0.nonFinite > 0 }) {
                let worst = s.moments[k].map(\.nonFinite).max() ?? 0
                // q finite in every network where the ratio is not: the lengths did not overflow,
                // they reached 0 (overflowing lengths make q itself non-finite).
                let vanished = k != q && q.map { s.moments[$0][layer].nonFinite == 0 } == true
                let what = vanished ? "undefined from layer \(layer + 1): the lengths underflowed to 0 (a vanishing net)"
                                    : "diverged at layer \(layer + 1)"
                found.append((vanished ? "vanished" : "diverged",
                              "\(point): \(name) \(what) (non-finite in up to \(worst) of \(s.networks) networks; excluded from the means)"))
            }
            if let layer = s.moments[k].firstIndex(where: { m in
                m.count > 0 && (!m.mean.isFinite || !(m.standardError ?? 0).isFinite) }) {
                found.append(("overflow", "\(point): the mean or standard error of \(name) is beyond Double's range from layer "
                              + "\(layer + 1) (written inf)"))
            }
        }
        let layers = theories[i].layers
        if let l = layers.firstIndex(where: \.overflows) {
            found.append(("theory_overflow", "\(point): theory q beyond Double's range from layer \(layers[l].layer) "
                          + "(log10 q = \(Self.log10(layers[l].log2MeanQ)); written inf; correlations stay exact)"))
        }
        if let l = layers.firstIndex(where: \.underflows) {
            found.append(("theory_underflow", "\(point): theory q below Double's normal range from layer \(layers[l].layer) "
                          + "(log10 q = \(Self.log10(layers[l].log2MeanQ)); written 0 or a subnormal; correlations stay exact)"))
        }
        let theory = theories[i]
        for (k, name) in theory.names.enumerated() where name != "q" {
            if let l = theory.values[k].firstIndex(where: { $0.map { !$0.isFinite } == true }) {
                found.append(("theory_overflow", "\(point): theory \(name) beyond Double's range from layer \(l + 1) (written inf)"))
            }
        }
        return found
    }

    private static func log10(_ log2: Double) -> String { String(format: "%.2f", log2 * 0.301_029_995_663_981_2) }

    /// Every point's warnings, for the manifest and stderr.
    var pointWarnings: [String] { points.indices.flatMap { findings($0).map(\.warning) } }

    func json() throws(OutputError) -> String {
        let iso = ISO8601DateFormatter()
        var perPoint: [[String: Any]] = []
        for (i, p) in points.enumerated() {
            var flags: [String] = []
            for f in findings(i).map(\.flag) where !flags.contains(f) { flags.append(f) }
            perPoint.append(["point": p.point.index, "status": flags.isEmpty ? "ok" : flags.joined(separator: "+"),
                             "networks": statistics[i].networks, "backend": campaign.backend(for: p.point.network).rawValue])
        }
        let object: [String: Any] = [
            "signalprop_version": signalPropVersion,
            "config_path": configPath,
            "config": campaign.normalized,
            "config_hash": campaign.hash,
            "seed": Int(campaign.seed),
            "started": iso.string(from: started),
            "finished": iso.string(from: finished),
            "wall_seconds": timings.wallSeconds,
            "execution": ["ranks": hosts.count, "hosts": hosts, "threads_per_rank": timings.threadsPerRank,
                          "blas_threads_per_thread": OpenBLAS.threads, "tasks": tasks, "target_cpu": SoftwareVersions.targetCPU]
                .merging(timings.summary, uniquingKeysWith: { a, _ in a }),
            "software": SoftwareVersions.dictionary,
            "points": perPoint,
            "warnings": pointWarnings + journalNotes,
        ]
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            return String(decoding: data, as: UTF8.self) + "\n"
        } catch {
            throw OutputError(path: "manifest.json", reason: "cannot encode: \(error)")
        }
    }
}
