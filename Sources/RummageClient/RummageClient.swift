import Foundation
import Synchronization

/// An error from `RummageClient`: the server could not be reached or did not answer (`transport`), it
/// answered with a non-2xx status and its JSON error message (`http`), or its answer was not the
/// documented JSON (`decoding`).
public enum RummageClientError: Error, CustomStringConvertible, Sendable {
    case transport(String)
    case http(status: Int, message: String)
    case decoding(String)
    /// Internal: the server closed the connection before any answer byte (a reused keep-alive socket).
    case closedBeforeAnswer

    public var description: String {
        switch self {
        case .transport(let message): "transport: \(message)"
        case .http(let status, let message): "HTTP \(status): \(message)"
        case .decoding(let message): "decoding: \(message)"
        case .closedBeforeAnswer: "the server closed the connection before answering"
        }
    }
}

/// A Swift client for Rummage's serving API (openapi.yaml, docs/serving.md): typed calls for
/// recommendations, similar listings, events, listings and admin, over one keep-alive connection.
///
/// Thread-safe: calls on one client are serialised on its connection; use one client per concurrent
/// caller for parallel requests. Non-2xx answers throw `RummageClientError.http` with the server's
/// message; 207 (some events refused) is a success whose `IngestReply.refused` lists them.
public final class RummageClient: Sendable {
    public struct ScoredItem: Sendable, Decodable, Equatable {
        public var item: String
        public var score: Float
    }

    public struct Recommendations: Sendable, Decodable {
        public var user: String
        public var modelVersion: Int
        public var items: [ScoredItem]
        public var fallback: Bool
        public var variant: String
        public var experiment: String?
        public var rankingID: String

        enum CodingKeys: String, CodingKey {
            case user, items, fallback, variant, experiment
            case modelVersion = "model_version"
            case rankingID = "ranking_id"
        }
    }

    public struct SimilarItems: Sendable, Decodable {
        public var item: String
        public var modelVersion: Int
        public var items: [ScoredItem]
        enum CodingKeys: String, CodingKey { case item, items, modelVersion = "model_version" }
    }

    public struct IngestReply: Sendable, Decodable {
        public struct Refusal: Sendable, Decodable { public var index: Int; public var error: String }
        public var appended: Int
        public var duplicates: Int
        public var refused: [Refusal]
    }

    public struct Readiness: Sendable, Decodable {
        public struct Variant: Sendable, Decodable {
            public var alias: String
            public var modelVersion: Int
            enum CodingKeys: String, CodingKey { case alias, modelVersion = "model_version" }
        }
        public var status: String
        public var model: String
        public var modelVersion: Int
        public var indexed: Int
        /// `user-tower` or `embedding+recent` (openapi.yaml).
        public var userQuery: String
        public var experiment: String?
        public var variants: [Variant]
        enum CodingKeys: String, CodingKey {
            case status, model, indexed, experiment, variants
            case modelVersion = "model_version", userQuery = "user_query"
        }
    }

    public struct Reloaded: Sendable, Decodable {
        public var variant: String
        public var from: Int
        public var to: Int
    }

    /// Optional query filters for recommendations.
    public struct Filters: Sendable {
        public var category: String?
        public var size: String?
        public var minimumPrice: Double?
        public var maximumPrice: Double?

        public init(category: String? = nil, size: String? = nil, minimumPrice: Double? = nil, maximumPrice: Double? = nil) {
            self.category = category
            self.size = size
            self.minimumPrice = minimumPrice
            self.maximumPrice = maximumPrice
        }
    }

    /// The states `setState` can move a listing to.
    public enum ListingState: String, Sendable {
        case sold, reserved, active, relisted, deleted, hidden
    }

    /// An event for `send(events:)`, as docs/events.md describes it.
    public struct Event: Sendable, Encodable {
        public var id: String
        public var type: String
        public var timestamp: Int64
        public var user: String?
        public var item: String?
        public var price: Double?
        public var surface: String?
        public var rankingID: String?
        public var position: Int?
        public var attributes: [String: String]?

        public init(id: String, type: String, timestamp: Int64, user: String? = nil, item: String? = nil, price: Double? = nil,
                    surface: String? = nil, rankingID: String? = nil, position: Int? = nil, attributes: [String: String]? = nil) {
            self.id = id
            self.type = type
            self.timestamp = timestamp
            self.user = user
            self.item = item
            self.price = price
            self.surface = surface
            self.rankingID = rankingID
            self.position = position
            self.attributes = attributes
        }

