import Foundation
import RummageAPI
import Storage
import Synchronization

/// Top-k lists computed in batch (`rummage batch-recommend --to …`), kept for other services (e-mail,
/// push) to read and for serving to fall back on. Implementations: `SQLitePrecomputedRecommendations`
/// (embedded) and `RedisPrecomputedRecommendations` (shared), checked by the same conformance tests.
///
/// Contract: `store` replaces each user's list; a list is readable until `ttl` (of the store that wrote
/// it) seconds after it was stored, then it is gone (nil). Lists are stored as computed: readers filter them against the
/// listings' current states (serving does).
public protocol PrecomputedRecommendationStore: AnyObject, Sendable {
    /// How long a stored list stays readable, in seconds.
    var ttl: Int { get }
    /// Stores each user's list (one round trip or transaction for the whole batch).
    func store(_ lists: [Recommendations]) throws(StorageError)
    /// The list stored for `user`, or nil.
    func list(for user: String) throws(StorageError) -> Recommendations?
}

extension PrecomputedRecommendationStore {
    static func encode(_ list: Recommendations) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(list)) ?? Data(), as: UTF8.self)
    }

    static func decode(_ text: String, from origin: String) throws(StorageError) -> Recommendations {
        do { return try JSONDecoder().decode(Recommendations.self, from: Data(text.utf8)) } catch {
            throw StorageError(code: -1, "\(origin): a stored list is not a recommendation list: \(error)")
        }
    }
}

/// Opens the store at `location`: `redis://…` (namespace `model`) or the path of a SQLite file.

/// The embedded store: one SQLite table of (user, list, expires_at); the writer's `ttl` sets the expiry.
public final class SQLitePrecomputedRecommendations: PrecomputedRecommendationStore {
    public let path: String
    public let ttl: Int
    private let connection: Mutex<SQLiteConnection>

    public init(path: String, ttl: Int) throws(StorageError) {
        self.path = path
        self.ttl = ttl
        let db = try SQLiteConnection(path: path)
        try db.execute("CREATE TABLE IF NOT EXISTS precomputed (user TEXT PRIMARY KEY, list TEXT NOT NULL, expires_at INTEGER NOT NULL)")
        connection = Mutex(db)
    }

    public func store(_ lists: [Recommendations]) throws(StorageError) {
        let expiry = Int64(Date().timeIntervalSince1970) + Int64(ttl)
        try connection.withLock { db throws(StorageError) in
            try db.transaction { () throws(StorageError) in
                let insert = try db.prepare("INSERT OR REPLACE INTO precomputed (user, list, expires_at) VALUES (?, ?, ?)")
                for list in lists {
                    insert.bind(1, list.user)
                    insert.bind(2, Self.encode(list))
                    insert.bind(3, expiry)
                    defer { insert.reset() }
                    _ = try insert.step()
                }
            }
        }
    }

    public func list(for user: String) throws(StorageError) -> Recommendations? {
        let text = try connection.withLock { db throws(StorageError) -> String? in
            let select = try db.prepare("SELECT list FROM precomputed WHERE user = ? AND expires_at > ?")
            select.bind(1, user)
            select.bind(2, Int64(Date().timeIntervalSince1970))
            return try select.step() ? select.string(0) : nil
        }
        return try text.map { text throws(StorageError) in try Self.decode(text, from: path) }
    }
}

/// The shared store: one Redis string per user, `<prefix>:recs:<model>:<user>`, set with an expiry of
/// `ttl` (Redis frees it), written in pipelined batches.
public final class RedisPrecomputedRecommendations: PrecomputedRecommendationStore {
    public let redis: RedisPool
    public let ttl: Int
    public let namespace: String

    public init(redis: RedisPool, prefix: String = "rummage", model: String, ttl: Int) {
        self.redis = redis
        self.ttl = ttl
        namespace = "\(prefix):recs:\(model)"
    }

    public func key(_ user: String) -> String { "\(namespace):\(user)" }

    public func store(_ lists: [Recommendations]) throws(StorageError) {
        for start in stride(from: 0, to: lists.count, by: 1_000) {
            _ = try redis.pipeline(lists[start..<min(lists.count, start + 1_000)].map { ["SET", key($0.user), Self.encode($0), "EX", String(ttl)] })
        }
    }

    public func list(for user: String) throws(StorageError) -> Recommendations? {
        try redis.command(["GET", key(user)]).text.map { text throws(StorageError) in try Self.decode(text, from: redis.url) }
    }
}
