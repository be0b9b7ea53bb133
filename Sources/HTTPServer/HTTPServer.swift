import CMicroHTTPD
import Foundation
import Synchronization

/// An HTTP request as a handler sees it. Header and query look-ups read the live connection, so a
/// request is only valid during its handler call.
public struct HTTPRequest {
    public let method: String
    public let path: String
    public let body: [UInt8]
    /// Values of `{name}` segments of the matched route.
    public internal(set) var parameters: [String: String] = [:]
    let connection: UnsafeMutableRawPointer?
    /// Query arguments and headers (lower-cased names) of an in-process request; served requests read
    /// them from the connection.
    private var queryItems: [String: String] = [:]
    private var headers: [String: String] = [:]

    /// The client's IP address as text ("127.0.0.1", "::1"); empty for in-process requests.
    public var clientAddress: String {
        guard let connection else { return "" }
        var text = [CChar](repeating: 0, count: 64)
        cmhd_client_address(connection, &text, text.count)
        return String(cString: text)
    }

    public func header(_ name: String) -> String? {
        guard let connection else { return headers[name.lowercased()] }
        return cmhd_header(connection, name).map { String(cString: $0) }
    }

    /// A query argument's value, percent-decoded once (the server hands arguments over as sent).
    public func query(_ name: String) -> String? {
        guard let connection else { return queryItems[name] }
        return cmhd_query(connection, name).map { String(cString: $0) }.map { $0.removingPercentEncoding ?? $0 }
    }

    /// For tests and in-process calls: `path` may carry a query string (`/a?k=5`).
    public init(method: String, path: String, body: [UInt8] = [], headers: [String: String] = [:]) {
        self.method = method
        self.headers = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) })
        let parts = path.split(separator: "?", maxSplits: 1)
        self.path = parts.first.map(String.init) ?? path
        for pair in parts.dropFirst().first?.split(separator: "&") ?? [] {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            queryItems[kv[0]] = kv.count > 1 ? kv[1] : ""
        }
        self.body = body
        connection = nil
    }

    init(method: String, path: String, body: [UInt8], connection: UnsafeMutableRawPointer?) {
        self.method = method
        self.path = path
        self.body = body
        self.connection = connection
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Must be a string literal (handed to C as a static string).
    public var contentType: StaticString
    /// Further headers (`Allow` on 405 answers, `WWW-Authenticate` on 401 answers); values hold no line breaks.
    public var headers: [String: String]

    public init(status: Int = 200, body: [UInt8], contentType: StaticString = "application/json", headers: [String: String] = [:]) {
        self.status = status
        self.body = body
        self.contentType = contentType
        self.headers = headers
    }

    /// A JSON response from an encodable value.
    public static func json(_ value: some Encodable, status: Int = 200) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return HTTPResponse(status: status, body: Array((try? encoder.encode(value)) ?? Data("{}".utf8)))
    }

    public static func text(_ text: String, status: Int = 200, contentType: StaticString = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, body: Array(text.utf8), contentType: contentType)
    }
}

/// An error answered as `{"error": message}` with its status: the HTTP boundary's error type.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    /// Headers sent with the answer (e.g. `WWW-Authenticate` with a 401).
    public var headers: [String: String]

    public init(_ status: Int, _ message: String, headers: [String: String] = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status): \(message)" }

    public var response: HTTPResponse {
        var response = HTTPResponse.json(["error": message], status: status)
        response.headers = headers
        return response
    }
}

