import Backends
import BuildInfo
import Catalogue
import Datasets
import Evaluation
import Features
import Foundation
import LinearAlgebra
import Registry
import RummageCore
import Training
import VectorSearch

/// What a pipeline run produced.
public struct PipelineResult: Sendable {
    public var manifest: Manifest
    public var gate: GateReport
    public var registry: String
    public var modelSHA256: String
}

/// The training pipeline as named steps, each a function with typed inputs and outputs:
///
/// ```
/// snapshot → train → evaluate → (refit) → index → gate → register → promote
/// ```
///
/// `snapshot` fixes the data (generated, files, or the event log as of a time) and its fingerprint; a
/// refit trains the registered model on everything up to as-of with the same settings; `train` reads the model kind's settings and trains
/// (point-in-time features are built there, by the kind that reads them); `evaluate` runs the split's
/// own protocol; `index` saves the model and writes the serving bundle (`ServingBundle`: embeddings and
/// an HNSW index over the live listings, stamped with the model's SHA-256), with the gate's own checks;
/// `gate` compares with the champion; `register` stores the version with its manifest, gate report and
/// HTML report; `promote` moves the alias when the version is blessed. `run` chains them.
public struct Pipeline: Sendable {
    public let config: PipelineConfig
    public let progress: @Sendable (String) -> Void

    public init(config: PipelineConfig, progress: @escaping @Sendable (String) -> Void) {
        self.config = config
        self.progress = progress
    }

    /// The data a run trains and evaluates on, and its fingerprint.
    public struct Snapshot: Sendable {
        /// What the data is: `synthetic:DIR`, or `log:URI as of T`.
        public var description: String
        public var split: Split
        public var fingerprint: String
        /// The catalogue schema the data was read with.
        public var schema: CatalogueSchema
        /// For an event log: its last sequence number when read.
        public var logSequence: Int64?
    }

    /// A trained model that saves and has embeddings, with what produced it.
    public struct TrainedModel: Sendable {
        public var kind: String
        public var model: any PersistentRecommender & EmbeddingModel
        public var parameters: HyperParameters
        public var seed: UInt64
        public var threads: Int
        public var history: TrainingHistory
    }

    /// Offline metrics on the split's protocol, and the users it evaluated.
    public struct Evaluation: Sendable {
        public var metrics: [String: Double]
        public var protocolUsers: [UserIndex]
    }

    /// The staged artifacts of a version (file name → path), and what the gate and the report need.
    public struct Artifacts: Sendable {
        public var files: [String: String]
        public var modelSHA256: String
        /// The search width the index serves with, chosen for the gate's recall target, and the recall it
        /// measured there (metrics `index_recall@20`, `index_recall@20[filtered]`, `index_search_width`).
        public var indexCalibration: SearchWidthCalibration
        public var loadsAndAnswers: (passed: Bool, detail: String)
        public var latencyP99Milliseconds: Double
        public var index: HNSWIndex
    }

    // MARK: Steps

