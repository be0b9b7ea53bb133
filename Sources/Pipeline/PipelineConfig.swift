import Foundation
import Registry
import RummageCore

/// A pipeline run's configuration (`rummage pipeline run --config FILE`, JSON; docs/pipeline.md).
public struct PipelineConfig: Codable, Sendable, Equatable {
    /// The registered model's name and the registry directory.
    public var model: String
    public var registry: String
    public var data: DataSource
    public var train: TrainSpec
    public var gate: GatePolicy
    /// The alias a blessed version moves (default `champion`).
    public var alias: String?

    public init(model: String, registry: String, data: DataSource, train: TrainSpec, gate: GatePolicy, alias: String? = nil) {
        self.model = model
        self.registry = registry
        self.data = data
        self.train = train
        self.gate = gate
        self.alias = alias
    }

    public struct DataSource: Codable, Sendable, Equatable {
        /// Generate a marketplace into `generate.out` first (deterministic by seed)…
        public var generate: GenerateSpec?
        /// …or use existing data: `synthetic:DIR`.
        public var dataset: String?

        public init(generate: GenerateSpec? = nil, dataset: String? = nil) {
            self.generate = generate
            self.dataset = dataset
        }
    }

    public struct GenerateSpec: Codable, Sendable, Equatable {
        public var out: String
        public var users: Int
        public var items: Int
        public var events: Int
        public var days: Int?
        public var seed: UInt64

        public init(out: String, users: Int, items: Int, events: Int, days: Int? = nil, seed: UInt64) {
            self.out = out
            self.users = users
            self.items = items
            self.events = events
            self.days = days
            self.seed = seed
        }
    }

    public struct TrainSpec: Codable, Sendable, Equatable {
        /// Model kind: two-tower, ials or bpr (models that save as artifacts).
        public var kind: String
        public var settings: [String: String]?
        public var seed: UInt64?
        /// Worker threads; 1 makes every kind bit-for-bit reproducible.
        public var threads: Int?

        public init(kind: String, settings: [String: String]? = nil, seed: UInt64? = nil, threads: Int? = nil) {
            self.kind = kind
            self.settings = settings
            self.seed = seed
            self.threads = threads
        }
    }

    public static func load(path: String) throws -> PipelineConfig {
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

    public var encoded: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}

