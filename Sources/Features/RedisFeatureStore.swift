import Events
import Foundation
import RummageCore
import Storage
import Synchronization

/// The online feature store in Redis, shared by every replica: the same records as `FeatureState`,
/// kept in Redis, and values computed by the same `FeatureComputation`.
///
/// Keys, under `<prefix>:features:<feature-set version>` (a definition change starts a new namespace):
/// - `u:<user>`, `i:<item>`: sorted sets of the entity's event records, scored by timestamp, each member
///   `<tie, 16 hex digits>|<type>|<counterpart>`, so Redis's order (score, then member) is the records'
///   (timestamp, tie) order;
/// - `l:<item>`: a hash of the listing's price and attributes (`a:<name>`), from `listing_created`;
/// - `latest`: the latest event timestamp applied; `ready`: set once the store holds the whole log.
///
/// Memory stays bounded by the definitions, as in memory: each write drops the entity's records older
/// than `latest − horizon`, and every key expires `horizon` seconds (wall clock) after its last write.
/// That expiry changes no value: events are not stamped in the future of the clock, so by then every
/// record in the key is older than any later question's window. Unwindowed features keep keys forever.
/// Writes are pipelined: one round trip per `apply`.
public final class RedisFeatureStore: OnlineFeatureStore {
    public let features: FeatureSet
    public let redis: RedisPool
    /// Key namespace: `<prefix>:features:<version>`.
    public let namespace: String
    private let definitions: [String: FeatureDefinition]
    private let userTypes: Set<EventType>, itemTypes: Set<EventType>
    private let userHorizon: Int64?, itemHorizon: Int64?
    /// The latest event time this process applied or read: prunes never use a later one.
    private let knownLatest = Atomic<Int64>(Int64.min)

    public init(redis: RedisPool, prefix: String = "rummage", features: FeatureSet = .marketplace) {
        self.redis = redis
        self.features = features
        namespace = "\(prefix):features:\(features.version)"
        definitions = Dictionary(uniqueKeysWithValues: features.definitions.map { ($0.name, $0) })
        let plan = FeatureState(features: features)
        (userTypes, itemTypes) = (plan.userTypes, plan.itemTypes)
        (userHorizon, itemHorizon) = (plan.userHorizon, plan.itemHorizon)
    }

    public func userKey(_ user: String) -> String { "\(namespace):u:\(user)" }
    public func itemKey(_ item: String) -> String { "\(namespace):i:\(item)" }
    public func listingKey(_ item: String) -> String { "\(namespace):l:\(item)" }
    public var latestKey: String { "\(namespace):latest" }
    public var readyKey: String { "\(namespace):ready" }

    /// How long a listing's content must outlive its last record: the longest horizon of either entity.
    private var listingHorizon: Int64? { userHorizon.flatMap { u in itemHorizon.map { max(u, $0) } } }

    public func apply(_ events: [Event]) throws(StorageError) {
        guard !events.isEmpty else { return }
        let batchLatest = events.map(\.timestamp).max()!
        let latest = max(knownLatest.load(ordering: .relaxed), batchLatest)
        // Expiry counts from the later of the clock and the events' time (events from the future).
        let base = max(Int64(Date().timeIntervalSince1970), latest)
        var commands: [[String]] = [["EVAL", Self.maxScript, "1", latestKey, String(batchLatest)]]
        var touched: [String: Int64?] = [:]
        for event in events {
            guard let item = event.item?.value else { continue }
            if event.type == .listingCreated {
                var fields = ["HSET", listingKey(item), "price", "\(event.price ?? 0)"]
                for (key, value) in event.attributes.sorted(by: { $0.key < $1.key }) { fields += ["a:" + key, value] }
                commands.append(fields)
                touched[listingKey(item)] = .some(listingHorizon)
                continue
            }
            guard event.type.subject == .interaction, let user = event.user?.value else { continue }
            let forUser = userTypes.contains(event.type), forItem = itemTypes.contains(event.type)
            guard forUser || forItem else { continue }
            let tie = String(FeatureRecord.tie(event.id), radix: 16)
            let head = String(repeating: "0", count: 16 - tie.count) + tie + "|" + event.type.rawValue + "|"
            if forUser {
                commands.append(["ZADD", userKey(user), String(event.timestamp), head + item])
                touched[userKey(user)] = .some(userHorizon)
            }
            if forItem {
                commands.append(["ZADD", itemKey(item), String(event.timestamp), head + user])
                touched[itemKey(item)] = .some(itemHorizon)
            }
            touched[listingKey(item)] = .some(listingHorizon)
        }
        for (key, horizon) in touched.sorted(by: { $0.key < $1.key }) {
            guard let horizon else { continue }
            if !key.hasPrefix(listingKey("")) { commands.append(["ZREMRANGEBYSCORE", key, "-inf", "(\(latest - horizon)"]) }
            commands.append(["EXPIREAT", key, String(base + horizon)])
        }
        let replies = try redis.pipeline(commands)
        if let stored = replies[0].text.flatMap({ Int64($0) }) { knownLatest.store(max(latest, stored), ordering: .relaxed) }
    }