    /// Generates the configured marketplace (deterministic by seed), opens the configured dataset, or
    /// reads the marketplace's event log as of a time (`EventLogSplit`), and fingerprints the data.
    public static func snapshot(_ data: PipelineConfig.DataSource, progress: @Sendable (String) -> Void) throws -> Snapshot {
        if let location = data.log {
            let schema = try data.schema.map { path throws(SchemaError) in try CatalogueSchema.load(path: path) } ?? .secondhandFashion
            let log = try openExistingEventLog(location)
            let read = try EventLogSplit.load(log: log, location: location, schema: schema, asOf: data.asOf, windowDays: data.windowDays)
            progress("pipeline: \(location) as of \(read.asOf) (sequence \(read.lastSequence)), schema \(schema.name); "
                     + "data fingerprint \(read.fingerprint.prefix(16))…"
                     + (read.unknownListingInteractions > 0 ? "; \(read.unknownListingInteractions) interactions with unknown listings skipped" : ""))
            return Snapshot(description: "log:\(location) as of \(read.asOf)", split: read.split, fingerprint: read.fingerprint,
                            schema: schema, logSequence: read.lastSequence)
        }
        let directory: String
        if let g = data.generate {
            progress("pipeline: generating the marketplace in \(g.out)")
            let marketplace = MarketplaceGenerator(.init(users: g.users, listings: g.items, events: g.events, days: g.days ?? 90,
                                                         seed: g.seed)).generate()
            try marketplace.write(to: g.out)
            directory = g.out
        } else {
            let spec = try DatasetSpec(parsing: data.dataset!)
            guard case .synthetic(let dir) = spec else {
                throw DataError(.invalidArgument, "pipelines take synthetic:DIR data or an event log, not '\(spec)'")
            }
            directory = dir
        }
        let dataset = DatasetSpec.synthetic(directory: directory)
        let fingerprint = try fingerprint(directory: directory)
        progress("pipeline: data fingerprint \(fingerprint.prefix(16))…")
        return Snapshot(description: "\(dataset)", split: try dataset.load(), fingerprint: fingerprint, schema: .secondhandFashion,
                        logSequence: nil)
    }

    /// The snapshot with every interaction up to its as-of in training and nothing held out: what a refit
    /// trains on (its candidates are the listings still for sale).
    public static func refitSnapshot(_ snapshot: Snapshot) -> Snapshot {
        guard let data = snapshot.split.marketplace?.data else { return snapshot }
        var refit = snapshot
        refit.split = SyntheticSplit.split(data, trainFraction: 1, slices: snapshot.schema.slices, source: snapshot.description)
        return refit
    }

