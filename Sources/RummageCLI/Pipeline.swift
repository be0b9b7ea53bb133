import ArgumentParsing
import BuildInfo
import Datasets
import Evaluation
import Features
import Foundation
import LinearAlgebra
import MatrixFactorization
import Registry
import RummageCore
import Training
import TwoTower
import VectorSearch

/// A pipeline run's configuration (`rummage pipeline run --config FILE`, JSON; docs/pipeline.md).
struct PipelineConfig: Codable, Sendable, Equatable {
    /// The registered model's name and the registry directory.
    var model: String
    var registry: String
    var data: DataSource
    var train: TrainSpec
    var gate: GatePolicy
    /// The alias a blessed version moves (default `champion`).
    var alias: String?

    struct DataSource: Codable, Sendable, Equatable {
        /// Generate a marketplace into `generate.out` first (deterministic by seed)…
        var generate: GenerateSpec?
        /// …or use existing data: `synthetic:DIR`.
        var dataset: String?
    }

    struct GenerateSpec: Codable, Sendable, Equatable {
        var out: String
        var users: Int
        var items: Int
        var events: Int
        var days: Int?
        var seed: UInt64
    }

    struct TrainSpec: Codable, Sendable, Equatable {
        /// Model kind: two-tower, ials or bpr (models that save as artifacts).
        var kind: String
        var settings: [String: String]?
        var seed: UInt64?
        /// Worker threads; 1 makes every kind bit-for-bit reproducible.
        var threads: Int?
    }

    static func load(path: String) throws -> PipelineConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(.fileNotFound, "cannot read", path: path) }
        do {
            let config = try JSONDecoder().decode(PipelineConfig.self, from: data)
            guard (config.data.generate == nil) != (config.data.dataset == nil) else {
                throw DataError(.malformedLine, "'data' needs exactly one of 'generate' and 'dataset'", path: path)
            }
            guard ModelCatalog.persistentNames.contains(config.train.kind) else {
                throw DataError(.malformedLine, "'train.kind' must be one of \(ModelCatalog.persistentNames.joined(separator: ", "))", path: path)
            }
            return config
        } catch let error as DataError {
            throw error
        } catch {
            throw DataError(.malformedLine, "not a pipeline config: \(error)", path: path)
        }
    }

    var encoded: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}

/// What a pipeline run produced.
struct PipelineResult {
    var manifest: Manifest
    var gate: GateReport
    var registry: String
    var modelSHA256: String
}

/// snapshot data → features → train → evaluate overall and per slice → build the ANN index over the
/// live listings → gate against the champion → register → if blessed, move the alias.
struct Pipeline {
    let config: PipelineConfig
    let progress: @Sendable (String) -> Void

