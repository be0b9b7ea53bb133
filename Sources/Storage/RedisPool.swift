import Foundation
import Synchronization

/// Connections to one Redis server, shared by threads: `withConnection` lends an idle connection (or
/// opens one) for the duration of a call. A connection that failed is closed rather than returned, so
/// the next call reconnects: a restarted server is picked up without restarting the process.
public final class RedisPool: Sendable {
    public let host: String
    public let port: Int
    /// The logical database (`SELECT`) every connection uses.
    public let database: Int
    /// The deadline of a call on a request's path (a read while answering), and of any other call.
    public let requestTimeoutMilliseconds: Int
    public let timeoutMilliseconds: Int
    /// Guards the request path: while it is open, request-path calls fail at once and their callers
    /// fall back (other calls still try, with their own deadline).
    public let breaker: CircuitBreaker
    private let idle = Mutex<[RedisConnection]>([])

    public init(host: String = "127.0.0.1", port: Int, database: Int = 0, requestTimeoutMilliseconds: Int = 50,
                timeoutMilliseconds: Int = 2_000, breaker: CircuitBreaker = CircuitBreaker()) {
        self.host = host
        self.port = port
        self.database = database
        self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        self.timeoutMilliseconds = timeoutMilliseconds
        self.breaker = breaker
    }

    /// Parses `redis://HOST:PORT[/DB][?request_timeout_ms=N]` (port 6379, database 0 and a 50 ms
    /// request-path deadline by default).
    public convenience init(url: String) throws(StorageError) {
        guard url.hasPrefix("redis://") else { throw StorageError(code: -1, "'\(url)' is not a redis:// URL") }
        let parts = url.dropFirst("redis://".count).split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var rest = parts[0]
        var requestTimeout = 50
        for pair in (parts.count > 1 ? parts[1] : "").split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, kv[0] == "request_timeout_ms", let ms = Int(kv[1]), (1...60_000).contains(ms) else {
                throw StorageError(code: -1, "'\(url)': the only parameter is request_timeout_ms=1…60000, got '\(pair)'")
            }
            requestTimeout = ms
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            guard let n = Int(db), n >= 0 else { throw StorageError(code: -1, "'\(url)': database '\(db)' is not a number") }
            database = n
            rest = rest[..<slash]
        }
        var host = String(rest), port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(p) else {
                throw StorageError(code: -1, "'\(url)': port '\(rest[rest.index(after: colon)...])' is not a port number")
            }
            host = String(rest[..<colon])
            port = p
        }
        self.init(host: host.isEmpty ? "127.0.0.1" : host, port: port, database: database, requestTimeoutMilliseconds: requestTimeout)
    }

    public var url: String { "redis://\(host):\(port)/\(database)" }

    /// Runs `body` on a connection of its own, within the request path's timeout and circuit when
    /// `onRequestPath`, and within the work's `Deadline` (none left: `deadlinePassed`, nothing sent). When `body` throws, the connection is closed (it may be mid-reply or broken) and
    /// the error rethrown.
    public func withConnection<R>(onRequestPath: Bool = false, _ body: (RedisConnection) throws(StorageError) -> R) throws(StorageError) -> R {
        if Deadline.remainingMilliseconds == 0 { throw Deadline.passed("redis \(host):\(port)") }
        if onRequestPath && !breaker.allows() {
            throw StorageError(code: StorageError.unreachable, "redis \(host):\(port): circuit open after repeated timeouts")
        }
        let deadline = Deadline.capped(onRequestPath ? requestTimeoutMilliseconds : timeoutMilliseconds)
        do {
            let connection: RedisConnection
            if let reused = idle.withLock({ $0.popLast() }) {
                connection = reused
                connection.setTimeout(milliseconds: deadline)
            } else {
                connection = try RedisConnection(host: host, port: port, timeoutMilliseconds: deadline)
                if database != 0 { try connection.command(["SELECT", String(database)]) }
            }
            let result = try body(connection)
            idle.withLock { $0.append(connection) }
            if onRequestPath { breaker.record(success: true) }
            return result
        } catch {
            if onRequestPath { breaker.record(success: error.code != StorageError.unreachable) }
            // The server went away (or restarted): the idle connections to it are as dead as this one.
            if error.code == StorageError.unreachable { idle.withLock { $0.removeAll() } }
            throw error
        }
    }

    /// One command on a pooled connection.
    @discardableResult
    public func command(_ arguments: [String], onRequestPath: Bool = false) throws(StorageError) -> RedisReply {
        try withConnection(onRequestPath: onRequestPath) { c throws(StorageError) in try c.command(arguments) }
    }

    /// Commands sent in one round trip on a pooled connection.
    public func pipeline(_ commands: [[String]], onRequestPath: Bool = false) throws(StorageError) -> [RedisReply] {
        try withConnection(onRequestPath: onRequestPath) { c throws(StorageError) in try c.pipeline(commands) }
    }

    /// Every key matching `pattern`, by SCAN (which never blocks the server the way KEYS does).
    public func keys(matching pattern: String) throws(StorageError) -> [String] {
        var keys: [String] = [], cursor = "0"
        repeat {
            let reply = try command(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])
            guard case .array(let parts) = reply, parts.count == 2, case .array(let found) = parts[1] else { break }
            cursor = parts[0].text ?? "0"
            keys += found.compactMap(\.text)
        } while cursor != "0"
        return keys
    }

    /// Deletes `keys` (UNLINK: freed in the background), a thousand per command.
    public func unlink(_ keys: [String]) throws(StorageError) {
        for start in stride(from: 0, to: keys.count, by: 1_000) { try command(["UNLINK"] + keys[start..<min(keys.count, start + 1_000)]) }
    }
}
