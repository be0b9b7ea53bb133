import CPostgres
#if canImport(Glibc)
import Glibc
#endif

/// One PostgreSQL connection (Debian's libpq). Not safe to use from two threads at once: owners
/// serialise access (as `PostgreSQLEventLog` does with a mutex). Parameters and results travel as text;
/// a nil parameter is SQL NULL.
public final class PostgreSQLConnection: @unchecked Sendable {
    // @unchecked because: the connection pointer is only used under the owner's lock.
    private let connection: OpaquePointer
    public let conninfo: String

    /// Connects with a libpq connection string, e.g. `host=127.0.0.1 port=5432 dbname=rummage user=rummage`.
    public init(_ conninfo: String) throws(StorageError) {
        self.conninfo = conninfo
        guard let connection = PQconnectdb(conninfo) else { throw StorageError(code: -1, "postgres: out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines
            PQfinish(connection)
            throw StorageError(code: -1, "postgres (\(conninfo)): \(message)")
        }
        self.connection = connection
        // Server notices ("relation … already exists, skipping") would go to stderr: keep warnings and up.
        try execute("SET client_min_messages TO warning")
    }

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
        let sent: Int32 = withTextParameters(parameters) { values in
            parameters.isEmpty ? PQsendQuery(connection, sql)
                : PQsendQueryParams(connection, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw error("sending") }
        // Single-row mode streams one statement's rows; a parameterless multi-statement script (schema
        // set-up) cannot use it and has no rows worth streaming.
        if !parameters.isEmpty || !sql.contains(";") { PQsetSingleRowMode(connection) }
        var failure: StorageError? = nil
        while let result = PQgetResult(connection) {
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
    public func transaction<R>(_ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        try execute("BEGIN")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    private func error(_ doing: String) -> StorageError {
        StorageError(code: -1, "postgres \(doing): \(String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines)")
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