/// Routes `METHOD /path/{parameter}/…` patterns to handlers. Unknown paths answer 404, known paths with
/// another method 405, handler errors their `HTTPError` status (other errors 500), all as JSON.
public final class Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) throws -> HTTPResponse

    private struct Route: Sendable {
        let method: String
        let segments: [String]
        let handler: Handler
    }

    private let routes = Mutex<[Route]>([])

    public init() {}

    public func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        let segments = pattern.split(separator: "/").map(String.init)
        routes.withLock { $0.append(Route(method: method, segments: segments, handler: handler)) }
    }

    /// Every route as (method, pattern), in the order added.
    public var routeList: [(method: String, pattern: String)] {
        routes.withLock { $0.map { ($0.method, "/" + $0.segments.joined(separator: "/")) } }
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let segments = request.path.split(separator: "/").map(String.init)
        var allowed: [String] = []
        for route in routes.withLock({ $0 }) {
            guard let parameters = Self.match(route.segments, segments) else { continue }
            allowed.append(route.method)
            guard route.method == request.method else { continue }
            var routed = request
            routed.parameters = parameters
            do {
                return try route.handler(routed)
            } catch let error as HTTPError {
                return error.response
            } catch {
                return HTTPError(500, "\(error)").response
            }
        }
        guard !allowed.isEmpty else { return HTTPError(404, "no route for \(request.method) \(request.path)").response }
        return HTTPError(405, "method \(request.method) not allowed on \(request.path)", headers: ["Allow": allowed.joined(separator: ", ")]).response
    }

    private static func match(_ pattern: [String], _ path: [String]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (p, s) in zip(pattern, path) {
            if p.hasPrefix("{") && p.hasSuffix("}") {
                parameters[String(p.dropFirst().dropLast())] = s.removingPercentEncoding ?? s
            } else if p != s {
                return nil
            }
        }
        return parameters
    }
}

/// An HTTP/1.1 server (HTTPS with a certificate) dispatching to a `Router`: libmicrohttpd's epoll thread
/// does the socket work and `threads` workers run the handlers, each taking the next complete request
/// from any connection (so a burst of connections cannot pile onto one thread).
///
/// Before routing, a request whose `Host` is not allowed is answered 421, and a state change (any
/// method but GET, HEAD and OPTIONS) that a browser sends cross-site (an `Origin` header that is not
/// allowed, or `Sec-Fetch-Site: cross-site`) is answered 403.
///
/// `stop()` is graceful: it stops accepting connections, waits (up to `drainSeconds`) for in-flight
/// requests to finish, then shuts the daemon down.
public final class HTTPServer: @unchecked Sendable {
    // @unchecked because: `server` is written only by start/stop, which the owner calls from one thread;
    // request handling only reads `router`.
    public struct Configuration: Sendable {
        /// A numeric IPv4 or IPv6 address ("::" or "0.0.0.0": every interface).
        public var host = "127.0.0.1"
        public var port: UInt16 = 0
        /// Worker threads running handlers.
        public var threads = 4
        /// Larger bodies are answered 413 (a declared Content-Length before any byte is read).
        public var maxBodyBytes = 1 << 20
        /// The body bytes all connections may hold at once; a body that would pass it is answered 503.
        public var maxBufferedBytes = 64 << 20
        /// Idle connections are closed after this many seconds.
        public var timeoutSeconds = 30
        /// A request header must be complete this many seconds after the connection opened or the
        /// previous answer was sent, or the connection is closed.
        public var headerTimeoutSeconds = 15
        /// Open connections in all, and from one client address.
        public var connectionLimit = 4_096
        public var perClientConnectionLimit = 256
        /// PEM certificate (chain) and private key: serve HTTPS. Both or neither.
        public var tls: (certificate: String, key: String)?
        /// `Host` names (without port, lower-case) requests may carry. nil: the loopback names when `host`
        /// is a loopback address (so a web page cannot reach the server by rebinding a DNS name to it),
        /// any name otherwise.
        public var allowedHosts: Set<String>?
        /// `Origin`s whose pages may change state (cross-site requests are refused otherwise).
        public var allowedOrigins: Set<String> = []
        public init() {}

        /// Whether `host` is a loopback address (127.0.0.0/8 or ::1).
        public static func isLoopback(_ host: String) -> Bool {
            host == "::1" || host.hasPrefix("127.") || host == "localhost"
        }

        /// The names a loopback server answers to.
        public static let loopbackNames: Set<String> = ["localhost", "127.0.0.1", "::1"]
    }

    public let router: Router
    public let configuration: Configuration
    private var server: OpaquePointer?

    public init(router: Router, configuration: Configuration = .init()) {
        self.router = router
        self.configuration = configuration
    }

