import Dispatch
import Events
import Foundation
import HTTPServer
import RummageAPI
import RummageCore
import Storage
import Telemetry

/// The HTTP API over a `RecommendationService` (docs/serving.md):
/// `GET /v1/users/{user}/recommendations?k=&category=&size=&where=NAME:VALUE,…&min_price=&max_price=`, `GET /v1/items/{item}/similar?k=`, `POST /v1/events`,
/// `PUT /v1/items/{item}` (a new listing), `PATCH /v1/items/{item}` (state change), `GET /healthz`,
/// `GET /readyz`, `GET /metrics`, and `POST /v1/admin/reload`.
///
/// Every route but `/healthz` and `/readyz` needs a `Scope` (docs/security.md): with keys configured, a
/// request without a known bearer key is answered 401 and one whose key lacks the scope 403; with none,
/// every caller is `Principal.local` (all scopes but `admin`). Each state change is written to `audit`.
public enum ServingRoutes {
    /// A request's deadline unless configured: the longest a write waits for the writers' lock and its
    /// stores, and past which request-path reads fall back at once.
    public static let defaultRequestDeadlineMilliseconds = 2_000

    /// `access`: the keys accepted (`.open`: none). `logger`: where failed requests (5xx) and refused
    /// credentials are logged, each with a request id. `audit`: where state changes are recorded.
    /// `publisher`: when set, `POST /v1/events` publishes the events to RabbitMQ (202) instead of ingesting them.
    /// `maxClockSkew`: how far (seconds) an event's timestamp may be ahead of `clock`.
    /// `requestDeadlineMilliseconds`: each request's `Deadline`; store calls give up when it passes (a
    /// read falls back, a write answers 503 with Retry-After).
    public static func install(_ service: RecommendationService, on router: Router, access: AccessPolicy = .open,
                               logger: JSONLogger? = nil, audit: AuditLog? = nil, publisher: EventPublisher? = nil,
                               maxClockSkew: Int64 = Event.defaultMaxFutureSkew,
                               requestDeadlineMilliseconds: Int = defaultRequestDeadlineMilliseconds,
                               clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        let metrics = service.metrics
        /// Adds a route that needs `scope` (nil: open to all) and whose latency and status class are
        /// recorded under `endpoint`.
        func route(_ method: String, _ pattern: String, _ endpoint: String, _ scope: Scope?,
                   _ handler: @escaping @Sendable (HTTPRequest, Principal) throws -> HTTPResponse) {
            let authorized: Router.Handler = { request in
                let principal = try scope.map { try authorize(request, $0, access: access) } ?? .local
                return try Deadline.within(milliseconds: requestDeadlineMilliseconds) { try handler(request, principal) }
            }
            guard service.measuresRequests else { return router.add(method, pattern, authorized) }
            let duration = metrics.requestDuration.labels(endpoint)
            let statuses = ["2xx", "4xx", "5xx"].map { metrics.requests.labels(endpoint, $0) }
            router.add(method, pattern) { request in
                let start = DispatchTime.now().uptimeNanoseconds
                var status = 500
                defer {
                    duration.observe(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    statuses[status >= 500 ? 2 : (status >= 400 ? 1 : 0)].increment()
                }
                do {
                    let response = try authorized(request)
                    status = response.status
                    return response
                } catch let error as HTTPError {
                    status = error.status
                    if status >= 500 || status == 401 || status == 403 {
                        logger?.log(status >= 500 ? .error : .warning, "request failed",
                                    ["request_id": UUID().uuidString, "endpoint": endpoint, "path": request.path, "status": status,
                                     "client": request.clientAddress, "error": error.message])
                    }
                    throw error
                }
            }
        }
        route("POST", "/v1/admin/reload", "admin_reload", .admin) { request, principal in
            let alias = request.body.isEmpty ? "champion" : (try Self.decode(ReloadPayload.self, request.body).alias ?? "champion")
            do {
                let (slot, from, to) = try service.reload(to: alias)
                audit?.record(principal, "reload", target: slot, before: "v\(from)", after: "v\(to)")
                return .json(Reloaded(variant: slot, from: from, to: to))
            } catch {
                throw HTTPError(409, "not reloaded, still serving v\(service.modelVersion): \(error)")
            }
        }
        route("GET", "/v1/users/{user}/recommendations", "recommendations", .recommend) { request, _ in
            .json(service.recommend(user: try Self.pathID(request, "user"), k: try Self.k(request), filters: try Self.filters(request)))
        }
        route("GET", "/v1/surfaces/{surface}/recommendations", "surface_recommendations", .recommend) { request, _ in
            let explain = request.query("explain")
            guard explain == nil || explain == "true" || explain == "false" else { throw HTTPError(400, "explain must be true or false") }
            let query = SurfaceRequest(user: try Self.queryID(request, "user"), item: try Self.queryID(request, "item"), k: try Self.k(request),
                                       filters: try Self.filters(request), explain: explain == "true")
            let surface = try Self.pathID(request, "surface")
            do throws(SurfaceError) {
                return .json(try service.recommend(surface: surface, query))
            } catch {
                throw HTTPError(error.code == .invalid ? 400 : 404, error.message)
            }
        }
        route("GET", "/v1/items/{item}/similar", "similar", .recommend) { request, _ in
            let item = try Self.pathID(request, "item")
            guard let items = service.similar(item: item, k: try Self.k(request)) else {
                throw HTTPError(404, "unknown item '\(item)'")
            }
            return .json(SimilarItems(item: item, modelVersion: service.modelVersion, items: items))
        }
        route("POST", "/v1/events", "events", .events) { request, principal in
            let events = try Self.parseEvents(request.body, now: clock(), maxFutureSkew: maxClockSkew)
            guard let publisher else {
                return try Self.ingest(service, events.parsed, refusedEarly: events.refused, principal: principal, audit: audit, action: "events")
            }
            if !events.parsed.isEmpty {
                do { try publisher.publish(events.parsed.map(\.1), producer: principal.producer) } catch { throw HTTPError(503, "the event queue is unavailable: \(error)") }
                service.metrics.eventsPublished.increment(by: events.parsed.count)
                audit?.record(principal, "publish", target: publisher.queue, before: nil, after: "\(events.parsed.count) events")
            }
            if !events.refused.isEmpty { service.metrics.eventsRefused.increment(by: events.refused.count) }
            let reply = Published(published: events.parsed.count, queue: publisher.queue,
                                  refused: events.refused.map { Refusal(index: $0.0, error: $0.1) })
            return .json(reply, status: events.refused.isEmpty ? 202 : (events.parsed.isEmpty ? 422 : 207))
        }
        route("PUT", "/v1/items/{item}", "listing_create", .listings) { request, principal in
            let item = try Self.pathID(request, "item")
            let listing = try Self.decode(ListingPayload.self, request.body)
            if let bound = principal.seller, bound != listing.seller {
                throw HTTPError(403, "key '\(principal.name)' acts for seller '\(bound)' only")
            }
            let event = Event(id: "put-\(UUID().uuidString)", type: .listingCreated, timestamp: clock(), user: UserID(listing.seller),
                              item: ItemID(item), price: listing.price, attributes: listing.attributes)
            return try Self.ingest(service, [(0, try Self.validated(event, now: clock()))], refusedEarly: [], principal: principal, audit: audit,
                                   action: "listing_create")
        }
        route("GET", "/v1/items/{item}", "listing", .listings) { request, _ in
            let item = try Self.pathID(request, "item")
            guard let listing = service.listings([item]).first, let state = listing.state else { throw HTTPError(404, "unknown listing '\(item)'") }
            return .json(ListingReply(item: item, seller: listing.seller?.value, state: state.rawValue))
        }
        route("PATCH", "/v1/items/{item}", "listing_state", .listings) { request, principal in
            let item = try Self.pathID(request, "item")
            let change = try Self.decode(StateChangePayload.self, request.body)
            guard let listing = service.listings([item]).first, let current = listing.state else { throw HTTPError(404, "unknown listing '\(item)'") }
            let seller = listing.seller?.value
            try Self.checkActing(principal, named: change.seller, for: seller, item: item)
            let target = Self.targetState(of: change.state)
            guard current != target else { return .json(ListingReply(item: item, seller: seller, state: current.rawValue, changed: false)) }
            guard let type = Self.eventType(from: current, to: target) else {
                throw HTTPError(409, "listing '\(item)' cannot move from \(current.rawValue) to \(target.rawValue)")
            }
            let event = try Self.validated(Event(id: "patch-\(UUID().uuidString)", type: type, timestamp: clock(), item: ItemID(item)), now: clock())
            let outcome: EventIngestor.Outcome
            do { outcome = try service.ingest([event], producer: principal.producer) } catch { throw Self.unavailable(error) }
            if let refusal = outcome.refused.first { throw HTTPError(409, refusal.error.message) }  // moved meanwhile
            audit?.record(principal, "listing_state", target: item, before: current.rawValue, after: target.rawValue, ["event": type.rawValue])
            return .json(ListingReply(item: item, seller: seller, state: target.rawValue, changed: true))
        }
        route("GET", "/healthz", "healthz", nil) { _, _ in .json(Health(status: "ok")) }
        route("GET", "/readyz", "readyz", nil) { _, _ in
            let status = service.status
            let dependencies = service.dependencies
            let ready = dependencies.values.allSatisfy { $0 == "ok" }
            return .json(Readiness(status: ready ? "ready" : "not ready", model: service.modelName, modelVersion: status.version,
                                   indexed: status.indexed, userQuery: service.userQuery, experiment: service.experiment?.name,
                                   variants: service.servedVersions.map { Readiness.Variant(alias: $0.alias, modelVersion: $0.version) },
                                   dependencies: dependencies),
                         status: ready ? 200 : 503)
        }
        router.add("GET", "/metrics") { request in
            _ = try authorize(request, .metrics, access: access)
            return .text(service.metricsExposition, contentType: MetricsRegistry.contentType)
        }
        let dashboard = Dashboard(service: service)
        router.add("GET", "/") { request in
            _ = try authorize(request, .metrics, access: access)
            return .text(dashboard.html, contentType: "text/html; charset=utf-8")
        }
    }

    /// The caller, when it may use `scope`; else 401 or 403.
    static func authorize(_ request: HTTPRequest, _ scope: Scope, access: AccessPolicy) throws -> Principal {
        guard !access.isOpen else {
            guard Principal.local.scopes.contains(scope) else {
                throw HTTPError(403, "the \(scope.rawValue) scope needs an API key, and this server has none configured (docs/security.md)")
            }
            return .local
        }
        guard let principal = access.principal(authorization: request.header("Authorization")) else {
            let presented = request.header("Authorization") != nil
            throw HTTPError(401, presented ? "the bearer key is not valid" : "this endpoint needs an API key (Authorization: Bearer KEY)",
                            headers: ["WWW-Authenticate": "Bearer realm=\"rummage\""])
        }
        guard principal.scopes.contains(scope) else {
            throw HTTPError(403, "key '\(principal.name)' lacks the '\(scope.rawValue)' scope")
        }
        return principal
    }

    static func k(_ request: HTTPRequest) throws -> Int {
        guard let text = request.query("k") else { return 20 }
        guard let k = Int(text), (1...1_000).contains(k) else { throw HTTPError(400, "k must be an integer in 1...1000") }
        return k
    }

    /// The query filters of a recommendations request (`RecommendationFilters`), or 400 naming the bad one.
    static func filters(_ request: HTTPRequest) throws -> RecommendationFilters {
        func price(_ name: String) throws -> Double? {
            guard let text = request.query(name) else { return nil }
            guard let value = Double(text), value >= 0 else { throw HTTPError(400, "\(name) must be a non-negative number") }
            return value
        }
        var attributes: [String: String] = [:]
        if let text = request.query("where") {
            do throws(PayloadError) { attributes = try RecommendationFilters.attributes(where: text) } catch {
                throw HTTPError(400, error.message)
            }
        }
        return RecommendationFilters(category: request.query("category"), size: request.query("size"),
                                     minimumPrice: try price("min_price"), maximumPrice: try price("max_price"), attributes: attributes)
    }

    /// The query parameter `name` as a canonical id, nil when absent, or 400 saying why it cannot be one.
    static func queryID(_ request: HTTPRequest, _ name: String) throws -> String? {
        guard let text = request.query(name) else { return nil }
        do { return try CanonicalID.canonical(text, field: name) } catch { throw HTTPError(400, error.message) }
    }

    /// The event, if its fields pass `Event.validate` (ids non-empty, price non-negative, …); else 400.
    static func validated(_ event: Event, now: Int64) throws -> Event {
        do {
            try event.validate(now: now)
        } catch {
            throw HTTPError(400, error.message)
        }
        return event
    }

    /// The path parameter `name` as a canonical id (`CanonicalID`: in NFC), or 400 saying why it cannot be one.
    static func pathID(_ request: HTTPRequest, _ name: String) throws -> String {
        do { return try CanonicalID.canonical(request.parameters[name] ?? "", field: name) } catch { throw HTTPError(400, error.message) }
    }

    /// The body decoded as `T`, or 400 naming the field.
    static func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do { return try PayloadError.decode(T.self, from: body) } catch { throw HTTPError(400, error.message) }
    }

