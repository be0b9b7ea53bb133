import RummageCore
import Storage
import Synchronization

/// The event log on PostgreSQL, for a log shared by several machines: one `events` table whose `seq`
/// (a bigserial) is the append order and whose unique `event_id` makes duplicates no-ops. A batch is one
/// transaction; COMMIT returns once PostgreSQL has flushed it (`synchronous_commit = on`, the default),
/// so `append` has the same durability contract as `SQLiteEventLog`. Same schema version, same
/// conformance tests.
public final class PostgreSQLEventLog: EventLog {
    public let conninfo: String
    private let connection: Mutex<PostgreSQLConnection>

    /// Connects (libpq connection string) and creates the schema if needed. Throws if the database holds
    /// an event log of another schema version.
    public init(conninfo: String) throws(StorageError) {
        self.conninfo = conninfo
        let db = try PostgreSQLConnection(conninfo)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS rummage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO rummage_meta VALUES ('event_log_schema', '\(SQLiteEventLog.schemaVersion)') ON CONFLICT (key) DO NOTHING;
            CREATE TABLE IF NOT EXISTS events (
                seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, ts BIGINT NOT NULL,
                "user" TEXT, item TEXT, surface TEXT, ranking_id TEXT, position BIGINT, price DOUBLE PRECISION, attributes TEXT);
            CREATE INDEX IF NOT EXISTS events_by_time ON events (ts, seq);
            """)
        let version = try db.execute("SELECT value FROM rummage_meta WHERE key = 'event_log_schema'")
        guard version.first?.first == SQLiteEventLog.schemaVersion else {
            throw StorageError(code: 0, "\(conninfo): event log schema \(version.first?.first.flatMap { $0 } ?? "?") is not version \(SQLiteEventLog.schemaVersion)")
        }
        connection = Mutex(db)
    }

    @discardableResult
    public func append(_ events: [Event]) throws(StorageError) -> [Bool] {
        guard !events.isEmpty else { return [] }
        return try connection.withLock { db throws(StorageError) in
            try db.transaction { () throws(StorageError) in
                try events.map { e throws(StorageError) in
                    let inserted = try db.execute("""
                        INSERT INTO events (event_id, type, ts, "user", item, surface, ranking_id, position, price, attributes)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING RETURNING seq
                        """, [e.id, e.type.rawValue, String(e.timestamp), e.user?.value, e.item?.value, e.surface, e.rankingID,
                              e.position.map(String.init), e.price.map { "\($0)" },
                              e.attributes.isEmpty ? nil : SQLiteEventLog.encode(e.attributes)])
                    return !inserted.isEmpty
                }
            }
        }
    }

    public func contains(ids: [String]) throws(StorageError) -> [Bool] {
        try connection.withLock { db throws(StorageError) in
            try ids.map { id throws(StorageError) in !(try db.execute("SELECT 1 FROM events WHERE event_id = $1", [id])).isEmpty }
        }
    }

    public func read(timestamps: Range<Int64>, types: Set<EventType>?, order: EventOrder,
                     _ body: (Event) -> Void) throws(StorageError) {
        let typeFilter = types.map { " AND type IN (\($0.map { "'\($0.rawValue)'" }.sorted().joined(separator: ",")))" } ?? ""
        let sql = """
            SELECT event_id, type, ts, "user", item, surface, ranking_id, position, price, attributes FROM events
            WHERE ts >= $1 AND ts < $2\(typeFilter) ORDER BY \(order == .appended ? "seq" : "ts, seq")
            """
        try connection.withLock { db throws(StorageError) in
            try db.query(sql, [String(timestamps.lowerBound), String(timestamps.upperBound)]) { row throws(StorageError) in
                guard let type = row[1].flatMap(EventType.init(rawValue:)) else {
                    throw StorageError(code: 0, "\(conninfo): event '\(row[0] ?? "?")' has an unknown type '\(row[1] ?? "")'")
                }
                body(Event(id: row[0] ?? "", type: type, timestamp: Int64(row[2] ?? "") ?? 0, user: row[3].map { UserID($0) },
                           item: row[4].map { ItemID($0) }, surface: row[5], rankingID: row[6], position: row[7].flatMap { Int($0) },
                           price: row[8].flatMap { Double($0) }, attributes: row[9].map { SQLiteEventLog.decode($0) } ?? [:]))
            }
        }
    }

    public func count() throws(StorageError) -> Int {
        try connection.withLock { db throws(StorageError) in Int(try db.execute("SELECT count(*) FROM events").first?.first.flatMap { $0 } ?? "") ?? 0 }
    }
}
