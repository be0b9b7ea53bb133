import CPostgres
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One PostgreSQL connection (Debian's libpq). Not safe to use from two threads at once: owners
/// serialise access (as `PostgreSQLEventLog` does with a mutex). Parameters and results travel as text;
/// a nil parameter is SQL NULL.
///
/// Deadlines: unless the connection string sets them, connecting gives up after `connect_timeout` (5 s),
/// TCP keepalives and `tcp_user_timeout` (10 s) notice a dead or black-holed path, and a transaction's
/// statements are cancelled after its `statementTimeoutMilliseconds` (long reads, such as a replay of
/// the whole log, have none). Within a `Deadline` (a request's, a writer's turn), waiting for the server
/// gives up when it passes (`StorageError.unreachable`): the connection is abandoned (its statement may
/// still be in flight) and re-established before the next statement, itself within the deadline.
/// Reconnection: a connection the server dropped (a restart) is re-established before the next
/// statement, and a statement outside a transaction (a read, or the BEGIN that opens one) that fails
/// because the connection broke is sent once more on the new connection; a transaction in flight fails
/// (its caller retries).
public final class PostgreSQLConnection: @unchecked Sendable {
    // @unchecked because: the connection pointer is only used under the owner's lock.
    private let connection: OpaquePointer
    public let conninfo: String
    private var inTransaction = false
    /// A statement was given up on before its answer came: the connection must be re-established.
    private var abandoned = false

    /// The deadlines added to a connection string that does not set them.
    static let defaultParameters = [("connect_timeout", "5"), ("keepalives", "1"), ("keepalives_idle", "5"), ("keepalives_interval", "2"),
                                    ("keepalives_count", "3"), ("tcp_user_timeout", "10000")]

    /// Connects with a libpq connection string (`host=127.0.0.1 port=5432 dbname=rummage user=rummage`
    /// or a `postgresql://` URI).
    public init(_ conninfo: String) throws(StorageError) {
        self.conninfo = conninfo
        let withDeadlines = Self.addingDefaults(to: conninfo)
        guard let connection = PQconnectdb(withDeadlines) else { throw StorageError(code: -1, "postgres: out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines
            PQfinish(connection)
            throw StorageError(code: -1, "postgres (\(conninfo)): \(message)")
        }
        self.connection = connection
        try configureSession()
    }

    /// `conninfo` with each of `defaultParameters` it does not set.
    static func addingDefaults(to conninfo: String) -> String {
        let isURI = conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://")
        var result = conninfo
        for (key, value) in defaultParameters where !conninfo.contains(key + "=") {
            if isURI {
                result += (result.contains("?") ? "&" : "?") + "\(key)=\(value)"
            } else {
                result += " \(key)=\(value)"
            }
        }
        return result
    }

    /// Session settings, set again after each reconnection. Server notices ("relation … already exists,
    /// skipping") would go to stderr: keep warnings and up.
    private func configureSession() throws(StorageError) {
        try send("SET client_min_messages TO warning", [], { _ throws(StorageError) in })
    }

    /// Whether the connection is up (it is re-established on the next statement otherwise).
    public var isConnected: Bool { !abandoned && PQstatus(connection) == CONNECTION_OK }

    deinit { PQfinish(connection) }

    /// Runs one statement (or several, without parameters) and returns its rows, values as text.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(StorageError) -> [[String?]] {
        var rows: [[String?]] = []
        try query(sql, parameters) { row in rows.append(row) }
        return rows
    }

    /// Runs one statement and hands its rows to `body` one at a time as they arrive (single-row mode), so
    /// a large read is never held in memory whole.
    public func query(_ sql: String, _ parameters: [String?], _ body: ([String?]) throws(StorageError) -> Void) throws(StorageError) {
        try reconnectIfDropped()
        do {
            try send(sql, parameters, body)
        } catch {
            // The connection broke under a statement that may be sent again: reconnect and send it once more
            // (not when the deadline passed: there is no time left to).
            guard !inTransaction, !abandoned, PQstatus(connection) != CONNECTION_OK else { throw error }
            try reconnectIfDropped()
            try send(sql, parameters, body)
        }
    }

    /// Re-establishes a connection the server dropped or that was abandoned (`PQreset`, with the same
    /// parameters and deadlines; within the `Deadline`, if one is bound).
    private func reconnectIfDropped() throws(StorageError) {
        guard abandoned || PQstatus(connection) != CONNECTION_OK else { return }
        inTransaction = false
        if let deadline = Deadline.uptimeNanoseconds {
            guard PQresetStart(connection) == 1 else { throw error("reconnecting", code: StorageError.unreachable) }
            var polling = PGRES_POLLING_WRITING
            while polling != PGRES_POLLING_OK {
                guard polling != PGRES_POLLING_FAILED else { throw error("reconnecting", code: StorageError.unreachable) }
                try waitForSocket(polling == PGRES_POLLING_READING ? POLLIN : POLLOUT, until: deadline, doing: "reconnecting")
                polling = PQresetPoll(connection)
            }
        } else {
            PQreset(connection)
        }
        abandoned = false
        guard PQstatus(connection) == CONNECTION_OK else { throw error("reconnecting", code: StorageError.unreachable) }
        try configureSession()
    }

    /// Waits until the connection's socket is ready for `events` or `deadline` (uptime nanoseconds)
    /// passes; then the connection is abandoned and `StorageError.unreachable` thrown.
    private func waitForSocket(_ events: Int32, until deadline: UInt64, doing: String) throws(StorageError) {
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else {
                abandoned = true
                throw StorageError(code: StorageError.unreachable, "postgres \(doing): no answer before the deadline")
            }
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(events), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min((deadline - now) / 1_000_000 + 1, 60_000)))
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw error(doing, code: StorageError.unreachable) }
        }
    }

    /// The statement's next result (nil after the last), waiting at most until the `Deadline`.
    private func nextResult() throws(StorageError) -> OpaquePointer? {
        if let deadline = Deadline.uptimeNanoseconds {
            while PQisBusy(connection) == 1 {
                try waitForSocket(POLLIN, until: deadline, doing: "waiting for an answer")
                guard PQconsumeInput(connection) == 1 else { throw error("receiving", code: StorageError.unreachable) }
            }
        }
        return PQgetResult(connection)
    }

    private func send(_ sql: String, _ parameters: [String?], _ body: ([String?]) throws(StorageError) -> Void) throws(StorageError) {
        let sent: Int32 = withTextParameters(parameters) { values in
            parameters.isEmpty ? PQsendQuery(connection, sql)
                : PQsendQueryParams(connection, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw error("sending") }
        // Single-row mode streams one statement's rows; a parameterless multi-statement script (schema
        // set-up) cannot use it and has no rows worth streaming.
        if !parameters.isEmpty || !sql.contains(";") { PQsetSingleRowMode(connection) }
        var failure: StorageError? = nil
        while let result = try nextResult() {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_SINGLE_TUPLE, PGRES_TUPLES_OK:
                guard failure == nil else { continue }
                for r in 0..<PQntuples(result) {
                    let row = (0..<PQnfields(result)).map { c -> String? in
                        PQgetisnull(result, r, c) == 1 ? nil : String(cString: PQgetvalue(result, r, c))
                    }
                    do { try body(row) } catch { failure = error }
                }
            case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                continue
            default:
                if failure == nil {
                    let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
                    failure = StorageError(code: state == "23505" ? 19 : -1,
                                           "postgres: \(String(cString: PQresultErrorMessage(result)).trimmingTrailingNewlines)")
                }
            }
        }
        if let failure { throw failure }
    }

    /// Runs `body` inside BEGIN … COMMIT; rolls back when it throws. COMMIT returns once the transaction
    /// is durable (PostgreSQL's default `synchronous_commit = on`).
    /// `statementTimeoutMilliseconds`: each statement of the transaction is cancelled after this long
    /// (0: never), so a writer never holds its turn for longer on a stuck server.
    /// `idleTimeoutMilliseconds`: the server ends the session when the transaction waits this long for
    /// the client's next statement (0: never), so a client that stalls, is paused or loses its path
    /// mid-transaction releases the rows it locked.
    public func transaction<R>(statementTimeoutMilliseconds: Int = 0, idleTimeoutMilliseconds: Int = 0,
                               _ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        var begin = "BEGIN"
        if statementTimeoutMilliseconds > 0 { begin += "; SET LOCAL statement_timeout = \(statementTimeoutMilliseconds)" }
        if idleTimeoutMilliseconds > 0 { begin += "; SET LOCAL idle_in_transaction_session_timeout = \(idleTimeoutMilliseconds)" }
        try execute(begin)
        inTransaction = true
        defer { inTransaction = false }
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // An abandoned connection is closed instead, which rolls back on the server.
            if !abandoned { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    private func error(_ doing: String, code: Int32 = -1) -> StorageError {
        StorageError(code: code, "postgres \(doing): \(String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines)")
    }
}

/// C strings for the parameters (nil for NULL), valid during `body`.
private func withTextParameters<R>(_ parameters: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies = parameters.map { $0.map { strdup($0) } ?? nil }
    defer { copies.forEach { free($0) } }
    return body(copies.map { $0.map { UnsafePointer($0) } })
}

extension String {
    fileprivate var trimmingTrailingNewlines: String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
