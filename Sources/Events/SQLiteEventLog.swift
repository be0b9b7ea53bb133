import Foundation
import RummageCore
import Storage
import Synchronization

/// The embedded event log: one SQLite database file in WAL mode with `synchronous=FULL`, so a batch
/// is fsync'd before `append` returns. One row per event; `seq` (the rowid) is the append order and a
/// unique index on (`producer`, `event_id`) makes duplicates no-ops. A schema-1 log (ids unique on their
/// own) is migrated in place when opened.
public final class SQLiteEventLog: EventLog {
    private struct Connection {
        let db: SQLiteConnection
        let insert: SQLiteStatement
        let lookup: SQLiteStatement
    }

    public let path: String
    private let connection: Mutex<Connection>
    /// 2: events are unique per (producer, event_id) and carry their fingerprint.
    static let schemaVersion = "2"

    /// The events table of `schemaVersion` (named `table`).
    static func eventsTable(_ table: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(table) (
            seq INTEGER PRIMARY KEY, producer TEXT NOT NULL DEFAULT '', event_id TEXT NOT NULL, fingerprint TEXT,
            type TEXT NOT NULL, ts INTEGER NOT NULL, user TEXT, item TEXT, surface TEXT, ranking_id TEXT, position INTEGER,
            price REAL, attributes TEXT, UNIQUE (producer, event_id));
        """
    }

    /// Opens the log at `path`, creating the file and schema if needed, migrating a schema-1 log. Throws
    /// if the file is not an event log of a known version.
    public init(path: String) throws(StorageError) {
        self.path = path
        let db = try SQLiteConnection(path: path)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS rummage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT OR IGNORE INTO rummage_meta VALUES ('event_log_schema', '\(Self.schemaVersion)');
            """)
        let version = try db.prepare("SELECT value FROM rummage_meta WHERE key = 'event_log_schema'")
        guard try version.step(), let found = version.string(0), [Self.schemaVersion, "1"].contains(found) else {
            throw StorageError(code: 0, "\(path): event log schema \(version.string(0) ?? "?") is not version \(Self.schemaVersion)")
        }
        version.reset()  // a statement in progress would lock the table the migration drops
        if found == "1" {
            // Every schema-1 event becomes the producer-less ("") event it was; no fingerprints are known.
            try db.transaction { () throws(StorageError) in
                try db.execute("""
                    \(Self.eventsTable("events_v2"))
                    INSERT INTO events_v2 (seq, event_id, type, ts, user, item, surface, ranking_id, position, price, attributes)
                        SELECT seq, event_id, type, ts, user, item, surface, ranking_id, position, price, attributes FROM events;
                    DROP TABLE events;
                    ALTER TABLE events_v2 RENAME TO events;
                    UPDATE rummage_meta SET value = '\(Self.schemaVersion)' WHERE key = 'event_log_schema';
                    """)
            }
        }
        try db.execute("""
            \(Self.eventsTable("events"))
            CREATE INDEX IF NOT EXISTS events_by_time ON events (ts, seq);
            CREATE INDEX IF NOT EXISTS lifecycle_events_by_item ON events (item, seq) WHERE \(Self.lifecycleCondition);
            \(Self.fenceTable)
            """)
        connection = Mutex(Connection(
            db: db,
            insert: try db.prepare("""
                INSERT OR IGNORE INTO events (producer, event_id, fingerprint, type, ts, user, item, surface, ranking_id, position, price, attributes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """),
            lookup: try db.prepare("SELECT coalesce(fingerprint, '') FROM events WHERE producer = ? AND event_id = ?")))
    }

    /// The newest writers' fencing token given (`claimTurn`; one row, `writers`).
    static let fenceTable = "CREATE TABLE IF NOT EXISTS rummage_fence (name TEXT PRIMARY KEY, token BIGINT NOT NULL);"
    /// Keeps `$1` as the newest token unless a newer one was given: one row changed (or returned) when the
    /// append may commit. The same statement on SQLite and PostgreSQL.
    static let advanceFence = """
        INSERT INTO rummage_fence VALUES ('writers', $1) ON CONFLICT (name) DO UPDATE SET token = excluded.token
        WHERE rummage_fence.token <= excluded.token RETURNING token
        """

    /// Gives the next token: the same statement on SQLite and PostgreSQL.
    static let nextFence = """
        INSERT INTO rummage_fence VALUES ('writers', 1) ON CONFLICT (name) DO UPDATE SET token = rummage_fence.token + 1 RETURNING token
        """

    public func claimTurn() throws(StorageError) -> Int64 {
        try connection.withLock { c throws(StorageError) in
            try c.db.transaction { () throws(StorageError) in
                let next = try c.db.prepare(Self.nextFence)
                guard try next.step() else { throw StorageError(code: -1, "\(path): no fencing token was given") }
                let token = next.int64(0)
                _ = try next.step()  // done: the statement finishes before COMMIT
                return token
            }
        }
    }

    static func fenced(_ fence: Int64, at place: String) -> StorageError {
        StorageError(code: StorageError.fenced, "\(place): the writers' lock of this append (fence \(fence)) was lost to a newer writer; nothing was appended")
    }

    @discardableResult
    public func append(_ events: [Event], producer: String, fingerprints: [String], fence: Int64?) throws(StorageError) -> [Bool] {
        guard !events.isEmpty else { return [] }
        return try connection.withLock { c throws(StorageError) in
            try c.db.transaction { () throws(StorageError) in
                if let fence {
                    let advance = try c.db.prepare(Self.advanceFence.replacingOccurrences(of: "$1", with: "?"))
                    advance.bind(1, fence)
                    guard try advance.step() else { throw Self.fenced(fence, at: path) }
                }
                var appended: [Bool] = []
                appended.reserveCapacity(events.count)
                for (e, fingerprint) in zip(events, fingerprints) {
                    let s = c.insert
                    s.bind(1, producer)
                    s.bind(2, e.id)
                    s.bind(3, fingerprint)
                    s.bind(4, e.type.rawValue)
                    s.bind(5, e.timestamp)
                    s.bind(6, e.user?.value)
                    s.bind(7, e.item?.value)
                    s.bind(8, e.surface)
                    s.bind(9, e.rankingID)
                    s.bind(10, e.position.map(Int64.init))
                    s.bind(11, e.price)
                    s.bind(12, e.attributes.isEmpty ? nil : Self.encode(e.attributes))
                    defer { s.reset() }
                    try s.step()
                    appended.append(c.db.changes == 1)
                }
                return appended
            }
        }
    }

    public func fingerprints(of ids: [String], producer: String) throws(StorageError) -> [String?] {
        try connection.withLock { c throws(StorageError) in
            var found: [String?] = []
            found.reserveCapacity(ids.count)
            for id in ids {
                c.lookup.bind(1, producer)
                c.lookup.bind(2, id)
                defer { c.lookup.reset() }
                found.append(try c.lookup.step() ? c.lookup.string(0) ?? "" : nil)
            }
            return found
        }
    }

    public func read(timestamps: Range<Int64>, types: Set<EventType>?, order: EventOrder,
                     _ body: (Event) -> Void) throws(StorageError) {
        let typeFilter = types.map { " AND type IN (\($0.map { "'\($0.rawValue)'" }.sorted().joined(separator: ",")))" } ?? ""
        let sql = """
            SELECT \(Self.columns) FROM events
            WHERE ts >= ? AND ts < ?\(typeFilter) ORDER BY \(order == .appended ? "seq" : "ts, seq")
            """
        try connection.withLock { c throws(StorageError) in
            let s = try c.db.prepare(sql)
            s.bind(1, timestamps.lowerBound)
            s.bind(2, timestamps.upperBound)
            while try s.step() { body(try event(at: s)) }
        }
    }

    public func listingHistory(of items: [ItemID], _ body: (Event) -> Void) throws(StorageError) {
        guard !items.isEmpty else { return }
        var events: [(seq: Int64, event: Event)] = []
        try connection.withLock { c throws(StorageError) in
            for start in stride(from: 0, to: items.count, by: 500) {
                let chunk = items[start..<min(items.count, start + 500)]
                let s = try c.db.prepare("""
                    SELECT \(Self.columns) FROM events
                    WHERE item IN (\(chunk.map { _ in "?" }.joined(separator: ","))) AND \(Self.lifecycleCondition)
                    """)
                for (k, item) in chunk.enumerated() { s.bind(Int32(k + 1), item.value) }
                while try s.step() { events.append((s.int64(10), try event(at: s))) }
            }
        }
        for e in events.sorted(by: { $0.seq < $1.seq }) { body(e.event) }
    }

    /// The selected columns, in the order `event(at:)` reads them (then `seq`).
    static let columns = "event_id, type, ts, user, item, surface, ranking_id, position, price, attributes, seq"

    /// The SQL condition selecting the events that drive listing lifecycles (the partial index's predicate).
    static let lifecycleCondition = "type IN (" + ListingLifecycle.eventTypes.map { "'\($0.rawValue)'" }.sorted().joined(separator: ",") + ")"

    private func event(at s: SQLiteStatement) throws(StorageError) -> Event {
        guard let type = s.string(1).flatMap(EventType.init(rawValue:)) else {
            throw StorageError(code: 0, "\(path): event '\(s.string(0) ?? "?")' has an unknown type '\(s.string(1) ?? "")'")
        }
        return Event(id: s.string(0) ?? "", type: type, timestamp: s.int64(2), user: s.string(3).map { UserID($0) },
                     item: s.string(4).map { ItemID($0) }, surface: s.string(5), rankingID: s.string(6),
                     position: s.isNull(7) ? nil : Int(s.int64(7)), price: s.isNull(8) ? nil : s.double(8),
                     attributes: s.string(9).map { Self.decode($0) } ?? [:])
    }

    public func count() throws(StorageError) -> Int {
        try connection.withLock { c throws(StorageError) in
            let s = try c.db.prepare("SELECT count(*) FROM events")
            try s.step()
            return Int(s.int64(0))
        }
    }

    public func lastSequence() throws(StorageError) -> Int64 {
        try connection.withLock { c throws(StorageError) in
            let s = try c.db.prepare("SELECT coalesce(max(seq), 0) FROM events")
            try s.step()
            return s.int64(0)
        }
    }

    public func events(after sequence: Int64, limit: Int) throws(StorageError) -> [(sequence: Int64, event: Event)] {
        try connection.withLock { c throws(StorageError) in
            let s = try c.db.prepare("SELECT \(Self.columns) FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
            s.bind(1, sequence)
            s.bind(2, Int64(limit))
            var found: [(sequence: Int64, event: Event)] = []
            while try s.step() { found.append((s.int64(10), try event(at: s))) }
            return found
        }
    }

    public func latestTimestamp() throws(StorageError) -> Int64? {
        try connection.withLock { c throws(StorageError) in
            let s = try c.db.prepare("SELECT max(ts) FROM events")
            try s.step()
            return s.isNull(0) ? nil : s.int64(0)
        }
    }

    static func encode(_ attributes: [String: String]) -> String {
        "{" + attributes.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))" }
            .joined(separator: ",") + "}"
    }

    static func decode(_ text: String) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String] ?? [:]
    }
}
