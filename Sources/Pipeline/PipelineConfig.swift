import ArgumentParsing
import Foundation
import Registry
import RummageCore

/// A pipeline run's configuration (`rummage pipeline run --pipeline FILE`, JSON; docs/pipeline.md).
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

    /// Every key a pipeline configuration may hold (JSON or YAML): others are refused with the closest known one.
    public static var schema: ConfigSchema {
        var schema = ConfigSchema()
        for key in ["model", "registry", "alias"] { schema.add(key, .scalar) }
        for key in ["dataset", "log", "as_of", "window_days", "schema", "refit"] { schema.add("data." + key, .scalar) }
        for key in ["out", "users", "items", "events", "days", "seed"] { schema.add("data.generate." + key, .scalar) }
        for key in ["kind", "seed", "threads"] { schema.add("train." + key, .scalar) }
        schema.add("train.settings", .freeMap)
        schema.add("gate.absolute", .freeMap)
        for key in ["direction", "tolerance"] { schema.add("gate.relative.*." + key, .scalar) }
        for key in ["latency_p99_ms", "index_recall_target"] { schema.add("gate." + key, .scalar) }
        return schema
    }

    /// Reads a pipeline configuration file, JSON or YAML.
    public static func load(path: String) throws -> PipelineConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(.fileNotFound, "cannot read", path: path) }
        let document: ConfigValue
        do { document = try ConfigValue.parse(String(decoding: data, as: UTF8.self), source: path) } catch {
            throw DataError(.malformedLine, error.message, path: path, line: error.line)
        }
        return try decode(document, source: path)
    }

    /// A pipeline configuration from a parsed document (a file, or `pipelines.NAME` of the configuration
    /// file): checked against `schema`, then decoded; every problem names its key path.
    public static func decode(_ document: ConfigValue, source: String) throws -> PipelineConfig {
        do { try schema.check(document, source: source) } catch {
            throw DataError(.malformedLine, error.message, path: error.source, line: error.line)
        }
        let json: Data
        do { json = try JSONSerialization.data(withJSONObject: settingsAsText(document).jsonObject) } catch {
            throw DataError(.malformedLine, "not a pipeline configuration", path: source)
        }
        let config: PipelineConfig
        do { config = try JSONDecoder().decode(PipelineConfig.self, from: json) } catch let error as DecodingError {
            throw DataError(.malformedLine, describe(error), path: source)
        }
        let data = config.data
        guard [data.generate != nil, data.dataset != nil, data.log != nil].filter({ $0 }).count == 1 else {
            throw DataError(.malformedLine, "'data' needs exactly one of 'generate', 'dataset' and 'log'", path: source)
        }
        if data.log == nil, let key = [("as_of", data.asOf != nil), ("window_days", data.windowDays != nil),
                                       ("schema", data.schema != nil)].first(where: \.1)?.0 {
            throw DataError(.malformedLine, "'data.\(key)' goes with 'data.log'", path: source)
        }
        if let days = data.windowDays, days < 1 { throw DataError(.malformedLine, "'data.window_days' must be at least 1", path: source) }
        guard ModelCatalog.persistentNames.contains(config.train.kind) else {
            throw DataError(.malformedLine, "'train.kind' must be one of \(ModelCatalog.persistentNames.joined(separator: ", "))"
                            + didYouMean(config.train.kind, among: ModelCatalog.persistentNames), path: source)
        }
        return config
    }

    /// `train.settings` values are text (`epochs: 2` in YAML is the setting "2").
    private static func settingsAsText(_ document: ConfigValue) -> ConfigValue {
        guard case .map(var entries, let line) = document, let t = entries.firstIndex(where: { $0.key == "train" }),
              case .map(var train, let trainLine) = entries[t].value,
              let k = train.firstIndex(where: { $0.key == "settings" }), case .map(let settings, let settingsLine) = train[k].value else {
            return document
        }
        train[k].value = .map(settings.map { ($0.key, .scalar($0.value.text ?? "", quoted: true, line: $0.value.line)) }, line: settingsLine)
        entries[t].value = .map(train, line: trainLine)
        return .map(entries, line: line)
    }

    /// A decoding error as one line naming the key path: "missing 'train.kind'", "'train.seed' must be a whole number".
    public static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String { keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let context): return "missing '\(path(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let expected = type == String.self ? "text" : (type == Bool.self ? "true or false"
                : ([Int.self, UInt64.self, Int64.self] as [Any.Type]).contains { $0 == type } ? "a whole number" : (type == Double.self ? "a number" : "\(type)"))
            return "'\(path(context.codingPath))' must be \(expected)"
        case .dataCorrupted(let context): return "'\(path(context.codingPath))': \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    public var encoded: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}

