import Foundation
import RummageAPI
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
    // The wire types are RummageAPI's, the same the server encodes.
    public typealias ScoredItem = RummageAPI.ScoredItem
    public typealias Recommendations = RummageAPI.Recommendations
    public typealias SimilarItems = RummageAPI.SimilarItems
    public typealias IngestReply = RummageAPI.IngestReply
    public typealias ListingReply = RummageAPI.ListingReply
    public typealias Readiness = RummageAPI.Readiness
    public typealias Reloaded = RummageAPI.Reloaded
    public typealias Filters = RecommendationFilters
    /// The states `setState` can move a listing to.
    public typealias ListingState = ListingStateChange
    /// An event for `send(events:)`, as docs/events.md describes it.
    public typealias Event = EventPayload

    private let connection: Mutex<HTTPConnection>
    private let apiKey: String?

    /// A client for the server at `host:port`; `timeout` bounds each connect, send and receive, in seconds.
    /// `apiKey`: sent as `Authorization: Bearer KEY` with every request (docs/security.md).
    public init(host: String = "127.0.0.1", port: UInt16, timeout: Double = 10, apiKey: String? = nil) {
        connection = Mutex(HTTPConnection(host: host, port: port, timeout: timeout))
        self.apiKey = apiKey
    }

    // MARK: The API

    public func recommendations(user: String, k: Int = 20, filters: Filters = Filters()) throws(RummageClientError) -> Recommendations {
        try decode(try call("GET", "/v1/users/\(Self.percentEncoded(user))/recommendations", query: [("k", String(k))] + filters.queryItems))
    }

    public func similar(item: String, k: Int = 20) throws(RummageClientError) -> SimilarItems {
        try decode(try call("GET", "/v1/items/\(Self.percentEncoded(item))/similar", query: [("k", String(k))]))
    }

    /// Surface `surface`'s list (docs/serving.md, "Surfaces") for `user`, anchored on `item` when the
    /// surface retrieves by listing; `explain` adds each listing's source, retrieval score and rank.
    public func surface(_ surface: String, user: String? = nil, item: String? = nil, k: Int = 20, filters: Filters = Filters(),
                        explain: Bool = false) throws(RummageClientError) -> SurfaceRecommendations {
        var query = [("k", String(k))] + filters.queryItems
        if let user { query.append(("user", user)) }
        if let item { query.append(("item", item)) }
        if explain { query.append(("explain", "true")) }
        return try decode(try call("GET", "/v1/surfaces/\(Self.percentEncoded(surface))/recommendations", query: query))
    }

    public func send(events: [Event]) throws(RummageClientError) -> IngestReply {
        try decode(try call("POST", "/v1/events", json: events))
    }

    /// A new listing: embedded by the served model's item tower and searchable at once.
    public func createListing(item: String, seller: String, price: Double? = nil, attributes: [String: String] = [:])
        throws(RummageClientError) -> IngestReply {
        try decode(try call("PUT", "/v1/items/\(Self.percentEncoded(item))",
                            json: ListingPayload(seller: seller, price: price, attributes: attributes)))
    }

    /// Moves a listing to `state` on behalf of `seller` (nil: the key must be allowed to act for any
    /// seller); a sold, reserved, hidden or deleted listing is not served from then on. Answers the state,
    /// with `changed` false when the listing was already in it.
    public func setState(item: String, _ state: ListingState, seller: String? = nil) throws(RummageClientError) -> ListingReply {
        try decode(try call("PATCH", "/v1/items/\(Self.percentEncoded(item))", json: StateChangePayload(state: state, seller: seller)))
    }

    /// A listing's state and seller (`GET /v1/items/{item}`).
    public func listing(item: String) throws(RummageClientError) -> ListingReply {
        try decode(try call("GET", "/v1/items/\(Self.percentEncoded(item))"))
    }

    public func ready() throws(RummageClientError) -> Readiness { try decode(try call("GET", "/readyz")) }

    /// The Prometheus text of `/metrics`.
    public func metrics() throws(RummageClientError) -> String { try call("GET", "/metrics").text }

    /// Hot swap (`POST /v1/admin/reload`): reloads `alias` (see openapi.yaml); needs a key with the admin scope.
    public func reload(alias: String? = nil) throws(RummageClientError) -> Reloaded {
        try decode(try call("POST", "/v1/admin/reload", json: alias.map { ReloadPayload(alias: $0) }))
    }

    /// Any request (with the client's API key unless `headers` has an `Authorization`); answers of every
    /// status are returned, not thrown.
    public func request(_ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:])
        throws(RummageClientError) -> HTTPAnswer {
        var headers = headers
        if let apiKey, headers["Authorization"] == nil { headers["Authorization"] = "Bearer \(apiKey)" }
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
            let message = try? JSONDecoder().decode(ErrorReply.self, from: Data(answer.body)).error
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
