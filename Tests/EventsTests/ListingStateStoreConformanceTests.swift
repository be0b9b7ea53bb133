import Events
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Synchronization
import Testing

/// The contract of `ListingStateStore`, run against every implementation: in memory (embedded) and
/// Redis (a real server on loopback, `TestRedis`), each with the ingestor writing through it.
@Suite struct ListingStateStoreConformanceTests {
    enum Backend: String, CaseIterable, CustomStringConvertible {
        case memory, redis
        var description: String { rawValue }

        /// A fresh store over `log`, and a second handle on the same states (another replica's view).
        func make(log: any EventLog) throws -> (store: any ListingStateStore, replica: any ListingStateStore) {
            switch self {
            case .memory:
                let store = try InMemoryListingStates(replaying: log)
                return (store, store)
            case .redis:
                let prefix = "test-" + UUID().uuidString
                let store = RedisListingStates(redis: RedisPool(port: try TestRedis.port()), prefix: prefix)
                try store.rebuild(from: log)
                return (store, RedisListingStates(redis: RedisPool(port: try TestRedis.port()), prefix: prefix))
            }
        }
    }

    static func created(_ item: String, seller: String = "s1") -> Event {
        Event(id: "c-\(item)", type: .listingCreated, timestamp: 100, user: UserID(seller), item: ItemID(item), price: 10)
    }

    static func event(_ id: String, _ type: EventType, item: String, user: String = "b1") -> Event {
        Event(id: id, type: type, timestamp: 200, user: UserID(user), item: ItemID(item))
    }

    static func newLog() throws -> SQLiteEventLog {
        try SQLiteEventLog(path: Fixtures.temporaryDirectory("rummage-states") + "/events.sqlite")
    }

    @Test(arguments: Backend.allCases)
    func statesRecordedByTheIngestorAreSeenByEveryReader(backend: Backend) throws {
        let log = try Self.newLog()
        let (store, replica) = try backend.make(log: log)
        let ingestor = try EventIngestor(log: log, states: store)
        let outcome = try ingestor.ingest([Self.created("l1"), Self.created("l2"), Self.created("l3", seller: "s2"),
                                           Self.event("p1", .purchase, item: "l1"), Self.event("r2", .listingReserved, item: "l2", user: "s1")])
        #expect(outcome.appended == 5 && outcome.states == ["l1": .sold, "l2": .reserved, "l3": .active])
        #expect(try replica.states(of: ["l1", "l2", "l3", "nope"]) == [.sold, .reserved, .active, nil])
        #expect(try replica.listings(of: "s1") == ["l1", "l2"] && replica.listings(of: "s2") == ["l3"] && replica.listings(of: "x") == [])
        let restricted = try replica.lifecycle(of: ["l2", "l3"])
        #expect(restricted.states == ["l2": .reserved, "l3": .active] && restricted.sellers == ["l2": "s1", "l3": "s2"])
        // A second ingestor validates against the shared states: l1 cannot be bought twice.
        let other = try EventIngestor(log: log, states: replica)
        #expect(try other.ingest([Self.event("p2", .purchase, item: "l1")]).refused.first?.error.code == .invalidTransition)
    }

    @Test(arguments: Backend.allCases)
    func aRetriedSaleRecordsTheStateAWriterDiedBeforeRecording(backend: Backend) throws {
        let log = try Self.newLog()
        let (store, replica) = try backend.make(log: log)
        let ingestor = try EventIngestor(log: log, states: store)
        _ = try ingestor.ingest([Self.created("l1")])
        let sale = Self.event("sold-1", .listingSold, item: "l1", user: "s1")
        try log.append([sale])  // durable, but the writer died before recording the state
        #expect(try replica.states(of: ["l1"]) == [.active])
        let retry = try ingestor.ingest([sale])
        #expect(retry.duplicates == 1 && retry.appended == 0)
        #expect(try replica.states(of: ["l1"]) == [.sold])
    }

