import Events
import Foundation
import RummageCore
import Storage

/// Feature values kept up to date as events arrive, for serving. Implementations: `InMemoryFeatureStore`
/// (embedded default) and `RedisFeatureStore` (shared by replicas). Values are those `OfflineFeatures`
/// computes from the same events (checked by `FeatureConsistency`, and by the same conformance tests for
/// every implementation). Stores that live elsewhere throw `StorageError` when they cannot answer.
public protocol OnlineFeatureStore: AnyObject, Sendable {
    var features: FeatureSet { get }
    /// Updates every feature the event feeds. Events may arrive out of timestamp order.
    func apply(_ events: [Event]) throws(StorageError)
    /// The value of feature `name` for a user or item id at `time` (events strictly before it count).
    /// Unknown entities get the empty value (0, no ids, no shares). `time` must not be before the
    /// latest event applied: the store forgets events that no later question can count.
    func value(_ name: String, entity: String, at time: Int64) throws(StorageError) -> FeatureValue
    /// `value` for many entities at once (one round trip where the store is remote).
    func values(_ name: String, entities: [String], at time: Int64) throws(StorageError) -> [FeatureValue]
    /// Several features of the same entity kind for many entities: one array per feature, in `names` order.
    func values(_ names: [String], entities: [String], at time: Int64) throws(StorageError) -> [[FeatureValue]]
    /// The values of features `names` for `entity` now: one second after the latest event applied (event
    /// time, so a replayed log gives the same answers), or the wall clock before any event. One round
    /// trip where the store is remote (plus one for listing content when an aggregation reads it).
    func currentValues(_ names: [String], entity: String) throws(StorageError) -> [FeatureValue]
    /// The latest event timestamp applied (`Int64.min` before any).
    func latestEventTime() throws(StorageError) -> Int64
    /// Every user and item id with state, for checks.
    func entityIDs() throws(StorageError) -> (users: [UserID], items: [ItemID])
}

extension OnlineFeatureStore {
    /// "Now" for a store whose latest event is `latest`: one second after it, or the wall clock before any.
    public static func currentTime(latest: Int64) -> Int64 { latest == Int64.min ? Int64(Date().timeIntervalSince1970) : latest + 1 }

    public func currentValues(_ names: [String], entity: String) throws(StorageError) -> [FeatureValue] {
        let time = Self.currentTime(latest: try latestEventTime())
        var out: [FeatureValue] = []
        for name in names { out.append(try value(name, entity: entity, at: time)) }
        return out
    }

    public func values(_ names: [String], entities: [String], at time: Int64) throws(StorageError) -> [[FeatureValue]] {
        try names.map { name throws(StorageError) in try values(name, entities: entities, at: time) }
    }

    public func values(_ name: String, entities: [String], at time: Int64) throws(StorageError) -> [FeatureValue] {
        var out: [FeatureValue] = []
        out.reserveCapacity(entities.count)
        for entity in entities { out.append(try value(name, entity: entity, at: time)) }
        return out
    }
}

/// The embedded online store: per-entity event records in memory behind a reader-writer lock (every
/// worker thread reads hundreds of listings' features per ranked request; events write), pruned to each
/// entity kind's longest feature horizon, with snapshot and restore.
public final class InMemoryFeatureStore: OnlineFeatureStore {
    public let features: FeatureSet
    private let state: ReadWriteLock<FeatureState>
    private let definitions: [String: FeatureDefinition]

    public init(features: FeatureSet = .marketplace) {
        self.features = features
        // Writers first: an event must not wait behind a stream of requests.
        state = ReadWriteLock(FeatureState(features: features), prefersWriters: true)
        definitions = Dictionary(uniqueKeysWithValues: features.definitions.map { ($0.name, $0) })
    }

    public func apply(_ events: [Event]) {
        state.write { s in
            for event in events {
                let touched = s.add(event)
                s.prune(user: touched.user, item: touched.item)
            }
        }
    }

    public func value(_ name: String, entity: String, at time: Int64) -> FeatureValue {
        guard let definition = definitions[name] else { preconditionFailure("unknown feature '\(name)'") }
        return state.read { s in
            let index = definition.entity == .user ? s.userIndex(UserID(entity)) : s.itemIndex(ItemID(entity))
            return s.value(definition, entity: index ?? Int32.max, at: time)
        }
    }

    public func values(_ name: String, entities: [String], at time: Int64) -> [FeatureValue] { values([name], entities: entities, at: time)[0] }

    /// Features of many entities under one lock, each entity looked up once (a ranker reads hundreds of
    /// listings per request). The features must be of one entity kind.
    public func values(_ names: [String], entities: [String], at time: Int64) -> [[FeatureValue]] {
        let chosen = names.map { name in
            guard let definition = definitions[name] else { preconditionFailure("unknown feature '\(name)'") }
            return definition
        }
        guard let kind = chosen.first?.entity else { return [] }
        precondition(chosen.allSatisfy { $0.entity == kind }, "features of one entity kind")
        return state.read { s in
            let found: [Int32?] = kind == .user ? s.users.indices(of: entities.map { UserID($0) }) : s.items.indices(of: entities.map { ItemID($0) })
            let indices = found.map { $0 ?? Int32.max }
            s.prefetchRecords(kind, of: indices)
            return chosen.map { definition in indices.map { s.value(definition, entity: $0, at: time) } }
        }
    }

    /// The latest event timestamp applied, and the number of event records held (a pass over every entity).
    public var status: (latest: Int64, records: Int) { state.read { ($0.latest, $0.recordCount) } }

    /// The latest event timestamp applied (`Int64.min` before any); constant time, for the request path.
    public func latestEventTime() -> Int64 { state.read { $0.latest } }

    public func entityIDs() -> (users: [UserID], items: [ItemID]) { state.read { ($0.users.ids, $0.items.ids) } }

    /// Writes the whole state to `path` (binary artifact, written atomically).
    public func snapshot(to path: String) throws(DataError) {
        var writer = ArtifactWriter(kind: Self.artifactKind)
        writer.append(features.version)
        state.read { $0.write(to: &writer) }
        try writer.write(to: path)
    }

    /// Replaces the state with a snapshot taken by a store with the same feature definitions.
    public func restore(from path: String) throws(DataError) {
        var reader = try ArtifactReader(path: path, expectedKind: Self.artifactKind)
        let version = try reader.string()
        guard version == features.version else {
            throw DataError(.malformedLine, "snapshot has feature-set version \(version), this store \(features.version)", path: path)
        }
        let restored = try FeatureState(reading: &reader, features: features)
        try reader.finish()
        state.write { $0 = restored }
    }

    static let artifactKind = "feature-store"
}