    /// Trains `spec.kind` with its settings (and `seed`) on the snapshot's training part.
    public static func train(_ spec: PipelineConfig.TrainSpec, on snapshot: Snapshot, progress: @escaping @Sendable (String) -> Void)
        throws -> TrainedModel {
        let seed = spec.seed ?? 42, threads = spec.threads ?? 1
        var settings = spec.settings ?? [:]
        settings["seed"] = String(seed)
        let parameters = HyperParameters(settings.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) })
        let clock = Stopwatch(), history = TrainingHistory()
        let trained = try ModelCatalog.train(spec.kind, settings: parameters, split: snapshot.split, threads: threads, progress: progress,
                                             history: history)
        guard let model = trained as? any PersistentRecommender & EmbeddingModel else {
            throw TrainingError(.invalidHyperParameter, "\(spec.kind) models cannot be deployed (no saved form with embeddings)")
        }
        progress("pipeline: trained \(spec.kind) in \(formattedSeconds(clock.elapsedSeconds))")
        return TrainedModel(kind: spec.kind, model: model, parameters: parameters, seed: seed, threads: threads, history: history)
    }

    /// The split's own protocol (full ranking over the listings still for sale) on the trained model.
    public static func evaluate(_ trained: TrainedModel, on snapshot: Snapshot, progress: @Sendable (String) -> Void) throws -> Evaluation {
        guard case .fullRanking(let protocolRun) = snapshot.split.evaluation else {
            throw DataError(.invalidArgument, "pipelines evaluate with full ranking (synthetic:DIR data)")
        }
        let model = trained.model
        let report = protocolRun.evaluate(threads: trained.threads) { user, scores in model.scoreAll(for: user, into: scores) }
        var metrics: [String: Double] = [:]
        for name in report.names { metrics[name] = report[name] }
        progress("pipeline: evaluated \(report.userCount) users: recall@20 \(String(format: "%.4f", metrics["recall@20"] ?? 0))")
        return Evaluation(metrics: metrics, protocolUsers: protocolRun.testUsers)
    }

    /// Saves the model into `staging` with the gate's own checks (the saved artifact loads and answers;
    /// scoring latency), and writes the serving bundle: the embeddings and the ANN index over the
    /// listings still for sale, stamped with the model artifact's SHA-256. The index serves with the
    /// smallest search width whose recall@20 against exact search reaches `recallTarget` with 95 %
    /// confidence for the model's own users (up to `calibrationUsers` of `users`), unfiltered and with the split's listing
    /// slices as filters (categories, price bands, new listings; `HNSWIndex.calibrateSearchWidth`). `snapshot` is what `trained` was trained on (its listings still
    /// for sale are indexed); `users` are the users the checks sample.
    public static func index(_ trained: TrainedModel, snapshot: Snapshot, users sampleUsers: [UserIndex], recallTarget: Double,
                             staging: String, progress: @Sendable (String) -> Void) throws -> Artifacts {
        let model = trained.model
        let modelPath = staging + "/" + ServingBundle.File.model.rawValue
        try model.save(to: modelPath)
        let modelSHA = try SHA256Hasher.hex(ofFile: modelPath)
        let loads = loadsAndAnswers(model, path: modelPath, users: sampleUsers)
        let latency = scoringLatencyP99(model, users: sampleUsers)
        let clock = Stopwatch()
        let itemVectors = model.itemEmbeddings, userVectors = model.userEmbeddings
        let items = EmbeddingSet(entity: "items", ids: snapshot.split.itemIDs, vectors: itemVectors)
        let users = EmbeddingSet(entity: "users", ids: snapshot.split.userIDs, vectors: userVectors)
        var eligible: [Bool]? = nil
        var filters: [@Sendable (Int64) -> Bool] = []
        if case .fullRanking(let protocolRun) = snapshot.split.evaluation {
            eligible = protocolRun.eligible
            // Listing slices (a category, new listings) as serving's filters would ask for them.
            for slice in protocolRun.slices where slice.users == nil && slice.items.contains(false) {
                let members = slice.items
                filters.append { members[Int($0)] }
            }
        }
        let live = (0..<itemVectors.rows).filter { eligible?[$0] ?? true }
        let d = itemVectors.columns
        var configuration = HNSWIndex.Configuration()
        configuration.buildThreads = trained.threads
        let built = HNSWIndex(dimension: d, configuration: configuration)
        built.add(ids: live.map { Int64($0) }, vectors: Matrix(rows: live.count, columns: d, storage: live.flatMap { itemVectors.row($0) }))
        let sample = sampleUsers.prefix(Self.calibrationUsers).map(\.int)
        let queries = Matrix(rows: sample.count, columns: userVectors.columns, storage: sample.flatMap { userVectors.row($0) })
        let calibration = built.calibrateSearchWidth(queries: queries, k: 20, target: recallTarget, filters: filters, threads: trained.threads)
        let index = built.withSearchWidth(calibration.searchWidth)
        var files = try ServingBundle.write(users: users, items: items, index: index, modelSHA256: modelSHA, schema: snapshot.schema,
                                            to: staging)
        files[ServingBundle.File.model.rawValue] = modelPath
        progress("pipeline: HNSW index over \(live.count) live listings in \(formattedSeconds(clock.elapsedSeconds)); \(calibration.summary)")
        return Artifacts(files: files, modelSHA256: modelSHA, indexCalibration: calibration, loadsAndAnswers: loads,
                         latencyP99Milliseconds: latency, index: index)
    }

    /// Users whose queries choose the index's search width: enough that the 95 % bound sits within about
    /// 0.005 of the measured recall, so the width is not much wider than the target needs.
    public static let calibrationUsers = 2_000

    /// The gate: the candidate's metrics against the policy and the current holder of `alias`.
    public static func gate(_ config: PipelineConfig, metrics: [String: Double], artifacts: Artifacts, registry: ModelRegistry)
        throws -> GateReport {
        let alias = config.alias ?? "champion"
        let baseline = try registry.aliases(config.model)[alias].map { version throws(RegistryError) in
            (name: "\(config.model) v\(version) (\(alias))", metrics: try registry.manifest(config.model, version).metrics)
        }
        let next = (registry.versions(config.model).last ?? 0) + 1
        return GateReport.evaluate(policy: config.gate, candidate: "\(config.model) v\(next)", metrics: metrics, baseline: baseline,
                                   latencyP99Milliseconds: artifacts.latencyP99Milliseconds, loadsAndAnswers: artifacts.loadsAndAnswers)
    }

    /// Registers the version: its artifacts, the gate's report, the configuration, the training history
    /// and its HTML report (against the champion it was gated against). `snapshot` is the evaluated data
    /// (what the manifest describes), `trained` the model registered.
    public static func register(_ config: PipelineConfig, snapshot: Snapshot, trained: TrainedModel, metrics: [String: Double],
                                artifacts: Artifacts, gate: GateReport, registry: ModelRegistry, staging: String) throws -> Manifest {
        let alias = config.alias ?? "champion"
        let champion = registry.aliases(config.model)[alias]
        try gate.json.write(to: URL(fileURLWithPath: staging + "/gate.json"))
        try Data(gate.markdown.utf8).write(to: URL(fileURLWithPath: staging + "/gate.md"))
        try config.encoded.write(to: URL(fileURLWithPath: staging + "/pipeline.json"))
        try VersionReport.encode(trained.history.steps).write(to: URL(fileURLWithPath: staging + "/" + VersionReport.historyArtifact))
        var files = artifacts.files.merging(["gate.json": staging + "/gate.json", "gate.md": staging + "/gate.md",
                                             "pipeline.json": staging + "/pipeline.json",
                                             VersionReport.historyArtifact: staging + "/" + VersionReport.historyArtifact]) { $1 }
        let configuration = trained.parameters.resolved
        let manifest = Manifest(
            model: config.model, version: 0, kind: trained.kind, configuration: configuration, seed: trained.seed, threads: trained.threads,
            dataFingerprint: snapshot.fingerprint,
            data: "\(snapshot.description) (\(snapshot.split.name))\(config.data.refits ? "; refit on all of it" : "")",
            featureSetVersion: configuration["features"] == "true" ? FeatureSet.marketplace.version : nil,
            codeVersion: BuildInfo.codeVersion, toolchain: BuildInfo.toolchain, hardware: BuildInfo.hardware,
            metrics: metrics, artifacts: [:], createdAt: ISO8601DateFormatter().string(from: Date()), parent: champion,
            blessed: gate.blessed, gateReport: "gate.md").withData(schemaVersion: snapshot.schema.version, logSequence: snapshot.logSequence)
        var sourced = manifest
        sourced.source = trained.history.notes.isEmpty ? nil : trained.history.notes
        var numbered = sourced
        numbered.version = (registry.versions(config.model).last ?? 0) + 1
        let championManifest = try champion.map { version throws(RegistryError) in try registry.manifest(config.model, version) }
        let report = VersionReport.make(manifest: numbered, baseline: championManifest, history: trained.history.steps,
                                        users: trained.model.userEmbeddings, index: artifacts.index)
        try TextFile.write(Array(report.html.utf8), to: staging + "/report.html")
        files["report.html"] = staging + "/report.html"
        return try registry.register(sourced, artifacts: files)
    }

    /// Moves `alias` to the version when it is blessed; returns whether it moved.
    public static func promote(_ manifest: Manifest, alias: String, registry: ModelRegistry) throws -> Bool {
        guard manifest.blessed else { return false }
        try registry.setAlias(manifest.model, alias, to: manifest.version)
        return true
    }

    // MARK: The whole run

    /// snapshot → train → evaluate → index → gate → register → promote.
    public func run() throws -> PipelineResult {
        let registry = ModelRegistry(root: config.registry)
        let alias = config.alias ?? "champion"
        let snapshot = try Self.snapshot(config.data, progress: progress)
        let trained = try Self.train(config.train, on: snapshot, progress: progress)
        let evaluation = try Self.evaluate(trained, on: snapshot, progress: progress)
        let staging = NSTemporaryDirectory() + "rummage-pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        // The registered model: the evaluated one, or the same settings refit on everything up to as-of.
        var served = (snapshot: snapshot, trained: trained)
        if config.data.refits {
            let refit = Self.refitSnapshot(snapshot)
            progress("pipeline: refit on every interaction up to as-of (\(refit.split.train.interactionCount) pairs)")
            served = (refit, try Self.train(config.train, on: refit, progress: progress))
        }
        let artifacts = try Self.index(served.trained, snapshot: served.snapshot, users: evaluation.protocolUsers,
                                       recallTarget: config.gate.indexRecallTarget, staging: staging, progress: progress)
        var metrics = evaluation.metrics
        metrics.merge(artifacts.indexCalibration.metrics) { $1 }
        let gate = try Self.gate(config, metrics: metrics, artifacts: artifacts, registry: registry)
        progress("pipeline: gate \(gate.blessed ? "blessed" : "NOT blessed") (\(gate.checks.filter(\.passed).count)/\(gate.checks.count) checks pass)")
        let champion = registry.aliases(config.model)[alias]
        let stored = try Self.register(config, snapshot: snapshot, trained: served.trained, metrics: metrics, artifacts: artifacts,
                                       gate: gate, registry: registry, staging: staging)
        progress("pipeline: registered \(config.model) v\(stored.version) in \(config.registry)")
        if try Self.promote(stored, alias: alias, registry: registry) {
            progress("pipeline: \(alias) → v\(stored.version)")
        } else {
            progress("pipeline: \(alias) stays at \(champion.map { "v\($0)" } ?? "nothing"); see \(registry.versionDirectory(config.model, stored.version))/gate.md")
        }
        return PipelineResult(manifest: stored, gate: gate, registry: config.registry, modelSHA256: artifacts.modelSHA256)
    }
}