    func run() throws -> PipelineResult {
        let registry = ModelRegistry(root: config.registry)
        let alias = config.alias ?? "champion"
        let threads = config.train.threads ?? 1
        let seed = config.train.seed ?? 42

        // 1. Data snapshot and its fingerprint.
        let directory: String
        if let g = config.data.generate {
            progress("pipeline: generating the marketplace in \(g.out)")
            let marketplace = MarketplaceGenerator(.init(users: g.users, listings: g.items, events: g.events, days: g.days ?? 90,
                                                         seed: g.seed)).generate()
            try marketplace.write(to: g.out)
            directory = g.out
        } else {
            let spec = try DatasetSpec(parsing: config.data.dataset!)
            guard case .synthetic(let dir) = spec else { throw UsageError("pipelines take synthetic:DIR data, not '\(spec)'") }
            directory = dir
        }
        let dataset = DatasetSpec.synthetic(directory: directory)
        let fingerprint = try Self.fingerprint(directory: directory)
        progress("pipeline: data fingerprint \(fingerprint.prefix(16))…")

        // 2–3. Features and training.
        let split = try dataset.load()
        var settings = config.train.settings ?? [:]
        settings["seed"] = String(seed)
        let parameters = HyperParameters(settings.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) })
        let training = Stopwatch()
        let history = TrainingHistory()
        let trained = try ModelCatalog.train(config.train.kind, settings: parameters, split: split, threads: threads,
                                             progress: progress, history: history)
        guard let model = trained as? any PersistentRecommender else { preconditionFailure("\(config.train.kind) cannot be saved") }
        progress("pipeline: trained \(config.train.kind) in \(seconds(training.elapsedSeconds))")

        // 4. Evaluation, overall and per slice.
        guard case .fullRanking(let evaluation) = split.evaluation else { preconditionFailure("synthetic splits rank fully") }
        let report = evaluation.evaluate(threads: threads) { user, scores in model.scoreAll(for: user, into: scores) }
        var metrics: [String: Double] = [:]
        for name in report.names { metrics[name] = report[name] }
        progress("pipeline: evaluated \(report.userCount) users: recall@20 \(String(format: "%.4f", metrics["recall@20"] ?? 0))")

        // 5. Artifacts and the gate's own checks: the saved artifact loads and answers; scoring latency.
        let staging = NSTemporaryDirectory() + "rummage-pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let modelPath = staging + "/model.rmg"
        try model.save(to: modelPath)
        let modelSHA = try SHA256Hasher.hex(ofFile: modelPath)
        let loads = Self.loadsAndAnswers(model, path: modelPath, users: evaluation.testUsers)
        let latency = Self.scoringLatencyP99(model, users: evaluation.testUsers)
        // The item vectors, and the ANN index over the listings still for sale, stamped with the model
        // artifact's SHA-256 so that a server can refuse an index built from another model. Its recall
        // against exact search is a metric the gate can hold.
        var indexArtifacts: [String: String] = [:]
        var reportSample: (users: Matrix, index: HNSWIndex)? = nil
        if let embeddings = Self.itemEmbeddings(of: model, ids: split.marketplace?.data.itemIDs.ids.map(\.value)) {
            try embeddings.save(to: staging + "/item_embeddings.rmg")
            indexArtifacts["item_embeddings.rmg"] = staging + "/item_embeddings.rmg"
            let clock = Stopwatch()
            let live = (0..<embeddings.vectors.rows).filter { evaluation.eligible?[$0] ?? true }
            let d = embeddings.vectors.columns
            let liveIDs = live.map { Int64($0) }
            let liveVectors = Matrix(rows: live.count, columns: d, storage: live.flatMap { embeddings.vectors.row($0) })
            let index = HNSWIndex(dimension: d)
            index.add(ids: liveIDs, vectors: liveVectors)
            try index.save(to: staging + "/index.rmg", stamp: "model.rmg sha256 \(modelSHA)")
            indexArtifacts["index.rmg"] = staging + "/index.rmg"
            if let users = ModelCatalog.vectors(of: model, entity: "users") {
                let userIDs = split.marketplace?.data.userIDs.ids.map(\.value) ?? (0..<users.rows).map(String.init)
                try EmbeddingSet(entity: "users", ids: userIDs, vectors: users).save(to: staging + "/user_embeddings.rmg")
                indexArtifacts["user_embeddings.rmg"] = staging + "/user_embeddings.rmg"
                let exact = FlatIndex(dimension: d)
                exact.add(ids: liveIDs, vectors: liveVectors)
                let sample = evaluation.testUsers.prefix(500).map(\.int)
                let queries = Matrix(rows: sample.count, columns: users.columns, storage: sample.flatMap { users.row($0) })
                metrics["index_recall@20"] = Self.recall(index.search(queries, k: 20, filter: nil), exact.search(queries, k: 20, filter: nil))
                reportSample = (users, index)
            }
            progress("pipeline: HNSW index over \(live.count) live listings in \(seconds(clock.elapsedSeconds)); "
                     + "recall@20 against exact search \(metrics["index_recall@20"].map { String(format: "%.4f", $0) } ?? "n/a")")
        }

        let champion = registry.aliases(config.model)[alias]
        let baseline = try champion.map { version throws(RegistryError) in
            (name: "\(config.model) v\(version) (\(alias))", metrics: try registry.manifest(config.model, version).metrics)
        }
        let nextVersion = (registry.versions(config.model).last ?? 0) + 1
        let gate = GateReport.evaluate(policy: config.gate, candidate: "\(config.model) v\(nextVersion)", metrics: metrics,
                                       baseline: baseline, latencyP99Milliseconds: latency, loadsAndAnswers: loads)
        progress("pipeline: gate \(gate.blessed ? "blessed" : "NOT blessed") (\(gate.checks.filter(\.passed).count)/\(gate.checks.count) checks pass)")
        try gate.json.write(to: URL(fileURLWithPath: staging + "/gate.json"))
        try Data(gate.markdown.utf8).write(to: URL(fileURLWithPath: staging + "/gate.md"))
        try config.encoded.write(to: URL(fileURLWithPath: staging + "/pipeline.json"))
        try VersionReport.encode(history.steps).write(to: URL(fileURLWithPath: staging + "/" + VersionReport.historyArtifact))
        var artifacts = ["model.rmg": modelPath, "gate.json": staging + "/gate.json", "gate.md": staging + "/gate.md",
                         "pipeline.json": staging + "/pipeline.json",
                         VersionReport.historyArtifact: staging + "/" + VersionReport.historyArtifact].merging(indexArtifacts) { $1 }
        // 6. Register, then move the alias if blessed.
        let configuration = parameters.resolved
        let manifest = Manifest(
            model: config.model, version: 0, kind: config.train.kind, configuration: configuration, seed: seed, threads: threads,
            dataFingerprint: fingerprint, data: "\(dataset) (\(split.name))",
            featureSetVersion: configuration["features"] == "true" ? FeatureSet.marketplace.version : nil,
            codeVersion: BuildInfo.codeVersion, toolchain: BuildInfo.toolchain, hardware: BuildInfo.hardware,
            metrics: metrics, artifacts: [:], createdAt: ISO8601DateFormatter().string(from: Date()), parent: champion,
            blessed: gate.blessed, gateReport: "gate.md")
        // 6a. The version's HTML report (rummage report), against the champion it was gated against.
        var numbered = manifest
        numbered.version = nextVersion
        let championManifest = try champion.map { version throws(RegistryError) in try registry.manifest(config.model, version) }
        let versionReport = VersionReport.make(manifest: numbered, baseline: championManifest, history: history.steps,
                                        users: reportSample?.users, index: reportSample?.index)
        try TextFile.write(Array(versionReport.html.utf8), to: staging + "/report.html")
        artifacts["report.html"] = staging + "/report.html"
        let stored = try registry.register(manifest, artifacts: artifacts)
        progress("pipeline: registered \(config.model) v\(stored.version) in \(config.registry)")
        if gate.blessed {
            try registry.setAlias(config.model, alias, to: stored.version)
            progress("pipeline: \(alias) → v\(stored.version)")
        } else {
            progress("pipeline: \(alias) stays at \(champion.map { "v\($0)" } ?? "nothing"); see \(registry.versionDirectory(config.model, stored.version))/gate.md")
        }
        return PipelineResult(manifest: stored, gate: gate, registry: config.registry, modelSHA256: modelSHA)
    }

    /// SHA-256 over the marketplace files (users, listings, events, in that order, each preceded by its
    /// name and size) and the split parameters: any changed byte changes it.
    static func fingerprint(directory: String) throws -> String {
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
    static func scoringLatencyP99(_ model: any Recommender, users: [UserIndex]) -> Double {
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

    /// Share of the exact top-k ids that the approximate search found.
    static func recall(_ approximate: [[SearchHit]], _ exact: [[SearchHit]]) -> Double {
        var found = 0, total = 0
        for (a, e) in zip(approximate, exact) {
            found += Set(a.map(\.id)).intersection(e.map(\.id)).count
            total += e.count
        }
        return total == 0 ? 1 : Double(found) / Double(total)
    }

    static func itemEmbeddings(of model: any Recommender, ids: [String]?) -> EmbeddingSet? {
        ModelCatalog.vectors(of: model, entity: "items").map {
            EmbeddingSet(entity: "items", ids: ids ?? (0..<$0.rows).map(String.init), vectors: $0)
        }
    }
}
