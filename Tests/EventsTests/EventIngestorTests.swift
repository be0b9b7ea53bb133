import Events
import RummageCore
import RummageTestSupport
import Storage
import Testing

@Suite struct EventIngestorTests {
    func created(_ id: String, item: String, at t: Int64 = 1_000_000_000) -> Event {
        Event(id: id, type: .listingCreated, timestamp: t, user: "seller", item: ItemID(item), price: 10)
    }

    func purchase(_ id: String, item: String, at t: Int64 = 1_000_000_100) -> Event {
        Event(id: id, type: .purchase, timestamp: t, user: "buyer", item: ItemID(item))
    }

    func newLog() throws -> SQLiteEventLog {
        try SQLiteEventLog(path: Fixtures.temporaryDirectory("rummage-ingest") + "/events.sqlite")
    }

    @Test func validEventsAreAppendedAndInvalidOnesRefusedWithReasons() throws {
        let log = try newLog()
        let ingestor = try EventIngestor(log: log)
        let outcome = try ingestor.ingest([
            created("c1", item: "l1"),
            purchase("p1", item: "l1"),
            purchase("p2", item: "l1"),          // already sold by p1 in this batch
            purchase("p3", item: "nope"),        // unknown listing
            created("c1", item: "l1"),           // duplicate id in the batch: a no-op, not an error
        ])
        #expect(outcome.appended == 2 && outcome.duplicates == 1)
        #expect(outcome.refused.map(\.index) == [2, 3])
        #expect(outcome.refused.map(\.error.code) == [.invalidTransition, .unknownListing])
        #expect(try log.count() == 2)
        #expect(try ingestor.states.states(of: ["l1"]) == [.sold])
        // Resending the same batch is safe: all duplicates or refused again, nothing new.
        let again = try ingestor.ingest([created("c1", item: "l1"), purchase("p1", item: "l1")])
        #expect(again.appended == 0 && again.duplicates == 2 && again.refused.isEmpty)
        #expect(again.states == ["l1": .sold])  // the retried lifecycle events' listing, re-derived from the log
    }

    /// [12/19]: pre-claiming "order-9001" under another producer made the real purchase a silent
    /// duplicate while the listing stayed on sale. Ids are now the producer's own, and reusing one for
    /// other content is refused (and changes nothing), in the log and within a batch.
    @Test func anEventIdIsTheProducersAndBoundToItsContent() throws {
        let log = try newLog()
        let ingestor = try EventIngestor(log: log)
        #expect(try ingestor.ingest([created("c1", item: "l1")], producer: "shop").appended == 1)
        let squat = Event(id: "order-9001", type: .view, timestamp: 1_000_000_050, user: "mallory", item: "l1")
        #expect(try ingestor.ingest([squat], producer: "mallory").appended == 1)
        let sale = try ingestor.ingest([purchase("order-9001", item: "l1")], producer: "shop")
        #expect(sale.appended == 1 && sale.duplicates == 0 && sale.states["l1"] == .sold)
        #expect(try ingestor.ingest([purchase("order-9001", item: "l1")], producer: "shop").duplicates == 1, "a resend is a duplicate")
        let other = try ingestor.ingest([purchase("order-9001", item: "l2")], producer: "shop")
        #expect(other.appended == 0 && other.duplicates == 0 && other.refused.map(\.error.code) == [.idConflict])
        let batch = try ingestor.ingest([created("c2", item: "l2"), created("c2", item: "l3")], producer: "shop")
        #expect(batch.appended == 1 && batch.refused.map(\.index) == [1] && batch.refused.first?.error.code == .idConflict)
        #expect(try log.count() == 4)
    }

    /// A log that refuses to store events whose id starts with "poison" (as a PostgreSQL batch once failed
    /// on one id with NUL), and stores the others.
    final class PoisonRefusingLog: EventLog {
        let inner: SQLiteEventLog
        init(_ inner: SQLiteEventLog) { self.inner = inner }
        func append(_ events: [Event], producer: String, fingerprints: [String], fence: Int64?) throws(StorageError) -> [Bool] {
            if events.contains(where: { $0.id.hasPrefix("poison") }) { throw StorageError(code: 22, "invalid byte sequence") }
            return try inner.append(events, producer: producer, fingerprints: fingerprints, fence: fence)
        }
        func fingerprints(of ids: [String], producer: String) throws(StorageError) -> [String?] { try inner.fingerprints(of: ids, producer: producer) }
        func claimTurn() throws(StorageError) -> Int64 { try inner.claimTurn() }
        func read(timestamps: Range<Int64>, types: Set<EventType>?, order: EventOrder, _ body: (Event) -> Void) throws(StorageError) {
            try inner.read(timestamps: timestamps, types: types, order: order, body)
        }
        func listingHistory(of items: [ItemID], _ body: (Event) -> Void) throws(StorageError) { try inner.listingHistory(of: items, body) }
        func count() throws(StorageError) -> Int { try inner.count() }
        func latestTimestamp() throws(StorageError) -> Int64? { try inner.latestTimestamp() }
        func lastSequence() throws(StorageError) -> Int64 { try inner.lastSequence() }
        func events(after sequence: Int64, limit: Int) throws(StorageError) -> [(sequence: Int64, event: Event)] {
            try inner.events(after: sequence, limit: limit)
        }
    }

    /// [12/19]: one event the log cannot store fails its whole batch; a consumer isolates it (refused with
    /// the storage error) and stores the others, instead of stopping.
    @Test func aPoisonEventIsIsolatedFromItsBatch() throws {
        let log = PoisonRefusingLog(try newLog())
        let ingestor = try EventIngestor(log: log)
        let batch = [created("c1", item: "l1"), created("poison-1", item: "l2"), purchase("p1", item: "l1")]
        #expect(throws: StorageError.self) { try ingestor.ingest(batch) }
        let outcome = try ingestor.ingestIsolatingPoison(batch)
        #expect(outcome.appended == 2 && outcome.refused.map(\.index) == [1])
        #expect(outcome.refused.first?.error.message.contains("invalid byte sequence") == true)
        #expect(try log.count() == 2 && outcome.states["l1"] == .sold)
    }

    @Test func allOrNothingRefusesTheWholeBatch() throws {
        let log = try newLog()
        let ingestor = try EventIngestor(log: log)
        let outcome = try ingestor.ingest([created("c1", item: "l1"), purchase("p1", item: "l2")], mode: .allOrNothing)
        #expect(outcome.appended == 0 && outcome.refused.count == 1)
        #expect(try log.count() == 0)
        #expect(try ingestor.states.states(of: ["l1"]) == [nil])
    }

    @Test func lifecycleIsRebuiltFromTheLog() throws {
        let log = try newLog()
        _ = try EventIngestor(log: log).ingest([created("c1", item: "l1"), created("c2", item: "l2"), purchase("p1", item: "l1")])
        let reopened = try EventIngestor(log: SQLiteEventLog(path: log.path))
        #expect(try reopened.states.states(of: ["l1", "l2"]) == [.sold, .active])
        #expect(try reopened.ingest([purchase("p9", item: "l1")]).refused.first?.error.code == .invalidTransition)
    }
}