        enum CodingKeys: String, CodingKey {
            case id = "event_id", rankingID = "ranking_id"
            case type, timestamp, user, item, price, surface, position, attributes
        }
    }

    private let connection: Mutex<HTTPConnection>

    /// A client for the server at `host:port`; `timeout` bounds each connect, send and receive, in seconds.
    public init(host: String = "127.0.0.1", port: UInt16, timeout: Double = 10) {
        connection = Mutex(HTTPConnection(host: host, port: port, timeout: timeout))
    }

    // MARK: The API

    public func recommendations(user: String, k: Int = 20, filters: Filters = Filters()) throws(RummageClientError) -> Recommendations {
        var query = [("k", String(k))]
        if let category = filters.category { query.append(("category", category)) }
        if let size = filters.size { query.append(("size", size)) }
        if let low = filters.minimumPrice { query.append(("min_price", String(low))) }
        if let high = filters.maximumPrice { query.append(("max_price", String(high))) }
        return try decode(try call("GET", "/v1/users/\(Self.percentEncoded(user))/recommendations", query: query))
    }

    public func similar(item: String, k: Int = 20) throws(RummageClientError) -> SimilarItems {
        try decode(try call("GET", "/v1/items/\(Self.percentEncoded(item))/similar", query: [("k", String(k))]))
    }

    public func send(events: [Event]) throws(RummageClientError) -> IngestReply {
        try decode(try call("POST", "/v1/events", json: events))
    }

    /// A new listing: embedded by the served model's item tower and searchable at once.
    public func createListing(item: String, seller: String, price: Double? = nil, attributes: [String: String] = [:])
        throws(RummageClientError) -> IngestReply {
        struct Listing: Encodable { var seller: String; var price: Double?; var attributes: [String: String] }
        return try decode(try call("PUT", "/v1/items/\(Self.percentEncoded(item))",
                                   json: Listing(seller: seller, price: price, attributes: attributes)))
    }

    /// Moves a listing to `state`; a sold, reserved, deleted or hidden listing is not served from then on.
    public func setState(item: String, _ state: ListingState) throws(RummageClientError) -> IngestReply {
        try decode(try call("PATCH", "/v1/items/\(Self.percentEncoded(item))", json: ["state": state.rawValue]))
    }

    public func ready() throws(RummageClientError) -> Readiness { try decode(try call("GET", "/readyz")) }

    /// The Prometheus text of `/metrics`.
    public func metrics() throws(RummageClientError) -> String { try call("GET", "/metrics").text }

    /// Hot swap (`POST /v1/admin/reload`): reloads `alias` (see openapi.yaml) with the admin bearer token.
    public func reload(alias: String? = nil, token: String) throws(RummageClientError) -> Reloaded {
        let body: [String: String]? = alias.map { ["alias": $0] }
        return try decode(try call("POST", "/v1/admin/reload", json: body, headers: ["Authorization": "Bearer \(token)"]))
    }

    /// Any request; answers of every status are returned, not thrown.
    public func request(_ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:])
        throws(RummageClientError) -> HTTPAnswer {
        var headers = headers
        if !body.isEmpty && headers["Content-Type"] == nil { headers["Content-Type"] = "application/json" }
        let idempotent = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method)
        return try connection.withLock { (c: inout HTTPConnection) throws(RummageClientError) -> HTTPAnswer in
            try c.send(method, path, body: body, headers: headers, idempotent: idempotent)
        }
    }

    // MARK: Helpers

    private func call(_ method: String, _ path: String, query: [(String, String)] = [], json: (some Encodable)? = String?.none,
                      headers: [String: String] = [:]) throws(RummageClientError) -> HTTPAnswer {
        var target = path
        if !query.isEmpty { target += "?" + query.map { "\($0.0)=\(Self.percentEncoded($0.1))" }.joined(separator: "&") }
        var body: [UInt8] = []
        if let json {
            do { body = Array(try JSONEncoder().encode(json)) } catch { throw .decoding("cannot encode the request: \(error)") }
        }
        let answer = try request(method, target, body: body, headers: headers)
        guard (200..<300).contains(answer.status) else {
            let message = (try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])?["error"] as? String
            throw .http(status: answer.status, message: message ?? answer.text)
        }
        return answer
    }

    private func decode<T: Decodable>(_ answer: HTTPAnswer) throws(RummageClientError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(answer.body))
        } catch {
            throw .decoding("\(T.self) from \(answer.text.prefix(200)): \(error)")
        }
    }

    /// Percent-encodes a path segment or query value (everything but the unreserved characters of RFC 3986).
    public static func percentEncoded(_ text: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}
