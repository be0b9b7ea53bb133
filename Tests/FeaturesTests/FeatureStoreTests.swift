import Events
import Features
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Testing

/// The contract of `OnlineFeatureStore`, run against every implementation: in memory (embedded) and
/// Redis (a real server on loopback, `TestRedis`, each test in a namespace of its own).
@Suite struct FeatureStoreTests {
    static let h = FeatureWindow.hour

    enum Backend: String, CaseIterable, CustomStringConvertible {
        case memory, redis
        var description: String { rawValue }

        func make(_ features: FeatureSet) throws -> any OnlineFeatureStore {
            switch self {
            case .memory: InMemoryFeatureStore(features: features)
            case .redis: RedisFeatureStore(redis: RedisPool(port: try TestRedis.port()), prefix: "test-" + UUID().uuidString, features: features)
            }
        }
    }

    static func listing(_ item: String, category: String, price: Double, at t: Int64 = 0) -> Event {
        Event(id: "c-\(item)", type: .listingCreated, timestamp: t, user: "seller", item: ItemID(item), price: price,
              attributes: ["category": category])
    }

    static func interaction(_ id: String, _ type: EventType, user: String = "u1", item: String, at t: Int64) -> Event {
        Event(id: id, type: type, timestamp: t, user: UserID(user), item: ItemID(item))
    }

    let features = FeatureSet([
        FeatureDefinition(name: "views_1h", entity: .user, eventTypes: [.view], window: h, aggregation: .count),
        FeatureDefinition(name: "recent", entity: .user, eventTypes: [.like, .purchase], window: nil, aggregation: .lastN(2), ttl: 10 * h),
        FeatureDefinition(name: "categories", entity: .user, eventTypes: [.like, .purchase], window: 5 * h,
                          aggregation: .affinity(attribute: "category")),
        FeatureDefinition(name: "spend", entity: .user, eventTypes: [.purchase], window: 5 * h, aggregation: .sumOfPrice),
        FeatureDefinition(name: "item_likes_1h", entity: .item, eventTypes: [.like], window: h, aggregation: .count),
    ])

    /// u1 views at 0, 1000 and 4000 s; likes jeans l1 at 100, a top l2 at 200 and jeans l3 at 7300; buys l2 at 300.
    var events: [Event] {
        [Self.listing("l1", category: "jeans", price: 20), Self.listing("l2", category: "tops", price: 8),
         Self.listing("l3", category: "jeans", price: 30),
         Self.interaction("v1", .view, item: "l1", at: 0), Self.interaction("v2", .view, item: "l2", at: 1_000),
         Self.interaction("v3", .view, item: "l3", at: 4_000),
         Self.interaction("k1", .like, item: "l1", at: 100), Self.interaction("k2", .like, item: "l2", at: 200),
         Self.interaction("p1", .purchase, item: "l2", at: 300), Self.interaction("k3", .like, item: "l3", at: 7_300)]
    }

    /// A store fed, as it would be live, the events that happened before `time`.
    func store(_ backend: Backend, at time: Int64) throws -> any OnlineFeatureStore {
        let store = try backend.make(features)
        try store.apply(events.filter { $0.timestamp < time })
        return store
    }

    @Test(arguments: Backend.allCases)
    func windowsCountOnlyEventsStrictlyBeforeTheTimeAndNoOlderThanTheWindow(backend: Backend) throws {
        func store(at time: Int64) throws -> any OnlineFeatureStore { try self.store(backend, at: time) }
        // At 3601 the 1h window is [1, 3601): the view at 1000 only. At 4000 the view at 4000 is not yet in.
        #expect(try store(at: 3_601).value("views_1h", entity: "u1", at: 3_601) == .number(1))
        #expect(try store(at: 4_000).value("views_1h", entity: "u1", at: 4_000) == .number(1))
        #expect(try store(at: 4_001).value("views_1h", entity: "u1", at: 4_001) == .number(2))
        #expect(try store(at: 8_600).value("views_1h", entity: "u1", at: 8_600) == .number(0))
        #expect(try store(at: 201).value("item_likes_1h", entity: "l2", at: 201) == .number(1))
        #expect(try store(at: 5_000).value("views_1h", entity: "nobody", at: 5_000) == .number(0))
    }

    @Test(arguments: Backend.allCases)
    func lastNAffinityAndSpend(backend: Backend) throws {
        func store(at time: Int64) throws -> any OnlineFeatureStore { try self.store(backend, at: time) }
        // Distinct counterparts, newest first: the purchase of l2 (300) then the like of l1 (100).
        #expect(try store(at: 1_000).value("recent", entity: "u1", at: 1_000) == .ids(["l2", "l1"]))
        // The 5h window at 18101 is [101, 18101): the l2 like (200) and purchase (300), the l3 like (7300).
        let later = try store(at: 18_101)
        #expect(try later.value("categories", entity: "u1", at: 18_101) == .distribution(["tops": 2.0 / 3, "jeans": 1.0 / 3]))
        #expect(try later.value("spend", entity: "u1", at: 18_101) == .number(8))
        #expect(try later.value("recent", entity: "u1", at: 18_101) == .ids(["l3", "l2"]))
    }

