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
        /// …or use existing data: `synthetic:DIR`…
        public var dataset: String?
        /// …or the marketplace's own event log: a SQLite file or a `postgresql://` URI.
        public var log: String?
        /// With `log`: the data as of this Unix time (inclusive; default: the latest event).
        public var asOf: Int64?
        /// With `log`: only interactions of this many days before `as_of` (default: all).
        public var windowDays: Int?
        /// With `log`: the catalogue schema file (default: the generator's secondhand-fashion schema).
        public var schema: String?
        /// After evaluation, train the registered model on everything up to as-of with the same settings
        /// (default: true for `log` data, false for generated and `synthetic:` data, whose registered
        /// model stays the evaluated one).
        public var refit: Bool?

        public init(generate: GenerateSpec? = nil, dataset: String? = nil, log: String? = nil, asOf: Int64? = nil,
                    windowDays: Int? = nil, schema: String? = nil, refit: Bool? = nil) {
            self.generate = generate
            self.dataset = dataset
            self.log = log
            self.asOf = asOf
            self.windowDays = windowDays
            self.schema = schema
            self.refit = refit
        }

        enum CodingKeys: String, CodingKey {
            case generate, dataset, log, schema, refit
            case asOf = "as_of", windowDays = "window_days"
        }

        /// Whether the registered model is refit on everything up to as-of.
        public var refits: Bool { refit ?? (log != nil) }
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
            let data = config.data
            guard [data.generate != nil, data.dataset != nil, data.log != nil].filter({ $0 }).count == 1 else {
                throw DataError(.malformedLine, "'data' needs exactly one of 'generate', 'dataset' and 'log'", path: path)
            }
            if data.log == nil, let key = [("as_of", data.asOf != nil), ("window_days", data.windowDays != nil),
                                           ("schema", data.schema != nil)].first(where: \.1)?.0 {
                throw DataError(.malformedLine, "'data.\(key)' goes with 'data.log'", path: path)
            }
            if let days = data.windowDays, days < 1 { throw DataError(.malformedLine, "'data.window_days' must be at least 1", path: path) }
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