extension Pipeline {
    /// SHA-256 over the marketplace files (users, listings, events, in that order, each preceded by its
    /// name and size) and the split parameters: any changed byte changes it.
    public static func fingerprint(directory: String) throws -> String {
        var hasher = SHA256Hasher()
        for name in ["users.csv", "listings.csv", "events.csv"] {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { throw DataError(.fileNotFound, "no such file", path: path) }
            hasher.update("\(name) \(data.count)\n")
            data.withUnsafeBytes { hasher.update($0) }
        }
        hasher.update("split: temporal, train fraction 0.9\n")
        return hasher.finalize()
    }

    /// Loads the saved artifact and checks it scores a few users exactly as the trained model does.
    static func loadsAndAnswers(_ model: any PersistentRecommender, path: String, users: [UserIndex]) -> (passed: Bool, detail: String) {
        do {
            let loaded = try type(of: model).load(from: path)
            for user in users.prefix(5) {
                var a = [Float](repeating: 0, count: model.itemCount), b = a
                a.withUnsafeMutableBufferPointer { model.scoreAll(for: user, into: $0) }
                b.withUnsafeMutableBufferPointer { loaded.scoreAll(for: user, into: $0) }
                guard a == b else { return (false, "the loaded model scores user \(user.int) differently") }
            }
            return (true, "loaded \(path.split(separator: "/").last ?? "") and matched \(min(5, users.count)) users' scores")
        } catch {
            return (false, "cannot load: \(error)")
        }
    }

    /// p99 in milliseconds of scoring one user against every item (up to 300 users, one at a time).
    public static func scoringLatencyP99(_ model: any Recommender, users: [UserIndex]) -> Double {
        var scores = [Float](repeating: 0, count: model.itemCount)
        var times: [Double] = []
        for user in users.prefix(300) {
            let clock = Stopwatch()
            scores.withUnsafeMutableBufferPointer { model.scoreAll(for: user, into: $0) }
            times.append(clock.elapsedSeconds * 1000)
        }
        guard !times.isEmpty else { return 0 }
        times.sort()
        return times[min(times.count - 1, Int((Double(times.count) * 0.99).rounded(.up)) - 1)]
    }
}
