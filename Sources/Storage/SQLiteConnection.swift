import CSQLite

/// An error from the embedded database: SQLite's result code and message, and what was being done.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var message: String

    /// Another writer held the writers' lock for longer than a writer waits: retry later (HTTP 503
    /// with Retry-After).
    public static let writersBusy: Int32 = -1001
    /// The writers' lock this write was made under was lost to a newer holder: nothing was written.
    public static let fenced: Int32 = -1002
    /// The server did not answer (connection refused, reset or timed out), or its circuit is open.
    public static let unreachable: Int32 = -1003
    /// The deadline of the work this call was part of (`Deadline`) passed before it could be made.
    public static let deadlinePassed: Int32 = -1004

    public init(code: Int32, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// One SQLite connection (Debian's libsqlite3). Not safe to use from two threads at once: owners
/// serialise access (the event log holds it behind a mutex).
///
/// Opened in WAL mode with `synchronous=FULL`, so a committed transaction is on disk (fsync'd) when
/// `commit` returns, and readers never block the writer.
public final class SQLiteConnection {
    public let path: String
    private var handle: OpaquePointer?

    /// Opens (creating if needed) the database at `path`.
    public init(path: String) throws(StorageError) {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &db, flags, nil)
        guard code == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw StorageError(code: code, "\(path): cannot open database: \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, 10_000)
        try execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
    }

    deinit { sqlite3_close_v2(handle) }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(StorageError) {
        var error: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &error)
        if code != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "error \(code)"
            sqlite3_free(error)
            throw StorageError(code: code, "\(path): \(message)")
        }
    }

    public func prepare(_ sql: String) throws(StorageError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code, "cannot prepare '\(sql)'") }
        return SQLiteStatement(statement, connection: self)
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE` … `COMMIT`); rolls back if it throws.
    public func transaction<R>(_ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    func error(_ code: Int32, _ doing: String) -> StorageError {
        StorageError(code: code, "\(path): \(doing): \(String(cString: sqlite3_errmsg(handle)))")
    }
}

/// A prepared statement, reused across executions: bind, `step` until it returns false, `reset`.
/// Parameter and column indices start at 1 and 0 respectively, as in SQLite.
public final class SQLiteStatement {
    private let statement: OpaquePointer
    private unowned let connection: SQLiteConnection

    init(_ statement: OpaquePointer, connection: SQLiteConnection) {
        self.statement = statement
        self.connection = connection
    }

    deinit { sqlite3_finalize(statement) }

    public func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(statement, index, value) } else { sqlite3_bind_null(statement, index) }
    }

    public func bind(_ index: Int32, _ value: Double?) {
        if let value { sqlite3_bind_double(statement, index, value) } else { sqlite3_bind_null(statement, index) }
    }

    public func bind(_ index: Int32, _ value: String?) {
        if let value { sqlite3_bind_text(statement, index, value, -1, rummage_sqlite_transient()) } else { sqlite3_bind_null(statement, index) }
    }

    /// Advances to the next row: true when a row is available, false when done.
    @discardableResult
    public func step() throws(StorageError) -> Bool {
        let code = sqlite3_step(statement)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(code, "step")
        }
    }

    /// Ready for the next execution; bindings are cleared.
    public func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    public func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
    public func string(_ column: Int32) -> String? {
        guard let text = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: text)
    }
}
