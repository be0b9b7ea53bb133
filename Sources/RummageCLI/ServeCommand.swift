import ArgumentParsing
import Catalogue
import Backends
import Events
import Foundation
import HTTPServer
import Pipeline
import Registry
import RummageCore
import Serving
import Storage
import Telemetry

/// `rummage serve`: the real-time HTTP API for one registered model version.
struct ServeCommand: Command {
    static let configuration = CommandConfiguration(
        name: "serve",
        abstract: "Serve recommendations over HTTP from a registered model version.",
        discussion: """
        Loads the version the alias points at (its model, user and item embeddings and HNSW index, which
        must have been built from the same model), the event log (replayed into the online feature store
        and the listing lifecycle; a missing --log is refused unless --create-log), and answers on
        127.0.0.1: recommendations, similar listings, event intake, listing create and state change,
        healthz, readyz, metrics (API: docs/serving.md). Only listings whose listing_created the log holds
        and whose state is active are ever served; a user without personal data gets the listings most
        engaged with over the last 7 days of the log, with "fallback": true and a "reason".
        SIGTERM or SIGINT stops it gracefully: no new connections, in-flight requests finish. It logs JSON
        lines on stderr (start, hot swaps, failed requests with their request id, stop); metrics are at
        /metrics (docs/monitoring.md).

        With `--experiment NAME --split champion=90,challenger=10`, each alias of the split is loaded and
        followed, every user is served by the alias a stable hash of NAME and their id assigns, each answer
        names its `variant` and `ranking_id`, and its listings are logged as impression events.

        Replicas: run several with the same --log (postgresql://…) and --online-store (redis://…). Listing
        states and online features then live in Redis: a listing sold through one replica is never served
        by another once the sale is acknowledged (each answer is checked against the shared states), and each
        replica follows the shared log, indexing listings created elsewhere within 250 ms. If
        Redis is unreachable or lost its data, replicas keep answering, checked against the event log, until
        `rummage online rebuild` has run (docs/scaling.md).
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .value("alias", "V", help: "Alias or version to serve.", default: "champion"),
            .value("log", "PATH", help: "Event log: a SQLite file or a postgresql:// URI.", default: ".rummage/events.sqlite"),
            .value("schema", "FILE", help: "Catalogue schema: refuse listing and user events whose attributes break it (422)."),
            .flag("create-log", help: "Start an empty event log when the --log file does not exist (default: refuse a missing log)."),
            .value("port", "P", help: "Port on 127.0.0.1 (0 picks a free one).", default: "8080"),
            .value("threads", "N", help: "HTTP worker threads.", default: "4"),
            .value("max-body", "BYTES", help: "Largest request body (larger ones get 413).", default: "1048576"),
            .value("poll", "SECONDS", help: "Check the alias this often and hot-swap when it moved (0: never).", default: "30"),
            .value("admin-token-file", "FILE", help: "File holding the bearer token for /v1/admin/reload, at least 16 bytes (default: $RUMMAGE_ADMIN_TOKEN; neither: admin endpoints off). Secrets never go on the command line."),
            .value("experiment", "NAME", help: "Run an experiment: split users between aliases (needs --split)."),
            .value("split", "A=W,A=W", help: "The experiment's aliases and integer weights, e.g. champion=90,challenger=10."),
            OnlineStore.option,
            .value("publish-events", "URL", help: "Publish POST /v1/events to this RabbitMQ (amqp://…) instead of ingesting them here (202)."),
            .value("queue", "NAME", help: "With --publish-events: the durable queue.", default: "rummage.events"),
            .value("precomputed", "STORE", help: "Lists from `batch-recommend --to` (SQLite file or redis://…), served to users the model cannot rank before popular ones."),
        ])

    let registry: ModelRegistry
    let model: String
    let alias: String
    let log: String
    let configuration: HTTPServer.Configuration
    let poll: Int
    let adminToken: String?
    let experiment: Experiment?
    let onlineStore: OnlineStore?
    let publishURL: String?
    let precomputed: (any PrecomputedRecommendationStore)?
    let queue: String
    let schema: CatalogueSchema?

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        alias = try arguments.requiredString("alias")
        log = try arguments.requiredString("log")
        guard eventLogExists(log) || arguments.flag("create-log") else {
            throw DataError(.fileNotFound, "no such event log (pass --create-log to start an empty one)", path: log)
        }
        var c = HTTPServer.Configuration()
        c.port = UInt16(try arguments.requiredInt("port", in: 0...65_535))
        c.threads = try arguments.requiredInt("threads", in: 1...256)
        c.maxBodyBytes = try arguments.requiredInt("max-body", in: 1...(1 << 30))
        configuration = c
        poll = try arguments.requiredInt("poll", in: 0...86_400)
        adminToken = try Self.adminToken(file: arguments.string("admin-token-file"), environment: ProcessInfo.processInfo.environment)
        switch (arguments.string("experiment"), arguments.string("split")) {
        case (nil, nil): experiment = nil
        case let (name?, split?):
            do { experiment = try Experiment(name: name, split: split) } catch { throw UsageError(error.message) }
        default: throw UsageError("--experiment and --split go together")
        }
        onlineStore = try OnlineStore.from(arguments)
        schema = try arguments.string("schema").map { path throws(SchemaError) in try CatalogueSchema.load(path: path) }
        publishURL = arguments.string("publish-events")
        queue = try arguments.requiredString("queue")
        let name = model
        do {
            precomputed = try arguments.string("precomputed").map { location throws(StorageError) in
                try openPrecomputedRecommendations(location, model: name, ttl: 172_800)
            }
        } catch {
            throw UsageError("--precomputed: \(error.message)")
        }
    }

    /// The admin token from `file` (its content, surrounding whitespace trimmed) or `RUMMAGE_ADMIN_TOKEN`;
    /// nil when neither is given. An empty or short token is refused: it would let anyone guess their way in.
    static func adminToken(file: String?, environment: [String: String]) throws -> String? {
        let token: String?
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw UsageError("--admin-token-file: cannot read \(file)") }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            token = environment["RUMMAGE_ADMIN_TOKEN"]
        }
        guard let token else { return nil }
        guard token.utf8.count >= 16 else {
            throw UsageError("the admin token (\(file.map { "--admin-token-file \($0)" } ?? "$RUMMAGE_ADMIN_TOKEN")) must be at least 16 bytes; "
                             + "an empty or short token is refused, not accepted")
        }
        return token
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let logger = JSONLogger()
        let directory = (log as NSString).deletingLastPathComponent
        if !directory.isEmpty && !isDatabaseURI(log) { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let clock = Stopwatch()
        let service = try RecommendationService(registry: registry, model: model, reference: alias, log: try openEventLog(log),
                                                loadModel: ModelCatalog.loadForServing, experiment: experiment,
                                                listingStates: onlineStore?.states, featureStore: onlineStore?.features,
                                                precomputed: precomputed, schema: schema)
        var options = ServerApplication.Options()
        options.http = configuration
        options.adminToken = adminToken
        options.pollSeconds = poll
        options.followsLog = onlineStore != nil
        options.publisher = try publishURL.map { url throws(StorageError) in try EventPublisher(url: url, queue: queue) }
        let application = try ServerApplication(service: service, options: options, logger: logger)
        let served = service.servedVersions.map { "\($0.alias) v\($0.version)" }.joined(separator: ", ")
        logger.info("serving", ["model": model, "versions": served, "indexed": service.status.indexed, "port": Int(application.port),
                                "user_query": service.userQuery, "load_seconds": clock.elapsedSeconds])
        console.result("listening on 127.0.0.1:\(application.port)")
        application.run(until: StopSignal().wait)
    }
}