    /// Sets `latest` to the larger of its value and ARGV[1]; returns the result.
    static let maxScript = """
        local current = redis.call('GET', KEYS[1])
        if not current or tonumber(ARGV[1]) > tonumber(current) then redis.call('SET', KEYS[1], ARGV[1]); return ARGV[1] end
        return current
        """

    public func value(_ name: String, entity: String, at time: Int64) throws(StorageError) -> FeatureValue {
        try values(name, entities: [entity], at: time)[0]
    }

    /// One round trip for the records of every entity, a second for the content of the listings they
    /// name when the aggregation reads it (price, attributes).
    public func values(_ name: String, entities: [String], at time: Int64) throws(StorageError) -> [FeatureValue] {
        let definition = try self.definition(name)
        guard !entities.isEmpty else { return [] }
        let lower = definition.horizon.map { String(time - $0) } ?? "-inf"
        let queries = entities.map { (definition, $0) }
        let replies = try redis.pipeline(queries.map { ["ZRANGEBYSCORE", key($0.0, $0.1), lower, "(\(time)", "WITHSCORES"] })
        return try evaluate(queries, replies: replies, at: time)
    }

    /// The latest event time and every asked feature's records in one round trip: each key's records
    /// from this process's latest known time minus the horizon (a superset, as the stored latest is never
    /// earlier), which `FeatureComputation` then cuts to the exact window.
    public func currentValues(_ names: [String], entity: String) throws(StorageError) -> [FeatureValue] {
        let queries = try names.map { name throws(StorageError) in (try definition(name), entity) }
        let known = knownLatest.load(ordering: .relaxed)
        let replies = try redis.pipeline([["GET", latestKey]] + queries.map { definition, entity in
            let lower = known == Int64.min ? "-inf" : definition.horizon.map { String(known + 1 - $0) } ?? "-inf"
            return ["ZRANGEBYSCORE", key(definition, entity), lower, "+inf", "WITHSCORES"]
        }, onRequestPath: true)
        let latest = replies[0].text.flatMap { Int64($0) } ?? Int64.min
        if latest != Int64.min { knownLatest.store(max(known, latest), ordering: .relaxed) }
        let time = latest == Int64.min ? Int64(Date().timeIntervalSince1970) : latest + 1
        return try evaluate(queries, replies: Array(replies.dropFirst()), at: time)
    }

    private func definition(_ name: String) throws(StorageError) -> FeatureDefinition {
        guard let definition = definitions[name] else { throw StorageError(code: -1, "unknown feature '\(name)'") }
        return definition
    }

    private func key(_ definition: FeatureDefinition, _ entity: String) -> String {
        definition.entity == .user ? userKey(entity) : itemKey(entity)
    }