    @Test(arguments: Backend.allCases)
    func arrivalOrderAndPruningDoNotChangeValues(backend: Backend) throws {
        var rng = SeededGenerator(seed: 4)
        var shuffled = events
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, rng.nextInt(below: i + 1)) }
        let store = try backend.make(features)
        for event in shuffled { try store.apply([event]) }  // one at a time: pruning runs after each
        for time: Int64 in [7_301, 9_000, 20_000, 100_000] {
            // Times at or after the latest event, as a live store is asked about.
            let report = try FeatureConsistency.check(online: store, events: events.filter { $0.timestamp < time }, at: time)
            #expect(report.mismatches == 0, "at \(time): \(report.examples)")
            #expect(report.featuresChecked == 4 * 1 + 1 * 3)
        }
    }

    @Test(arguments: Backend.allCases)
    func currentValuesAreTheValuesOneSecondAfterTheLatestEvent(backend: Backend) throws {
        let store = try self.store(backend, at: 7_301)  // the latest event is at 7300
        for (entity, kind) in [("u1", FeatureDefinition.Entity.user), ("l1", .item), ("nobody", .user)] {
            let names = features.definitions.filter { $0.entity == kind }.map(\.name)
            let expected = try names.map { name throws in try store.value(name, entity: entity, at: 7_301) }
            #expect(try store.currentValues(names, entity: entity) == expected)
        }
        #expect(try store.currentValues(["categories"], entity: "u1") == [.distribution(["tops": 0.5, "jeans": 0.5])])  // k1, k2, p1, k3
    }

    @Test(arguments: Backend.allCases)
    func consistencyCheckFindsADifference(backend: Backend) throws {
        let store = try backend.make(features)
        try store.apply(events)
        // Offline sees one view fewer than the store was fed.
        let report = try FeatureConsistency.check(online: store, events: events.filter { $0.id != "v3" }, at: 4_500)
        #expect(report.mismatches == 1)
        #expect(report.examples.first?.feature == "views_1h" && report.examples.first?.entity == "u1")
    }

    @Test func trainingSetSeesOnlyTheStrictPast() {
        var rows: [(String, FeatureValue)] = []
        // Two likes at the same second must not see each other.
        let sameTime = events + [Self.interaction("k4", .like, user: "u2", item: "l1", at: 7_300)]
        OfflineFeatures.trainingSet(events: sameTime, features: features, exampleTypes: [.like], asOf: 8_000) { example in
            rows.append((example.event.id, example.values[4]))  // item_likes_1h of the liked item
        }
        #expect(rows.map(\.0) == ["k1", "k2", "k3", "k4"] || rows.map(\.0) == ["k1", "k2", "k4", "k3"])
        #expect(rows.first { $0.0 == "k1" }?.1 == .number(0))
        #expect(rows.first { $0.0 == "k4" }?.1 == .number(0))  // k1 liked l1 at 100: outside the 1h window
    }

    @Test func snapshotRestoreGivesTheSameValues() throws {
        let store = InMemoryFeatureStore(features: features)
        store.apply(events)
        let path = Fixtures.temporaryDirectory("rummage-features") + "/store.snapshot"
        try store.snapshot(to: path)
        let restored = InMemoryFeatureStore(features: features)
        try restored.restore(from: path)
        #expect(try FeatureConsistency.check(online: restored, events: events, at: 7_301).mismatches == 0)
        #expect(restored.status == store.status)
        // A store with other definitions refuses the snapshot.
        #expect(throws: DataError.self) { try InMemoryFeatureStore(features: .marketplace).restore(from: path) }
    }

    /// Memory stays bounded in Redis: records older than the horizon are dropped on write and every key
    /// carries an expiry of its horizon (none for unwindowed features).
    @Test func redisPrunesAndExpiresKeysByTheDefinitionsHorizons() throws {
        let store = try Backend.redis.make(features) as! RedisFeatureStore
        try store.apply(events)
        // The user's longest horizon is `recent`'s ttl, 10 h: at 7300 nothing is old enough to drop.
        #expect(try store.redis.command(["ZCARD", store.userKey("u1")]) == .integer(7))
        // A view 10 h after k3 (7300) drops every u1 record before 7300: k3 and the view remain.
        try store.apply([Self.interaction("v9", .view, item: "l1", at: 7_300 + 10 * Self.h)])
        #expect(try store.redis.command(["ZCARD", store.userKey("u1")]) == .integer(2))
        guard case .integer(let ttl) = try store.redis.command(["TTL", store.userKey("u1")]) else { Issue.record("no TTL reply"); return }
        #expect(ttl > 10 * Int(Self.h) - 60 && ttl <= 10 * Int(Self.h))  // events in the clock's past: expiry counts from now
        let unbounded = FeatureSet([FeatureDefinition(name: "all", entity: .user, eventTypes: [.view], window: nil, aggregation: .count)])
        let forever = try Backend.redis.make(unbounded) as! RedisFeatureStore
        try forever.apply(events)
        #expect(try forever.redis.command(["TTL", forever.userKey("u1")]) == .integer(-1))
    }

    /// The rebuild replays listing content of any age and only the events of the longest horizon (10 h
    /// here) before the latest one: an older view cannot count at any later time.
    @Test func redisStoreIsRebuiltFromTheLog() throws {
        let log = try SQLiteEventLog(path: Fixtures.temporaryDirectory("rummage-features") + "/events.sqlite")
        let old = [Self.listing("l0", category: "coats", price: 50, at: -200_000), Self.interaction("old", .like, item: "l0", at: -100_000)]
        try log.append(old + events)
        let store = try Backend.redis.make(features) as! RedisFeatureStore
        try store.apply([Self.interaction("stray", .view, user: "ghost", item: "l1", at: 50)])  // not in the log: dropped
        #expect(try !store.isReady())
        #expect(try store.rebuild(from: log, batchSize: 3) == events.count + 1)  // all but the old like
        #expect(try store.isReady())
        let report = try FeatureConsistency.check(online: store, events: old + events, at: 7_301)
        #expect(report.mismatches == 0 && report.entitiesChecked == 5)
        #expect(try store.latestEventTime() == 7_300)
    }
}
