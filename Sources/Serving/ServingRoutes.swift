import Dispatch
import Events
import Foundation
import HTTPServer
import RummageCore
import Telemetry

/// The HTTP API over a `RecommendationService` (docs/serving.md):
/// `GET /v1/users/{user}/recommendations?k=&category=&size=&min_price=&max_price=`, `GET /v1/items/{item}/similar?k=`, `POST /v1/events`,
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
            guard let adminToken else { throw HTTPError(403, "admin endpoints are disabled (start with --admin-token)") }
            guard request.header("Authorization") == "Bearer \(adminToken)" else { throw HTTPError(401, "missing or wrong bearer token") }
            var alias = "champion"
            if !request.body.isEmpty, let value = try Self.object(request.body)["alias"] {
                guard let text = value as? String, !text.isEmpty else { throw HTTPError(400, "'alias' must be a non-empty string") }
                alias = text
            }
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
            let filters = RecommendationService.Filters(category: request.query("category"), size: request.query("size"),
                                                        minimumPrice: try price("min_price"), maximumPrice: try price("max_price"))
            return .json(service.recommend(user: request.parameters["user"] ?? "", k: k, filters: filters))
        }
        route("GET", "/v1/items/{item}/similar", "similar") { request in
            let item = request.parameters["item"] ?? ""
            guard let items = service.similar(item: item, k: try Self.k(request)) else {
                throw HTTPError(404, "unknown item '\(item)'")
            }
            return .json(Similar(item: item, modelVersion: service.modelVersion, items: items))
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
                                  refused: events.refused.map { IngestReply.Refusal(index: $0.0, error: $0.1) })
            return .json(reply, status: events.refused.isEmpty ? 202 : (events.parsed.isEmpty ? 422 : 207))
        }
        route("PUT", "/v1/items/{item}", "listing_create") { request in
            let item = request.parameters["item"] ?? ""
            let object = try Self.object(request.body)
            guard let seller = object["seller"] as? String else { throw HTTPError(400, "a listing needs 'seller'") }
            var attributes: [String: String] = [:]
            if let given = object["attributes"] {
                guard let fields = given as? [String: Any] else { throw HTTPError(400, "'attributes' must be an object of strings") }
                for (key, value) in fields {
                    guard let text = value as? String else { throw HTTPError(400, "attribute '\(key)' must be a string") }
                    attributes[key] = text
                }
            }
            var price: Double? = nil
            if let given = object["price"] {
                guard !(given is Bool), let number = (given as? Int).map(Double.init) ?? (given as? Double) else {
                    throw HTTPError(400, "'price' must be a number")
                }
                price = number
            }
            let event = Event(id: "put-\(item)-\(UUID().uuidString)", type: .listingCreated, timestamp: clock(), user: UserID(seller),
                              item: ItemID(item), price: price, attributes: attributes)
            return try Self.ingest(service, [(0, try Self.validated(event, now: clock()))], refusedEarly: [])
        }
        route("PATCH", "/v1/items/{item}", "listing_state") { request in
            let item = request.parameters["item"] ?? ""
            let types: [String: EventType] = ["sold": .listingSold, "reserved": .listingReserved, "active": .listingUnreserved,
                                              "relisted": .listingRelisted, "deleted": .listingDeleted, "hidden": .listingDeleted]
            guard let name = try Self.object(request.body)["state"] as? String, let type = types[name] else {
                throw HTTPError(400, "'state' must be one of \(types.keys.sorted().joined(separator: ", "))")
            }
            let event = Event(id: "patch-\(item)-\(UUID().uuidString)", type: type, timestamp: clock(), item: ItemID(item))
            return try Self.ingest(service, [(0, try Self.validated(event, now: clock()))], refusedEarly: [])
        }
        route("GET", "/healthz", "healthz") { _ in .json(["status": "ok"]) }
        route("GET", "/readyz", "readyz") { _ in
            let status = service.status
            return .json(Ready(status: "ready", model: service.modelName, modelVersion: status.version, indexed: status.indexed,
                               userQuery: service.userQuery,
                               experiment: service.experiment?.name,
                               variants: service.servedVersions.map { Ready.Variant(alias: $0.alias, modelVersion: $0.version) }))
        }
        router.add("GET", "/metrics") { _ in .text(service.metricsExposition, contentType: MetricsRegistry.contentType) }
        let dashboard = Dashboard(service: service)
        router.add("GET", "/") { _ in .text(dashboard.html, contentType: "text/html; charset=utf-8") }
    }

    struct Similar: Encodable {
        var item: String
        var modelVersion: Int
        var items: [RecommendationService.Recommendations.Item]
        enum CodingKeys: String, CodingKey { case item, items, modelVersion = "model_version" }
    }

    struct Ready: Encodable {
        struct Variant: Encodable {
            var alias: String
            var modelVersion: Int
            enum CodingKeys: String, CodingKey { case alias, modelVersion = "model_version" }
        }
        var status: String
        var model: String
        var modelVersion: Int
        var indexed: Int
        var userQuery: String
        var experiment: String?
        var variants: [Variant]
        enum CodingKeys: String, CodingKey {
            case status, model, indexed, experiment, variants
            case modelVersion = "model_version", userQuery = "user_query"
        }
    }

    struct Reloaded: Encodable {
        var variant: String
        var from: Int
        var to: Int
    }

    struct IngestReply: Encodable {
        struct Refusal: Encodable { var index: Int; var error: String }
        var appended: Int
        var duplicates: Int
        var refused: [Refusal]
    }

    struct Published: Encodable {
        var published: Int
        var queue: String
        var refused: [IngestReply.Refusal]
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

    static func object(_ body: [UInt8]) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw HTTPError(400, "the body must be a JSON object")
        }
        return object
    }

    /// One event object or an array of them; each element is parsed on its own, so one bad event does
    /// not refuse the others.
    static func parseEvents(_ body: [UInt8], now: Int64) throws -> (parsed: [(Int, Event)], refused: [(Int, String)]) {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) else { throw HTTPError(400, "the body is not valid JSON") }
        let elements = (json as? [Any]) ?? [json]
        guard !elements.isEmpty, elements.count <= 10_000 else { throw HTTPError(400, "send 1 to 10,000 events") }
        var parsed: [(Int, Event)] = [], refused: [(Int, String)] = []
        for (i, element) in elements.enumerated() {
            // Only objects may be serialised back (JSONSerialization traps on other top-level values).
            guard element is [String: Any], JSONSerialization.isValidJSONObject(element) else {
                refused.append((i, "not a JSON object"))
                continue
            }
            do {
                let data = try JSONSerialization.data(withJSONObject: element)
                parsed.append((i, try Event(json: data, now: now)))
            } catch let error as EventError {
                refused.append((i, error.message))
            } catch {
                refused.append((i, "not a JSON object"))
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
            .sorted { $0.0 < $1.0 }.map { IngestReply.Refusal(index: $0.0, error: $0.1) }
        let reply = IngestReply(appended: outcome.appended, duplicates: outcome.duplicates, refused: refused)
        return .json(reply, status: refused.isEmpty ? 200 : (outcome.appended + outcome.duplicates > 0 ? 207 : 422))
    }
}