    /// Refuses (403) a listing change by `principal` unless it may act for the listing's `seller`: a key
    /// bound to a seller acts for that seller only, and a seller `named` in the request must be the
    /// listing's. A key bound to no seller may act for any (docs/security.md).
    static func checkActing(_ principal: Principal, named: String?, for seller: String?, item: String) throws {
        if let bound = principal.seller, bound != seller {
            throw HTTPError(403, "key '\(principal.name)' acts for seller '\(bound)' only, and listing '\(item)' is not theirs")
        }
        if let named, named != seller { throw HTTPError(403, "listing '\(item)' is not seller '\(named)''s") }
    }

    /// The listing state a PATCH asks for.
    static func targetState(of change: ListingStateChange) -> ListingState {
        switch change {
        case .sold: .sold
        case .reserved: .reserved
        case .active, .relisted: .active
        case .hidden: .hidden
        case .deleted: .deleted
        }
    }

    /// The lifecycle event that moves a listing from `current` to `target`, or nil when none does.
    static func eventType(from current: ListingState, to target: ListingState) -> EventType? {
        switch (current, target) {
        case (.reserved, .active): .listingUnreserved
        case (.hidden, .active): .listingUnhidden
        case (.draft, .active): .listingPublished
        case (.sold, .active): .listingRelisted
        case (.active, .reserved): .listingReserved
        case (.active, .sold), (.reserved, .sold): .listingSold
        case (.active, .hidden), (.reserved, .hidden): .listingHidden
        case (_, .deleted) where current != .deleted: .listingDeleted
        default: nil
        }
    }

