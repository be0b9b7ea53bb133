import RummageCore
import Storage
import Synchronization

/// The event log on PostgreSQL, for a log shared by several machines: one `events` table whose `seq`
/// (a bigserial) is the append order and whose unique (`producer`, `event_id`) makes duplicates no-ops
/// (a schema-1 log is migrated in place when opened). A batch is one
/// transaction; COMMIT returns once PostgreSQL has flushed it (`synchronous_commit = on`, the default),
/// so `append` has the same durability contract as `SQLiteEventLog`. Same schema version, same
/// conformance tests.
public final class PostgreSQLEventLog: EventLog {
    public let conninfo: String
    private let connection: Mutex<PostgreSQLConnection>
    /// Opens after a call finds the server unreachable (a timeout, a failed reconnection): calls then fail
    /// at once until a trial statement (`checkReachable`) gets through.
    let breaker = CircuitBreaker(failureThreshold: 1, openMilliseconds: 1_000)
    /// The deadline of `checkReachable`'s trial statement.
    static let trialMilliseconds = 1_000

    /// Connects (libpq connection string) and creates the schema if needed. Throws if the database holds
    /// an event log of another schema version.
    public init(conninfo: String) throws(StorageError) {
        self.conninfo = conninfo
        let db = try PostgreSQLConnection(conninfo)
        let schema = SQLiteEventLog.schemaVersion
        _ = try db.execute("""
            CREATE TABLE IF NOT EXISTS rummage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO rummage_meta VALUES ('event_log_schema', '\(schema)') ON CONFLICT (key) DO NOTHING;
            """)
        let version = try db.execute("SELECT value FROM rummage_meta WHERE key = 'event_log_schema'").first?.first.flatMap { $0 }
        guard let version, [schema, "1"].contains(version) else {
            throw StorageError(code: 0, "\(conninfo): event log schema \(version ?? "?") is not version \(schema)")
        }
        try db.transaction { () throws(StorageError) in
            if version == "1" {
                // Every schema-1 event becomes the producer-less ("") event it was; no fingerprints are known.
                _ = try db.execute("""
                    ALTER TABLE events ADD COLUMN IF NOT EXISTS producer TEXT NOT NULL DEFAULT '', ADD COLUMN IF NOT EXISTS fingerprint TEXT;
                    ALTER TABLE events DROP CONSTRAINT IF EXISTS events_event_id_key;
                    UPDATE rummage_meta SET value = '\(schema)' WHERE key = 'event_log_schema';
                    """)
            }
            _ = try db.execute("""
                CREATE TABLE IF NOT EXISTS events (
                    seq BIGSERIAL PRIMARY KEY, type TEXT NOT NULL, ts BIGINT NOT NULL, "user" TEXT, item TEXT, surface TEXT,
                    ranking_id TEXT, position BIGINT, price DOUBLE PRECISION, attributes TEXT, event_id TEXT NOT NULL,
                    producer TEXT NOT NULL DEFAULT '', fingerprint TEXT);
                CREATE UNIQUE INDEX IF NOT EXISTS events_by_producer_and_id ON events (producer, event_id);
                CREATE INDEX IF NOT EXISTS events_by_time ON events (ts, seq);
                CREATE INDEX IF NOT EXISTS lifecycle_events_by_item ON events (item, seq) WHERE \(SQLiteEventLog.lifecycleCondition);
                \(SQLiteEventLog.fenceTable)
                """)
        }
        connection = Mutex(db)
    }

    /// Runs `body` on the connection (calls are serialised), unless the circuit is open.
    private func withConnection<R>(_ body: (PostgreSQLConnection) throws(StorageError) -> R) throws(StorageError) -> R {
        guard !breaker.isOpen else { throw refusedWhileOpen }
        return try recordingOutcome { () throws(StorageError) in try connection.withLock { db throws(StorageError) in try body(db) } }
    }

    private var refusedWhileOpen: StorageError {
        StorageError(code: StorageError.unreachable, "\(conninfo): unreachable (calls refused until a trial statement gets through, one a second)")
    }

    /// Runs `call` and tells the circuit how it went: a timeout or a lost connection counts against it.
    private func recordingOutcome<R>(_ call: () throws(StorageError) -> R) throws(StorageError) -> R {
        do {
            let result = try call()
            breaker.record(success: true)
            return result
        } catch {
            breaker.record(success: error.code != StorageError.unreachable)
            throw error
        }
    }