    /// The value of each (definition, entity) from its ZRANGEBYSCORE reply, as of `time`.
    private func evaluate(_ queries: [(FeatureDefinition, String)], replies: [RedisReply], at time: Int64) throws(StorageError) -> [FeatureValue] {
        // Records with local indices: counterparts and items into one name table per call.
        var names: [String] = [], index: [String: Int32] = [:]
        func intern(_ name: String) -> Int32 {
            if let i = index[name] { return i }
            names.append(name)
            index[name] = Int32(names.count - 1)
            return Int32(names.count - 1)
        }
        var perQuery: [[FeatureRecord]] = []
        for ((definition, entity), reply) in zip(queries, replies) {
            guard case .array(let flat) = reply else { perQuery.append([]); continue }
            var records: [FeatureRecord] = []
            records.reserveCapacity(flat.count / 2)
            for k in stride(from: 0, to: flat.count - 1, by: 2) {
                guard let member = flat[k].text, let timestamp = flat[k + 1].text.flatMap({ Int64($0) }) else { continue }
                let parts = member.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 3, let tie = UInt64(parts[0], radix: 16), let type = EventType(rawValue: String(parts[1])) else {
                    throw StorageError(code: -1, "\(redis.url): malformed feature record '\(member)' in \(key(definition, entity))")
                }
                let counterpart = intern(String(parts[2]))
                let item = definition.entity == .user ? counterpart : intern(entity)
                records.append(FeatureRecord(timestamp: timestamp, tie: tie, type: type, counterpart: counterpart, item: item))
            }
            perQuery.append(records)
        }
        // The listing content the aggregations read, for every listing they name, in one round trip.
        var fields = Set<String>(), items = Set<Int32>()
        for ((definition, _), records) in zip(queries, perQuery) {
            switch definition.aggregation {
            case .affinity(let attribute): fields.insert("a:" + attribute)
            case .sumOfPrice: fields.insert("price")
            case .count, .lastN: continue
            }
            items.formUnion(records.map(\.item))
        }
        var catalog = ListingCatalog()
        if !items.isEmpty {
            let ordered = items.sorted(), wanted = fields.sorted()
            let replies = try redis.pipeline(ordered.map { ["HMGET", listingKey(names[Int($0)])] + wanted })
            for (item, reply) in zip(ordered, replies) {
                guard case .array(let values) = reply else { continue }
                var attributes: [String: String] = [:], price = 0.0
                for (field, value) in zip(wanted, values) {
                    guard let text = value.text else { continue }
                    if field == "price" { price = Double(text) ?? 0 } else { attributes[String(field.dropFirst(2))] = text }
                }
                catalog.record(item: Int(item), attributes: attributes, price: price)
            }
        }
        return zip(queries, perQuery).map { query, records in
            FeatureComputation.value(query.0, records: records[...], at: time, catalog: catalog) { names[Int($0)] }
        }
    }

    public func latestEventTime() throws(StorageError) -> Int64 {
        let stored = try redis.command(["GET", latestKey], onRequestPath: true).text.flatMap { Int64($0) } ?? Int64.min
        knownLatest.store(max(knownLatest.load(ordering: .relaxed), stored), ordering: .relaxed)
        return stored
    }

    public func entityIDs() throws(StorageError) -> (users: [UserID], items: [ItemID]) {
        var users: [UserID] = [], items: [ItemID] = []
        for key in try redis.keys(matching: "\(namespace):*") {
            let rest = key.dropFirst(namespace.count + 1)
            if rest.hasPrefix("u:") { users.append(UserID(String(rest.dropFirst(2)))) }
            if rest.hasPrefix("i:") || rest.hasPrefix("l:") { items.append(ItemID(String(rest.dropFirst(2)))) }
        }
        return (users, Array(Set(items)))
    }

    /// Whether the store was rebuilt from the log since Redis last started empty.
    public func isReady() throws(StorageError) -> Bool { try redis.command(["EXISTS", readyKey]) == .integer(1) }

    /// Replaces the namespace's keys with the features of the log's events (in append order, as live),
    /// then marks the store ready. Reads only what a value can still count: `listing_created` events of
    /// any age (listing content), then every event of the longest horizon before the log's latest event
    /// (the whole log when some feature is unwindowed). Returns the number of events applied.
    public func rebuild(from log: any EventLog, batchSize: Int = 5_000, progress: (Int) -> Void = { _ in }) throws(StorageError) -> Int {
        try redis.unlink(try redis.keys(matching: "\(namespace):*"))
        knownLatest.store(Int64.min, ordering: .relaxed)
        var batch: [Event] = [], applied = 0
        var failure: StorageError? = nil
        func feed(_ event: Event) {
            guard failure == nil else { return }
            batch.append(event)
            if batch.count >= batchSize {
                do throws(StorageError) { try apply(batch) } catch { failure = error }
                applied += batch.count
                batch.removeAll(keepingCapacity: true)
                progress(applied)
            }
        }
        if let user = userHorizon, let item = itemHorizon, let latest = try log.latestTimestamp() {
            let since = latest - max(user, item)
            try log.read(timestamps: Int64.min..<since, types: [.listingCreated], order: .appended, feed)
            try log.read(timestamps: since..<Int64.max, types: nil, order: .appended, feed)
        } else {
            try log.readAll(order: .appended, feed)
        }
        if let failure { throw failure }
        try apply(batch)
        applied += batch.count
        try redis.command(["SET", readyKey, String(applied)])
        return applied
    }
}
