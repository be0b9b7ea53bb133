import Dispatch
import Events
import Foundation
import HTTPServer
import RummageAPI
import RummageCore
import Telemetry

/// The HTTP API over a `RecommendationService` (docs/serving.md):
/// `GET /v1/users/{user}/recommendations?k=&category=&size=&where=NAME:VALUE,…&min_price=&max_price=`, `GET /v1/items/{item}/similar?k=`, `POST /v1/events`,
/// `PUT /v1/items/{item}` (a new listing), `PATCH /v1/items/{item}` (state change), `GET /healthz`,
/// `GET /readyz`, `GET /metrics`, and `POST /v1/admin/reload` (bearer token).
public enum ServingRoutes {
    /// `adminToken`: the bearer token `/v1/admin/…` requires; nil disables those endpoints. `logger`: where
    /// failed requests (5xx) and refused reloads are logged, each with a request id.
    /// `publisher`: when set, `POST /v1/events` publishes the events to RabbitMQ (202) instead of ingesting them.
    public static func install(_ service: RecommendationService, on router: Router, adminToken: String? = nil,
                               logger: JSONLogger? = nil, publisher: EventPublisher? = nil,
                               clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        let metrics = service.metrics
        /// Adds a route whose latency and status class are recorded under `endpoint`.
        func route(_ method: String, _ pattern: String, _ endpoint: String, _ handler: @escaping Router.Handler) {
            guard service.measuresRequests else { return router.add(method, pattern, handler) }
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
                    let response = try handler(request)
                    status = response.status
                    return response
                } catch let error as HTTPError {
                    status = error.status
                    if status >= 500 || endpoint == "admin_reload" {
                        logger?.log(status >= 500 ? .error : .warning, "request failed",
                                    ["request_id": UUID().uuidString, "endpoint": endpoint, "path": request.path, "status": status,
                                     "error": error.message])
                    }
                    throw error
                }
            }
        }
        route("POST", "/v1/admin/reload", "admin_reload") { request in
            guard let adminToken else { throw HTTPError(403, "admin endpoints are disabled (start with an admin token)") }
            guard Self.constantTimeEqual(request.header("Authorization") ?? "", "Bearer \(adminToken)") else {
                throw HTTPError(401, "missing or wrong bearer token")
            }
            let alias = request.body.isEmpty ? "champion" : (try Self.decode(ReloadPayload.self, request.body).alias ?? "champion")
            do {
                let (slot, from, to) = try service.reload(to: alias)
                return .json(Reloaded(variant: slot, from: from, to: to))
            } catch {
                throw HTTPError(409, "not reloaded, still serving v\(service.modelVersion): \(error)")
            }
        }
        route("GET", "/v1/users/{user}/recommendations", "recommendations") { request in
            let k = try Self.k(request)
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
            let filters = RecommendationFilters(category: request.query("category"), size: request.query("size"),
                                                minimumPrice: try price("min_price"), maximumPrice: try price("max_price"),
                                                attributes: attributes)
            return .json(service.recommend(user: try Self.pathID(request, "user"), k: k, filters: filters))
        }
        route("GET", "/v1/items/{item}/similar", "similar") { request in
            let item = try Self.pathID(request, "item")
            guard let items = service.similar(item: item, k: try Self.k(request)) else {
                throw HTTPError(404, "unknown item '\(item)'")
            }
            return .json(SimilarItems(item: item, modelVersion: service.modelVersion, items: items))
        }
        route("POST", "/v1/events", "events") { request in
            let events = try Self.parseEvents(request.body, now: clock())
            guard let publisher else { return try Self.ingest(service, events.parsed, refusedEarly: events.refused) }
            if !events.parsed.isEmpty {
                do { try publisher.publish(events.parsed.map(\.1)) } catch { throw HTTPError(503, "the event queue is unavailable: \(error)") }
                service.metrics.eventsPublished.increment(by: events.parsed.count)
            }
            if !events.refused.isEmpty { service.metrics.eventsRefused.increment(by: events.refused.count) }
            let reply = Published(published: events.parsed.count, queue: publisher.queue,
                                  refused: events.refused.map { Refusal(index: $0.0, error: $0.1) })
            return .json(reply, status: events.refused.isEmpty ? 202 : (events.parsed.isEmpty ? 422 : 207))
        }
        route("PUT", "/v1/items/{item}", "listing_create") { request in
            let item = try Self.pathID(request, "item")
            let listing = try Self.decode(ListingPayload.self, request.body)
            let event = Event(id: "put-\(item)-\(UUID().uuidString)", type: .listingCreated, timestamp: clock(), user: UserID(listing.seller),
                              item: ItemID(item), price: listing.price, attributes: listing.attributes)
            return try Self.ingest(service, [(0, try Self.validated(event, now: clock()))], refusedEarly: [])
        }
        route("PATCH", "/v1/items/{item}", "listing_state") { request in
            let item = try Self.pathID(request, "item")
            let type = Self.eventType(of: try Self.decode(StateChangePayload.self, request.body).state)
            let event = Event(id: "patch-\(item)-\(UUID().uuidString)", type: type, timestamp: clock(), item: ItemID(item))
            return try Self.ingest(service, [(0, try Self.validated(event, now: clock()))], refusedEarly: [])
        }
        route("GET", "/healthz", "healthz") { _ in .json(Health(status: "ok")) }
        route("GET", "/readyz", "readyz") { _ in
            let status = service.status
            return .json(Readiness(status: "ready", model: service.modelName, modelVersion: status.version, indexed: status.indexed,
                               userQuery: service.userQuery,
                               experiment: service.experiment?.name,
                               variants: service.servedVersions.map { Readiness.Variant(alias: $0.alias, modelVersion: $0.version) }))
        }
        router.add("GET", "/metrics") { _ in .text(service.metricsExposition, contentType: MetricsRegistry.contentType) }
        let dashboard = Dashboard(service: service)
        router.add("GET", "/") { _ in .text(dashboard.html, contentType: "text/html; charset=utf-8") }
    }

    static func k(_ request: HTTPRequest) throws -> Int {
        guard let text = request.query("k") else { return 20 }
        guard let k = Int(text), (1...1_000).contains(k) else { throw HTTPError(400, "k must be an integer in 1...1000") }
        return k
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

    /// Whether `a` and `b` hold the same bytes, in a time that depends only on their lengths (never on
    /// where they first differ), so a token cannot be guessed byte by byte from response times.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference: UInt8 = x.count == y.count ? 0 : 1
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }

    /// The path parameter `name` when it is a canonical id (`CanonicalID`), or 400 saying why not.
    static func pathID(_ request: HTTPRequest, _ name: String) throws -> String {
        let value = request.parameters[name] ?? ""
        if let problem = CanonicalID.problem(with: value) { throw HTTPError(400, "'\(name)' \(problem)") }
        return value
    }

    /// The body decoded as `T`, or 400 naming the field.
    static func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do { return try PayloadError.decode(T.self, from: body) } catch { throw HTTPError(400, error.message) }
    }

    /// The lifecycle event a state change records (`hidden` is a deletion for serving).
    static func eventType(of state: ListingStateChange) -> EventType {
        switch state {
        case .sold: .listingSold
        case .reserved: .listingReserved
        case .active: .listingUnreserved
        case .relisted: .listingRelisted
        case .deleted, .hidden: .listingDeleted
        }
    }

    /// One event object or an array of them; each element is decoded and validated on its own, so one
    /// bad event does not refuse the others.
    static func parseEvents(_ body: [UInt8], now: Int64) throws -> (parsed: [(Int, Event)], refused: [(Int, String)]) {
        let elements: [Result<EventPayload, PayloadError>]
        do { elements = try PayloadError.decodeOneOrMany(EventPayload.self, from: body) } catch { throw HTTPError(400, error.message) }
        guard !elements.isEmpty, elements.count <= 10_000 else { throw HTTPError(400, "send 1 to 10,000 events") }
        var parsed: [(Int, Event)] = [], refused: [(Int, String)] = []
        for (i, element) in elements.enumerated() {
            do throws(EventError) {
                switch element {
                case .success(let payload): parsed.append((i, try Event(payload: payload, now: now)))
                case .failure(let error): throw EventError(error)
                }
            } catch {
                refused.append((i, error.message))
            }
        }
        return (parsed, refused)
    }

    static func ingest(_ service: RecommendationService, _ events: [(Int, Event)], refusedEarly: [(Int, String)]) throws -> HTTPResponse {
        let outcome: EventIngestor.Outcome
        do {
            outcome = try service.ingest(events.map(\.1))
        } catch {
            throw HTTPError(503, "the event log is unavailable: \(error)")
        }
        if !refusedEarly.isEmpty { service.metrics.eventsRefused.increment(by: refusedEarly.count) }
        let refused = (refusedEarly + outcome.refused.map { (events[$0.index].0, $0.error.message) })
            .sorted { $0.0 < $1.0 }.map { Refusal(index: $0.0, error: $0.1) }
        let reply = IngestReply(appended: outcome.appended, duplicates: outcome.duplicates, refused: refused)
        return .json(reply, status: refused.isEmpty ? 200 : (outcome.appended + outcome.duplicates > 0 ? 207 : 422))
    }
}