    /// One event object or an array of them; each element is decoded and validated on its own, so one
    /// bad event does not refuse the others.
    static func parseEvents(_ body: [UInt8], now: Int64, maxFutureSkew: Int64) throws -> (parsed: [(Int, Event)], refused: [(Int, String)]) {
        let elements: [Result<EventPayload, PayloadError>]
        do { elements = try PayloadError.decodeOneOrMany(EventPayload.self, from: body) } catch { throw HTTPError(400, error.message) }
        guard !elements.isEmpty, elements.count <= 10_000 else { throw HTTPError(400, "send 1 to 10,000 events") }
        var parsed: [(Int, Event)] = [], refused: [(Int, String)] = []
        for (i, element) in elements.enumerated() {
            do throws(EventError) {
                switch element {
                case .success(let payload): parsed.append((i, try Event(payload: payload, now: now, maxFutureSkew: maxFutureSkew)))
                case .failure(let error): throw EventError(error)
                }
            } catch {
                refused.append((i, error.message))
            }
        }
        return (parsed, refused)
    }

    /// Ingests `events` (`refusedEarly`: those refused while parsing, by index) as `principal`'s (its
    /// event ids, `principal.producer`'s), and records the change in `audit` as `action`.
    static func ingest(_ service: RecommendationService, _ events: [(Int, Event)], refusedEarly: [(Int, String)], principal: Principal,
                       audit: AuditLog?, action: String) throws -> HTTPResponse {
        let outcome: EventIngestor.Outcome
        let touched = Array(Set(events.compactMap { ListingLifecycle.eventTypes.contains($0.1.type) ? $0.1.item?.value : nil }))
        let before = audit == nil ? [:] : Dictionary(uniqueKeysWithValues: zip(touched.map { ItemID($0) }, service.listings(touched).map(\.state)))
        do {
            outcome = try service.ingest(events.map(\.1), producer: principal.producer)
        } catch {
            throw Self.unavailable(error)
        }
        if !refusedEarly.isEmpty { service.metrics.eventsRefused.increment(by: refusedEarly.count) }
        let refused = (refusedEarly + outcome.refused.map { (events[$0.index].0, $0.error.message) })
            .sorted { $0.0 < $1.0 }.map { Refusal(index: $0.0, error: $0.1) }
        let reply = IngestReply(appended: outcome.appended, duplicates: outcome.duplicates, refused: refused)
        audit?.recordIngest(principal, action, events: events.map(\.1), before: before, outcome: outcome)
        return .json(reply, status: refused.isEmpty ? 200 : (outcome.appended + outcome.duplicates > 0 ? 207 : Self.refusalStatus(refusedEarly.isEmpty ? outcome.refused : [])))
    }

