import Foundation
import RummageCore
import Training

/// One recorded `evaluate` or `train` run: what was run on what, with which settings, what it measured,
/// how training went and what it wrote.
public struct TrackedRun: Codable, Sendable, Equatable {
    /// Assigned by the store: 1, 2, … in the order runs were recorded.
    public var id: Int
    /// `evaluate` or `train`.
    public var command: String
    /// Model kind and its full settings (defaults included), seed among them.
    public var kind: String
    public var settings: [String: String]
    public var dataset: String
    public var threads: Int
    /// Offline metrics (evaluate) of the split's protocol.
    public var metrics: [String: Double]
    /// Per-epoch figures (loss, validation metrics).
    public var history: [TrainingHistory.Step]
    /// Written file → SHA-256 (train's artifact).
    public var artifacts: [String: String]
    /// For an imported model: where it came from (the hand-off's notes).
    public var source: [String: String]?
    public var codeVersion: String
    public var hardware: String
    /// ISO 8601 time the run finished, and its duration.
    public var finishedAt: String
    public var seconds: Double

    public init(command: String, kind: String, settings: [String: String], dataset: String, threads: Int, metrics: [String: Double],
                history: [TrainingHistory.Step], artifacts: [String: String], source: [String: String]?, codeVersion: String,
                hardware: String, seconds: Double) {
        id = 0
        self.command = command
        self.kind = kind
        self.settings = settings
        self.dataset = dataset
        self.threads = threads
        self.metrics = metrics
        self.history = history
        self.artifacts = artifacts
        self.source = source
        self.codeVersion = codeVersion
        self.hardware = hardware
        finishedAt = ISO8601DateFormatter().string(from: Date())
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case id, command, kind, settings, dataset, threads, metrics, history, artifacts, source, hardware, seconds
        case codeVersion = "code_version", finishedAt = "finished_at"
    }
}

/// The registry's run store: `REGISTRY/runs/N/run.json`, one directory per recorded run. A run's number
/// is claimed by creating its directory (atomic), so concurrent recorders never share one; the file is
/// written aside and renamed into place.
public struct RunStore: Sendable {
    public let root: String

    public init(registry: ModelRegistry) { root = registry.root + "/runs" }

    /// Stores `run` under the next free number and returns it as stored.
    public func record(_ run: TrackedRun) throws(RegistryError) -> TrackedRun {
        var stored = run
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw RegistryError("\(root): cannot create: \(error.localizedDescription)")
        }
        var id = (ids().last ?? 0) + 1
        while mkdir(root + "/\(id)", 0o755) != 0 {
            guard errno == EEXIST else { throw RegistryError("\(root)/\(id): cannot create: \(String(cString: strerror(errno)))") }
            id += 1
        }
        stored.id = id
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = root + "/\(id)/run.json"
        do {
            try encoder.encode(stored).write(to: URL(fileURLWithPath: path + ".tmp"))
            try FileManager.default.moveItem(atPath: path + ".tmp", toPath: path)
        } catch {
            throw RegistryError("\(path): cannot write: \(error.localizedDescription)")
        }
        return stored
    }

    /// Recorded run numbers, ascending.
    public func ids() -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
    }

    public func run(_ id: Int) throws(RegistryError) -> TrackedRun {
        let path = root + "/\(id)/run.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RegistryError("no run \(id) in \(root) (runs: \(ids().map(String.init).joined(separator: ", ")))")
        }
        do { return try JSONDecoder().decode(TrackedRun.self, from: data) } catch {
            throw RegistryError("\(path): not a run record: \(error)")
        }
    }

    /// Every complete run, ascending (a number whose file is not written yet is skipped).
    public func runs() -> [TrackedRun] { ids().compactMap { try? run($0) } }
}