    @Test(arguments: Backend.allCases)
    func writersAreExclusiveAcrossHandles(backend: Backend) throws {
        let (store, replica) = try backend.make(log: try Self.newLog())
        let inside = Atomic<Int>(0), overlaps = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            for _ in 0..<40 {
                _ = try? (k == 0 ? store : replica).exclusively { (_: WriterLease) throws(StorageError) in
                    if inside.add(1, ordering: .sequentiallyConsistent).newValue > 1 { overlaps.add(1, ordering: .relaxed) }
                    usleep(200)
                    inside.subtract(1, ordering: .sequentiallyConsistent)
                }
            }
        }
        #expect(overlaps.load(ordering: .relaxed) == 0)
    }

    /// Redis restarted empty: reads throw (callers fall back to the log), the ingestor validates against
    /// the log meanwhile, and `rebuild` restores every state.
    @Test func redisEmptiedIsDetectedAndRebuiltFromTheLog() throws {
        let log = try Self.newLog()
        let (store, replica) = try Backend.redis.make(log: log)
        let ingestor = try EventIngestor(log: log, states: store)
        _ = try ingestor.ingest([Self.created("l1"), Self.created("l2"), Self.event("p1", .purchase, item: "l1")])
        let redis = (store as! RedisListingStates)
        try redis.redis.command(["DEL", redis.readyKey, redis.stateKey])  // what a restart without persistence leaves
        #expect(throws: StorageError.self) { try replica.states(of: ["l1"]) }
        #expect(try !redis.isReady())
        #expect(try log.lifecycle(of: ["l1", "l2"]).states == ["l1": .sold, "l2": .active])
        #expect(try ingestor.ingest([Self.event("p2", .purchase, item: "l1")]).refused.first?.error.code == .invalidTransition)
        #expect(try redis.rebuild(from: log) == 2)
        #expect(try redis.isReady())
        #expect(try replica.states(of: ["l1", "l2"]) == [.sold, .active])
    }
}

/// [13/19]: the shared writers' lock is safe when its holder stalls (a black-holed path, SIGSTOP): it is
/// renewed only while the holder makes progress, so it expires and other writers go on, and the stalled
/// holder's late append is refused by the fence where it would commit (in the log, SQLite or PostgreSQL).
@Suite(.serialized) struct WritersLockTests {
    enum LogBackend: String, CaseIterable, CustomStringConvertible {
        case sqlite, postgresql
        var description: String { rawValue }
        func make() throws -> any EventLog {
            switch self {
            case .sqlite: try ListingStateStoreConformanceTests.newLog()
            case .postgresql: try PostgreSQLEventLog(conninfo: try TestPostgres.database())
            }
        }
    }

    /// A log holding listing l1, and two handles on one Redis store with a 300 ms lock: the one that will
    /// stall, and the other, with an ingestor.
    static func twoWriters(_ backend: LogBackend) throws
        -> (log: any EventLog, stalled: RedisListingStates, other: RedisListingStates, ingestor: EventIngestor) {
        let log = try backend.make()
        let prefix = "stall-" + UUID().uuidString
        func store() throws -> RedisListingStates {
            RedisListingStates(redis: RedisPool(port: try TestRedis.port()), prefix: prefix, lockMilliseconds: 300)
        }
        let stalled = try store(), other = try store()
        let ingestor = try EventIngestor(log: log, states: other)
        #expect(try ingestor.ingest([ListingStateStoreConformanceTests.created("l1")]).appended == 1)
        try other.rebuild(from: log)
        return (log, stalled, other, ingestor)
    }

    @Test(arguments: LogBackend.allCases)
    func aStalledHolderLosesTheLockAndIsFenced(log backend: LogBackend) throws {
        let (log, stalled, other, ingestor) = try Self.twoWriters(backend)

        // A takes the lock, makes one step, then stalls for 1.5 s before appending its sale of l1.
        let holding = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<[Bool], StorageError>?>(nil)
        let holder = Thread {
            let result = Result { () throws(StorageError) -> [Bool] in
                try stalled.exclusively { (lease: WriterLease) throws(StorageError) -> [Bool] in
                    let fence = try log.claimTurn()
                    lease.progressed()
                    holding.signal()
                    Thread.sleep(forTimeInterval: 1.5)
                    let sale = ListingStateStoreConformanceTests.event("stalled-sale", .listingSold, item: "l1")
                    return try log.append([sale], producer: "", fingerprints: [sale.fingerprint], fence: fence)
                }
            }
            outcome.withLock { $0 = result }
        }
        holder.start()
        holding.wait()
        // B's reservation does not wait for the stalled holder: its lock expires within 300 ms.
        let waited = Stopwatch()
        let reserved = try ingestor.ingest([ListingStateStoreConformanceTests.event("reserve", .listingReserved, item: "l1")])
        #expect(reserved.appended == 1 && waited.elapsedSeconds < 1.2, "\(waited.elapsedSeconds) s")
        while outcome.withLock({ $0 == nil }) { usleep(20_000) }
        // A wakes up and tries to commit its sale: refused, nothing appended.
        guard case .failure(let error) = try #require(outcome.withLock { $0 }) else { Issue.record("the stalled sale was appended"); return }
        #expect(error.code == StorageError.fenced, "\(error)")
        #expect(try log.contains(ids: ["c-l1", "reserve", "stalled-sale"]) == [true, true, false])
        #expect(try other.states(of: ["l1"]) == [.reserved])
    }

