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
        --host (127.0.0.1 by default): recommendations, similar listings, event intake, listing create and state change,
        healthz, readyz, metrics (API: docs/serving.md). Only listings whose listing_created the log holds
        and whose state is active are ever served; a user without personal data gets the listings most
        engaged with over the last 7 days of the log, with "fallback": true and a "reason".

        Security (docs/security.md): with --api-keys (or $RUMMAGE_API_KEYS) every route but /healthz and
        /readyz needs a bearer key with the route's scope (recommend, events, listings, admin, metrics);
        without keys the server may only listen on loopback, and admin is off. Each state change is
        written to the audit log. --tls-cert and --tls-key serve HTTPS.
        SIGTERM or SIGINT stops it gracefully: no new connections, in-flight requests finish. It logs JSON
        lines on stderr (start, hot swaps, failed requests with their request id, stop); metrics are at
        /metrics (docs/monitoring.md).

        With `--experiment NAME --split champion=90,challenger=10`, each alias of the split is loaded and
        followed, every user is served by the alias a stable hash of NAME and their id assigns, each answer
        names its `variant` and `ranking_id`, and its listings are logged as impression events. With
        `--experiment-surface home --split home=50,home-ranked=50`, the users' requests to `home` are split
        between the two surfaces' definitions instead (e.g. retrieval alone against retrieval then a ranker).
        With `--interleave` as well, every request to `home` is answered by both surfaces' rankings merged
        by team draft, each listing's impression naming the surface that placed it (`rummage experiment
        report` then says which ranking users preferred; docs/experiments.md).

        Replicas: run several with the same --log (postgresql://…) and --online-store (redis://…). Listing
        states and online features then live in Redis: a listing sold through one replica is never served
        by another once the sale is acknowledged (each answer is checked against the shared states), and each
        replica follows the shared log, indexing listings created elsewhere within 250 ms. If
        Redis is unreachable or lost its data, replicas keep answering, checked against the event log, until
        `rummage online rebuild` has run (docs/scaling.md).
        """,
        options: [
            .value("registry", "DIR|S3", help: "Registry directory, or a shared registry s3://BUCKET/PREFIX[?endpoint=URL] (mirrored locally, polled with --poll).", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .value("version", "REF", help: "Version number or alias to serve (an alias is followed: see --poll).", default: "champion"),
            .value("log", "PATH", help: "Event log: a SQLite file or a postgresql:// URI.", default: ".rummage/events.sqlite"),
            .value("schema", "FILE", help: "Catalogue schema: refuse listing and user events whose attributes break it (422)."),
            .flag("create-log", help: "Start an empty event log when the --log file does not exist (default: refuse a missing log)."),
            .value("host", "ADDR", help: "Numeric IPv4 or IPv6 address to listen on (:: or 0.0.0.0: every interface; needs API keys unless loopback).",
                   default: "127.0.0.1"),
            .value("port", "P", help: "Port (0 picks a free one).", default: "8080"),
            .value("api-keys", "FILE", help: "API keys, one per line: NAME SCOPES sha256:DIGEST [seller=ID] (default: $RUMMAGE_API_KEYS; `rummage keys create` makes one)."),
            .value("audit-log", "FILE", help: "Append the audit log (every state change: who, what, before → after) here (default: the server log on stderr)."),
            .value("tls-cert", "FILE", help: "PEM certificate (chain): serve HTTPS (with --tls-key)."),
            .value("tls-key", "FILE", help: "PEM private key of --tls-cert."),
            .value("allowed-hosts", "NAMES", help: "Comma-separated Host names requests may carry (default: the loopback names on loopback, any elsewhere)."),
            .value("allowed-origins", "ORIGINS", help: "Comma-separated Origins whose web pages may change state (default: none)."),
            .value("max-connections", "N", help: "Open connections in all.", default: "4096"),
            .value("max-connections-per-client", "N", help: "Open connections from one IP address.", default: "256"),
            .value("header-timeout", "SECONDS", help: "Close a connection whose request header is not complete this long after it opened or after the previous answer.", default: "15"),
            .value("idle-timeout", "SECONDS", help: "Close a connection idle this long.", default: "30"),
            .value("max-clock-skew", "SECONDS", help: "How far an event's timestamp may be ahead of this server's clock.", default: "3600"),
            .value("request-deadline", "MS", help: "Each request's deadline: store calls give up when it passes (reads fall back, writes answer 503 with Retry-After).",
                   default: String(ServingRoutes.defaultRequestDeadlineMilliseconds)),
            .value("max-buffered", "BYTES", help: "Request body bytes all connections may hold at once (beyond: 503).", default: "67108864"),
            .value("threads", "N", help: "HTTP worker threads.", default: "4"),
            .value("max-body", "BYTES", help: "Largest request body (larger ones get 413).", default: "1048576"),
            .value("poll", "SECONDS", help: "Check the alias this often and hot-swap when it moved (0: never).", default: "30"),
            .value("admin-token-file", "FILE", help: "File holding a bearer key with the admin scope only, at least 16 bytes (default: $RUMMAGE_ADMIN_TOKEN). Secrets never go on the command line."),
            .value("experiment", "NAME", help: "Run an experiment: split users between aliases (needs --split)."),
            .value("split", "A=W,A=W", help: "The experiment's aliases and integer weights, e.g. champion=90,challenger=10."),
            .value("experiment-surface", "SURFACE", help: "Split this surface's requests between the surfaces --split names instead of aliases, e.g. --split home=50,home-ranked=50."),
            .flag("interleave", help: "With --experiment-surface and two surfaces in --split: answer every request with both rankings interleaved (team draft) instead of splitting users."),
            OnlineStore.option,
            .value("publish-events", "URL", help: "Publish POST /v1/events to this RabbitMQ (amqp://…) instead of ingesting them here (202)."),
            .value("queue", "NAME", help: "With --publish-events: the durable queue.", default: "rummage.events"),
            .value("precomputed", "STORE", help: "Lists from `batch-recommend --to` (SQLite file or redis://…), served to users the model cannot rank before popular ones."),
            .value("surfaces", "FILE", help: "Surfaces to serve (JSON or YAML: names to definitions, docs/serving.md; default: the configuration file's 'surfaces')."),
        ])

    let registry: ModelRegistry
    let location: RegistryLocation
    let model: String
    let alias: String
    let log: String
    let configuration: HTTPServer.Configuration
    let poll: Int
    let access: AccessPolicy
    let auditLog: String?
    let maxClockSkew: Int64
    let requestDeadline: Int
    let experiment: Experiment?
    let onlineStore: OnlineStore?
    let publishURL: String?
    let precomputed: (any PrecomputedRecommendationStore)?
    let queue: String
    let schema: CatalogueSchema?
    let surfaces: [Surface]

    init(_ arguments: ParsedArguments) throws {
        location = try RegistryLocation(try arguments.requiredString("registry"))
        registry = location.registry
        model = try arguments.requiredString("model")
        alias = try arguments.requiredString("version")
        log = try arguments.requiredString("log")
        guard eventLogExists(log) || arguments.flag("create-log") else {
            throw DataError(.fileNotFound, "no such event log (pass --create-log to start an empty one)", path: log)
        }
        configuration = try Self.httpConfiguration(arguments)
        poll = try arguments.requiredInt("poll", in: 0...86_400)
        access = try Self.accessPolicy(keysFile: arguments.string("api-keys"), adminTokenFile: arguments.string("admin-token-file"),
                                       environment: ProcessInfo.processInfo.environment)
        guard !access.isOpen || HTTPServer.Configuration.isLoopback(configuration.host) else {
            throw UsageError("--host \(configuration.host) needs API keys (--api-keys FILE or $RUMMAGE_API_KEYS): a server without them "
                             + "listens on loopback only (docs/security.md)")
        }
        auditLog = arguments.string("audit-log")
        maxClockSkew = Int64(try arguments.requiredInt("max-clock-skew", in: 0...(1 << 40)))
        requestDeadline = try arguments.requiredInt("request-deadline", in: 10...600_000)
        switch (arguments.string("experiment"), arguments.string("split")) {
        case (nil, nil):
            guard arguments.string("experiment-surface") == nil && !arguments.flag("interleave") else {
                throw UsageError("--experiment-surface and --interleave go with --experiment and --split")
            }
            experiment = nil
        case let (name?, split?):
            do {
                experiment = try Experiment(name: name, split: split, surface: arguments.string("experiment-surface"), interleave: arguments.flag("interleave"))
            } catch {
                throw UsageError(error.message)
            }
        default: throw UsageError("--experiment and --split go together")
        }
        onlineStore = try OnlineStore.from(arguments)
        surfaces = try SurfaceSource.load(file: arguments.string("surfaces"),
                                          configPath: arguments.string("config") ?? ProcessInfo.processInfo.environment["RUMMAGE_CONFIG"])
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

    /// How the HTTP server listens and what it allows each client.
    static func httpConfiguration(_ arguments: ParsedArguments) throws -> HTTPServer.Configuration {
        var c = HTTPServer.Configuration()
        c.host = try arguments.requiredString("host")
        if c.host == "localhost" { c.host = "127.0.0.1" }
        c.port = UInt16(try arguments.requiredInt("port", in: 0...65_535))
        c.threads = try arguments.requiredInt("threads", in: 1...256)
        c.maxBodyBytes = try arguments.requiredInt("max-body", in: 1...(1 << 30))
        c.maxBufferedBytes = try arguments.requiredInt("max-buffered", in: c.maxBodyBytes...(1 << 40))
        c.connectionLimit = try arguments.requiredInt("max-connections", in: 1...1_000_000)
        c.perClientConnectionLimit = try arguments.requiredInt("max-connections-per-client", in: 1...c.connectionLimit)
        c.headerTimeoutSeconds = try arguments.requiredInt("header-timeout", in: 1...3_600)
        c.timeoutSeconds = try arguments.requiredInt("idle-timeout", in: 1...86_400)
        func names(_ option: String) -> Set<String>? {
            arguments.string(option).map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
        }
        c.allowedHosts = names("allowed-hosts").map { Set($0.map { $0.lowercased() }) }
        c.allowedOrigins = names("allowed-origins") ?? []
        switch (arguments.string("tls-cert"), arguments.string("tls-key")) {
        case (nil, nil): break
        case let (cert?, key?):
            func pem(_ path: String, _ option: String) throws -> String {
                guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("--\(option): cannot read \(path)") }
                return String(decoding: data, as: UTF8.self)
            }
            c.tls = (try pem(cert, "tls-cert"), try pem(key, "tls-key"))
        default: throw UsageError("--tls-cert and --tls-key go together")
        }
        return c
    }

    /// The API keys from `keysFile` (else `$RUMMAGE_API_KEYS`), plus the admin token from `adminTokenFile`
    /// (else `$RUMMAGE_ADMIN_TOKEN`) as a key named `admin` with the admin scope. Empty or short keys are
    /// refused: they would let anyone guess their way in.
    static func accessPolicy(keysFile: String?, adminTokenFile: String?, environment: [String: String]) throws -> AccessPolicy {
        func read(_ path: String, _ option: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("--\(option): cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
        var keys: [AccessPolicy.Key] = []
        do {
            if let keysFile {
                keys = try AccessPolicy.parse(try read(keysFile, "api-keys"), source: keysFile).keys
            } else if let text = environment["RUMMAGE_API_KEYS"] {
                keys = try AccessPolicy.parse(text, source: "$RUMMAGE_API_KEYS").keys
                guard !keys.isEmpty else { throw AccessError("$RUMMAGE_API_KEYS is set but holds no key") }
            }
            let token = try adminTokenFile.map { try read($0, "admin-token-file").trimmingCharacters(in: .whitespacesAndNewlines) }
                ?? environment["RUMMAGE_ADMIN_TOKEN"]
            if let token {
                do {
                    keys.append(try AccessPolicy.key(name: "admin", scopes: [.admin], key: token))
                } catch {
                    throw AccessError("the admin token (\(adminTokenFile.map { "--admin-token-file \($0)" } ?? "$RUMMAGE_ADMIN_TOKEN")) must be at least "
                                      + "\(AccessPolicy.minimumKeyBytes) bytes; an empty or short token is refused, not accepted")
                }
            }
        } catch let error as AccessError {
            throw UsageError(error.message)
        }
        return AccessPolicy(keys: keys)
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let logger = JSONLogger()
        let directory = (log as NSString).deletingLastPathComponent
        if !directory.isEmpty && !isDatabaseURI(log) { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let clock = Stopwatch()
        try location.refresh(model)
        let service = try RecommendationService(registry: registry, model: model, reference: alias, log: try openEventLog(log),
                                                loadModel: ModelCatalog.loadForServing, experiment: experiment,
                                                listingStates: onlineStore?.states, featureStore: onlineStore?.features,
                                                precomputed: precomputed, schema: schema, surfaces: surfaces)
        var options = ServerApplication.Options()
        options.http = configuration
        options.access = access
        options.maxClockSkew = maxClockSkew
        options.requestDeadlineMilliseconds = requestDeadline
        options.audit = try auditLog.map { path throws(DataError) in try AuditLog.appending(to: path) }
        options.pollSeconds = poll
        if location.shared != nil { options.refreshRegistry = { [location, model] in try location.refresh(model) } }
        options.followsLog = onlineStore != nil
        options.publisher = try publishURL.map { url throws(StorageError) in try EventPublisher(url: url, queue: queue) }
        let application = try ServerApplication(service: service, options: options, logger: logger)
        let served = service.servedVersions.map { "\($0.alias) v\($0.version)" }.joined(separator: ", ")
        logger.info("serving", ["model": model, "versions": served, "indexed": service.status.indexed, "port": Int(application.port),
                                "host": configuration.host, "tls": configuration.tls != nil, "api_keys": access.keys.count,
                                "user_query": service.userQuery, "load_seconds": clock.elapsedSeconds])
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        console.result("listening on \(configuration.tls == nil ? "" : "https://")\(host):\(application.port)")
        let stop = StopSignal()
        ServiceNotifier.ready(status: "serving \(model) (\(served)) on \(host):\(application.port)")
        application.run {
            stop.wait()
            ServiceNotifier.stopping()
        }
    }
}