    /// 503 for a write that could not be made: with `Retry-After` when another writer held the lock too
    /// long, this write's turn was lost, the log did not answer in time or its circuit is open (retrying
    /// soon will do), else the store's error.
    static func unavailable(_ error: any Error) -> HTTPError {
        if let storage = error as? StorageError, [StorageError.writersBusy, StorageError.fenced].contains(storage.code) {
            return HTTPError(503, "busy: \(storage.message)", headers: ["Retry-After": "1"])
        }
        if let storage = error as? StorageError, [StorageError.unreachable, StorageError.deadlinePassed].contains(storage.code) {
            return HTTPError(503, "the event log is unavailable: \(storage.message)", headers: ["Retry-After": "1"])
        }
        return HTTPError(503, "the event log is unavailable: \(error)")
    }

    /// The status of a request none of whose events was taken: 404 when each names an unknown listing, 409
    /// when each was refused for the marketplace's state (an unknown listing, a move the lifecycle does not
    /// allow, an event id reused for other content), else 422 (events that are not valid on their own).
    static func refusalStatus(_ refusals: [EventIngestor.Refusal]) -> Int {
        guard !refusals.isEmpty else { return 422 }
        if refusals.allSatisfy({ $0.error.code == .unknownListing }) { return 404 }
        let stateful: Set<EventError.Code> = [.unknownListing, .invalidTransition, .idConflict]
        return refusals.allSatisfy { stateful.contains($0.error.code) } ? 409 : 422
    }
}