    public var isKnownUnreachable: Bool { breaker.isOpen }

    /// While the circuit is open, this is the only way through: once a second, one caller sends the trial
    /// statement (`SELECT 1`, within `trialMilliseconds`), whose success closes the circuit.
    public func checkReachable() throws(StorageError) {
        guard breaker.isOpen else { return }
        guard breaker.allows() else { throw refusedWhileOpen }
        try recordingOutcome { () throws(StorageError) in
            try Deadline.within(milliseconds: Self.trialMilliseconds) { () throws(StorageError) in
                _ = try connection.withLock { db throws(StorageError) in try db.execute("SELECT 1") }
            }
        }
    }

    public func claimTurn() throws(StorageError) -> Int64 {
        try withConnection { db throws(StorageError) in
            // Autocommit: waits while an append under an older token holds the fence row, until it ends.
            guard let token = try db.execute(SQLiteEventLog.nextFence).first?.first.flatMap({ $0 }).flatMap({ Int64($0) }) else {
                throw StorageError(code: -1, "\(conninfo): no fencing token was given")
            }
            return token
        }
    }

    /// Each statement of an append gives up after this long: a writer never holds its turn longer on a
    /// stuck server.
    static let appendStatementTimeoutMilliseconds = 5_000
    /// An append's transaction that waits this long for its writer's next statement (a writer paused,
    /// stalled or cut off mid-append) is ended by the server, so the fence row it locked is free for the
    /// next writer.
    static let appendIdleTimeoutMilliseconds = 1_000

    /// Rows per INSERT statement (12 parameters each; PostgreSQL takes at most 65,535 per statement).
    static let rowsPerStatement = 5_000

    @discardableResult
    public func append(_ events: [Event], producer: String, fingerprints: [String], fence: Int64?) throws(StorageError) -> [Bool] {
        guard !events.isEmpty else { return [] }
        var inserted = Set<String>()
        try withConnection { db throws(StorageError) in
            try db.transaction(statementTimeoutMilliseconds: Self.appendStatementTimeoutMilliseconds,
                               idleTimeoutMilliseconds: Self.appendIdleTimeoutMilliseconds) { () throws(StorageError) in
                // First, so the fence row stays locked until COMMIT: fenced appends commit one at a time.
                if let fence, try db.execute(SQLiteEventLog.advanceFence, [String(fence)]).isEmpty {
                    throw SQLiteEventLog.fenced(fence, at: conninfo)
                }
                // One multi-row INSERT per chunk: one round trip for thousands of events. Rows go in batch
                // order, so `seq` keeps the append order; ON CONFLICT skips ids already in the log or
                // earlier in the statement.
                for start in stride(from: 0, to: events.count, by: Self.rowsPerStatement) {
                    let chunk = events[start..<min(events.count, start + Self.rowsPerStatement)]
                    var parameters: [String?] = []
                    parameters.reserveCapacity(chunk.count * 12)
                    var rows: [String] = []
                    for (r, (e, fingerprint)) in zip(chunk, fingerprints[chunk.indices]).enumerated() {
                        rows.append("(" + (1...12).map { "$\(r * 12 + $0)" }.joined(separator: ",") + ")")
                        parameters += [producer, e.id, fingerprint, e.type.rawValue, String(e.timestamp), e.user?.value, e.item?.value,
                                       e.surface, e.rankingID, e.position.map(String.init), e.price.map { "\($0)" },
                                       e.attributes.isEmpty ? nil : SQLiteEventLog.encode(e.attributes)]
                    }
                    try db.query("""
                        INSERT INTO events (producer, event_id, fingerprint, type, ts, "user", item, surface, ranking_id, position, price,
                                            attributes)
                        VALUES \(rows.joined(separator: ",")) ON CONFLICT (producer, event_id) DO NOTHING RETURNING event_id
                        """, parameters) { row throws(StorageError) in if let id = row[0] { inserted.insert(id) } }
                }
            }
        }
        // Appended: the first occurrence in the batch of an id the INSERT returned.
        var seen = Set<String>()
        return events.map { e in seen.insert(e.id).inserted && inserted.contains(e.id) }
    }

