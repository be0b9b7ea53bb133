import Foundation

/// Everything needed to say what a model version is and where it came from, stored as
/// `manifest.json` beside its artifacts. Written once, when the version is registered.
public struct Manifest: Codable, Sendable, Equatable {
    /// Registered model name (e.g. `marketplace-two-tower`) and version number (1, 2, …).
    public var model: String
    public var version: Int
    /// Model kind (`two-tower`, `ials`, …) and its full settings, defaults included.
    public var kind: String
    public var configuration: [String: String]
    public var seed: UInt64
    public var threads: Int
    /// SHA-256 of the training data files and the split parameters.
    public var dataFingerprint: String
    /// What the data was (dataset spec) and how it was split.
    public var data: String
    public var featureSetVersion: String?
    /// The catalogue schema's version (`CatalogueSchema.version`) the data was read with.
    public var schemaVersion: String?
    /// For data read from an event log: its last sequence number then (what a retraining resumes from).
    public var logSequence: Int64?
    public var codeVersion: String
    public var toolchain: String
    public var hardware: String
    /// Metrics overall and per slice (`recall@20`, `recall@20[cold]`, …).
    public var metrics: [String: Double]
    /// File name → SHA-256 of every artifact in the version directory.
    public var artifacts: [String: String]
    /// ISO 8601 time of registration.
    public var createdAt: String
    /// The version this one was compared with (the champion at the time), if any.
    public var parent: Int?
    /// Whether the gate blessed it, and the gate report's file name.
    public var blessed: Bool
    public var gateReport: String?
    /// For a model trained elsewhere and imported (a hand-off): where it came from and the parity measured
    /// at import (`handoff_sha256`, `producer`, `parity_max_abs_error`, …). Nil for models trained here.
    public var source: [String: String]?

    public init(model: String, version: Int, kind: String, configuration: [String: String], seed: UInt64, threads: Int,
                dataFingerprint: String, data: String, featureSetVersion: String?, codeVersion: String, toolchain: String,
                hardware: String, metrics: [String: Double], artifacts: [String: String], createdAt: String, parent: Int?,
                blessed: Bool, gateReport: String?) {
        self.model = model
        self.version = version
        self.kind = kind
        self.configuration = configuration
        self.seed = seed
        self.threads = threads
        self.dataFingerprint = dataFingerprint
        self.data = data
        self.featureSetVersion = featureSetVersion
        self.codeVersion = codeVersion
        self.toolchain = toolchain
        self.hardware = hardware
        self.metrics = metrics
        self.artifacts = artifacts
        self.createdAt = createdAt
        self.parent = parent
        self.blessed = blessed
        self.gateReport = gateReport
    }

    /// Fills in where the data came from: the schema it was read with and, for an event log, its position.
    public func withData(schemaVersion: String?, logSequence: Int64?) -> Manifest {
        var manifest = self
        manifest.schemaVersion = schemaVersion
        manifest.logSequence = logSequence
        return manifest
    }

    enum CodingKeys: String, CodingKey {
        case model, version, kind, configuration, seed, threads, data, toolchain, hardware, metrics, artifacts, parent, blessed
        case dataFingerprint = "data_fingerprint", featureSetVersion = "feature_set_version", codeVersion = "code_version"
        case createdAt = "created_at", gateReport = "gate_report", schemaVersion = "schema_version", logSequence = "log_sequence"
        case source
    }

    /// Pretty, key-sorted JSON (stable bytes for equal manifests).
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}