    /// Starts listening; throws when the port cannot be bound.
    public func start() throws(HTTPError) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        let c = configuration
        var error = [CChar](repeating: 0, count: 256)
        let started = c.host.withCString { host in
            (c.tls?.certificate ?? "").withCString { certificate in
                (c.tls?.key ?? "").withCString { key in
                    var config = cmhd_config(host: host, port: c.port, threads: UInt32(c.threads), max_body: c.maxBodyBytes,
                                             max_buffered: c.maxBufferedBytes, idle_timeout: UInt32(c.timeoutSeconds),
                                             header_timeout: UInt32(c.headerTimeoutSeconds), connection_limit: UInt32(c.connectionLimit),
                                             per_client_limit: UInt32(c.perClientConnectionLimit),
                                             tls_cert_pem: c.tls == nil ? nil : certificate, tls_key_pem: c.tls == nil ? nil : key)
                    return cmhd_start(&config, httpServerHandler, context, &error, error.count)
                }
            }
        }
        guard let started else { throw HTTPError(500, String(cString: error)) }
        server = started
    }

    /// Open connections.
    public var openConnections: Int { server.map { Int(cmhd_connections($0)) } ?? 0 }

    /// The answer for a request the transport rules refuse (its `Host` or a cross-site state change), or nil.
    func refusal(_ request: HTTPRequest) -> HTTPResponse? {
        if let allowed = configuration.allowedHosts ?? (Configuration.isLoopback(configuration.host) ? Configuration.loopbackNames : nil) {
            let host = Self.hostName(request.header("Host") ?? "")
            guard allowed.contains(host) else {
                return HTTPError(421, "this server does not answer for host '\(host)'").response
            }
        }
        guard !["GET", "HEAD", "OPTIONS"].contains(request.method) else { return nil }
        if let origin = request.header("Origin"), !configuration.allowedOrigins.contains(origin) {
            return HTTPError(403, "cross-site requests may not change state (Origin: \(origin))").response
        }
        if request.header("Sec-Fetch-Site") == "cross-site" {
            return HTTPError(403, "cross-site requests may not change state (Sec-Fetch-Site: cross-site)").response
        }
        return nil
    }

    /// The host of a `Host` header, lower-cased, without port or IPv6 brackets ("[::1]:8080" → "::1").
    static func hostName(_ header: String) -> String {
        let value = header.lowercased()
        if value.hasPrefix("["), let close = value.firstIndex(of: "]") {
            return String(value[value.index(after: value.startIndex)..<close])
        }
        return String(value.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    /// The bound port (the chosen one when the configuration asked for 0).
    public var port: UInt16 { server.map { cmhd_port($0) } ?? 0 }

    public func stop(drainSeconds: Double = 10) {
        guard let server else { return }
        cmhd_quiesce(server)
        let deadline = Date().addingTimeInterval(drainSeconds)
        while cmhd_pending(server) > 0 && Date() < deadline { usleep(10_000) }
        cmhd_stop(server)
        self.server = nil
    }

    deinit { if let server { cmhd_stop(server) } }

    /// A port the kernel picks for a socket bound to 127.0.0.1, released again for another process (a
    /// peer server in a benchmark, Prometheus in a test) to take.
    public static func freeLoopbackPort() throws(HTTPError) -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw HTTPError(500, "cannot find a free loopback port") }
        return UInt16(bigEndian: address.sin_port)
    }

    func respond(_ request: UnsafePointer<cmhd_request>, _ response: UnsafeMutablePointer<cmhd_response>) {
        let r = request.pointee
        let body = r.body_len > 0 && r.body != nil
            ? Array(UnsafeRawBufferPointer(start: r.body, count: r.body_len)) : []
        let incoming = HTTPRequest(method: String(cString: r.method), path: String(cString: r.url), body: body, connection: r.connection)
        let answer = refusal(incoming) ?? router.handle(incoming)
        response.pointee.status = UInt32(answer.status)
        if !answer.body.isEmpty, let buffer = malloc(answer.body.count) {
            answer.body.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: answer.body.count) }
            response.pointee.body = buffer.assumingMemoryBound(to: CChar.self)
            response.pointee.body_len = answer.body.count
        }
        response.pointee.content_type = UnsafeRawPointer(answer.contentType.utf8Start).assumingMemoryBound(to: CChar.self)
        if !answer.headers.isEmpty {
            response.pointee.headers = strdup(answer.headers.map { "\($0.key): \($0.value)\n" }.joined())
        }
    }
}

/// The C handler: a plain function outside main.swift (swift-notes: callbacks in main.swift crash).
private let httpServerHandler: cmhd_handler = { context, request, response in
    guard let context, let request, let response else { return }
    Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue().respond(request, response)
}
