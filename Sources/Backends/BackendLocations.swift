import Events
import Foundation
import RummageCore
import Features
import Storage

/// Every backend a location string can name, in one place: the event log (a SQLite file or a
/// PostgreSQL URI), the shared online store (Redis) and the store of precomputed recommendation lists
/// (a SQLite file or Redis). Commands and services take locations and open them here.
///
/// | location | opens |
/// |---|---|
/// | `postgresql://…`, `postgres://…` | `PostgreSQLEventLog` |
/// | any other path | `SQLiteEventLog` (created if missing) |
/// | `redis://HOST:PORT[/DB]` (online store) | `RedisListingStates` + `RedisFeatureStore` on one pool |
/// | `redis://…` (precomputed lists) | `RedisPrecomputedRecommendations`; any other path: `SQLitePrecomputedRecommendations` |

/// Opens the event log at `location`: a `postgresql://` (or `postgres://`) URI opens a
/// `PostgreSQLEventLog`, anything else is the path of a `SQLiteEventLog` file.
public func openEventLog(_ location: String) throws(StorageError) -> any EventLog {
    if isDatabaseURI(location) { return try PostgreSQLEventLog(conninfo: location) }
    return try SQLiteEventLog(path: location)
}

/// The event log at `location`, which must exist (a missing file is never created here): for every
/// command that reads a log.
public func openExistingEventLog(_ location: String) throws -> any EventLog {
    guard eventLogExists(location) else { throw DataError(.fileNotFound, "no such event log", path: location) }
    return try openEventLog(location)
}

/// Whether the event log at `location` exists: a database URI is taken to (the server answers for it), a
/// file must be there.
public func eventLogExists(_ location: String) -> Bool { isDatabaseURI(location) || FileManager.default.fileExists(atPath: location) }

/// Whether an event-log location names a database server rather than a local file.
public func isDatabaseURI(_ location: String) -> Bool { location.hasPrefix("postgresql://") || location.hasPrefix("postgres://") }

/// The shared online store (`--online-store redis://…`): listing states and online features that every
/// `rummage serve` replica and ingester reads and writes, on one connection pool.
public struct OnlineStore: Sendable {
    public let states: RedisListingStates
    public let features: RedisFeatureStore

    public init(url: String, features: FeatureSet = .marketplace) throws(StorageError) {
        let redis = try RedisPool(url: url)
        states = RedisListingStates(redis: redis)
        self.features = RedisFeatureStore(redis: redis, features: features)
    }
}

public func openPrecomputedRecommendations(_ location: String, model: String, ttl: Int) throws(StorageError) -> any PrecomputedRecommendationStore {
    if location.hasPrefix("redis://") { return RedisPrecomputedRecommendations(redis: try RedisPool(url: location), model: model, ttl: ttl) }
    return try SQLitePrecomputedRecommendations(path: location, ttl: ttl)
}