    public func fingerprints(of ids: [String], producer: String) throws(StorageError) -> [String?] {
        guard !ids.isEmpty else { return [] }
        // One query for the whole batch: the ids travel as one text[] literal.
        var found: [String: String] = [:]
        try withConnection { db throws(StorageError) in
            try db.query("SELECT event_id, coalesce(fingerprint, '') FROM events WHERE producer = $1 AND event_id = ANY($2::text[])",
                         [producer, Self.arrayLiteral(ids)]) { row throws(StorageError) in
                if let id = row[0] { found[id] = row[1] ?? "" }
            }
        }
        return ids.map { found[$0] }
    }

    /// A PostgreSQL array literal of `values`, each double-quoted with `"` and `\` escaped.
    static func arrayLiteral(_ values: [String]) -> String {
        "{" + values.map { value in
            var quoted = "\""
            for c in value {
                if c == "\"" || c == "\\" { quoted.append("\\") }
                quoted.append(c)
            }
            return quoted + "\""
        }.joined(separator: ",") + "}"
    }

    public func read(timestamps: Range<Int64>, types: Set<EventType>?, order: EventOrder,
                     _ body: (Event) -> Void) throws(StorageError) {
        let typeFilter = types.map { " AND type IN (\($0.map { "'\($0.rawValue)'" }.sorted().joined(separator: ",")))" } ?? ""
        try select("WHERE ts >= $1 AND ts < $2\(typeFilter) ORDER BY \(order == .appended ? "seq" : "ts, seq")",
                   [String(timestamps.lowerBound), String(timestamps.upperBound)], body)
    }

    public func listingHistory(of items: [ItemID], _ body: (Event) -> Void) throws(StorageError) {
        guard !items.isEmpty else { return }
        try select("WHERE item = ANY($1::text[]) AND \(SQLiteEventLog.lifecycleCondition) ORDER BY seq",
                   [Self.arrayLiteral(items.map(\.value))], body)
    }

    public func lastSequence() throws(StorageError) -> Int64 {
        try withConnection { db throws(StorageError) in
            Int64(try db.execute("SELECT coalesce(max(seq), 0) FROM events").first?.first.flatMap { $0 } ?? "") ?? 0
        }
    }

    public func events(after sequence: Int64, limit: Int) throws(StorageError) -> [(sequence: Int64, event: Event)] {
        var found: [(sequence: Int64, event: Event)] = []
        try select("WHERE seq > $1 ORDER BY seq LIMIT $2", [String(sequence), String(limit)]) { found.append(($0, $1)) }
        return found
    }

    /// Streams the events of `SELECT … FROM events <clause>`.
    private func select(_ clause: String, _ parameters: [String?], _ body: (Event) -> Void) throws(StorageError) {
        try select(clause, parameters) { (_: Int64, event: Event) in body(event) }
    }

    /// Streams the events of `SELECT … FROM events <clause>` with their positions.
    private func select(_ clause: String, _ parameters: [String?], _ body: (Int64, Event) -> Void) throws(StorageError) {
        let sql = "SELECT event_id, type, ts, \"user\", item, surface, ranking_id, position, price, attributes, seq FROM events \(clause)"
        try withConnection { db throws(StorageError) in
            try db.query(sql, parameters) { row throws(StorageError) in
                guard let type = row[1].flatMap(EventType.init(rawValue:)) else {
                    throw StorageError(code: 0, "\(conninfo): event '\(row[0] ?? "?")' has an unknown type '\(row[1] ?? "")'")
                }
                body(Int64(row[10] ?? "") ?? 0,
                     Event(id: row[0] ?? "", type: type, timestamp: Int64(row[2] ?? "") ?? 0, user: row[3].map { UserID($0) },
                           item: row[4].map { ItemID($0) }, surface: row[5], rankingID: row[6], position: row[7].flatMap { Int($0) },
                           price: row[8].flatMap { Double($0) }, attributes: row[9].map { SQLiteEventLog.decode($0) } ?? [:]))
            }
        }
    }

    public func latestTimestamp() throws(StorageError) -> Int64? {
        try withConnection { db throws(StorageError) in try db.execute("SELECT max(ts) FROM events").first?.first.flatMap { $0 }.flatMap { Int64($0) } }
    }

    public func count() throws(StorageError) -> Int {
        try withConnection { db throws(StorageError) in Int(try db.execute("SELECT count(*) FROM events").first?.first.flatMap { $0 } ?? "") ?? 0 }
    }
}