    /// A holder that appended its sale and stalled before recording it: the next writer validates against
    /// the log (the sale), not the shared store (still "active"), so a conflicting reservation is refused;
    /// it records the listing the stalled holder left unrecorded; and the stalled holder's late record is
    /// refused, so it cannot overwrite a newer state.
    @Test(arguments: LogBackend.allCases)
    func aHolderThatStallsAfterAppendingIsNeitherContradictedNorLateToRecord(log backend: LogBackend) throws {
        let (log, stalled, other, ingestor) = try Self.twoWriters(backend)

        let appended = DispatchSemaphore(value: 0)
        let lateRecord = Mutex<StorageError?>(nil)
        let holder = Thread {
            do throws(StorageError) {
                try stalled.exclusively { (lease: WriterLease) throws(StorageError) in
                    let fence = try log.claimTurn()
                    try stalled.willChange(["l1"], under: lease)
                    let sale = ListingStateStoreConformanceTests.event("sale", .listingSold, item: "l1")
                    try log.append([sale], producer: "", fingerprints: [sale.fingerprint], fence: fence)
                    appended.signal()
                    Thread.sleep(forTimeInterval: 1.0)
                    try stalled.record(ListingLifecycle(states: ["l1": .sold], sellers: [:]), items: ["l1"], under: lease)
                }
            } catch {
                lateRecord.withLock { $0 = error }
            }
            appended.signal()
        }
        holder.start()
        appended.wait()
        #expect(try other.states(of: ["l1"]) == [.active], "the sale is in the log, not yet in the shared store")
        let reservation = try ingestor.ingest([ListingStateStoreConformanceTests.event("reserve", .listingReserved, item: "l1")])
        #expect(reservation.appended == 0 && reservation.refused.first?.error.code == .invalidTransition, "\(reservation)")
        #expect(try other.states(of: ["l1"]) == [.sold], "the next writer recorded what the stalled one left unrecorded")
        appended.wait()
        #expect(lateRecord.withLock { $0 }?.code == StorageError.fenced)
        #expect(try log.contains(ids: ["sale", "reserve"]) == [true, false])
    }

    /// A holder that keeps making progress keeps the lock; a waiter backs off and gives up with
    /// `writersBusy` after ten lifetimes (HTTP 503 with Retry-After).
    @Test func aWaiterGivesUpWithBusyWhileTheHolderProgresses() throws {
        let prefix = "busy-" + UUID().uuidString
        let holder = RedisListingStates(redis: RedisPool(port: try TestRedis.port()), prefix: prefix, lockMilliseconds: 300)
        let waiter = RedisListingStates(redis: RedisPool(port: try TestRedis.port()), prefix: prefix, lockMilliseconds: 300)
        let holding = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? holder.exclusively { (lease: WriterLease) throws(StorageError) in
                holding.signal()
                for _ in 0..<100 {  // 5 s of steady progress
                    lease.progressed()
                    usleep(50_000)
                }
            }
            done.signal()
        }.start()
        holding.wait()
        let waited = Stopwatch()
        #expect { try waiter.exclusively { (_: WriterLease) throws(StorageError) in } } throws: {
            ($0 as? StorageError)?.code == StorageError.writersBusy
        }
        #expect(waited.elapsedSeconds >= 2.5 && waited.elapsedSeconds < 5, "ten lifetimes: \(waited.elapsedSeconds) s")
        done.wait()
        try waiter.exclusively { (_: WriterLease) throws(StorageError) in }  // free again
    }
}
