import Events
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Testing

/// The contract of `EventLog`, run against every implementation: SQLite (embedded) and PostgreSQL (a
/// real server on loopback, `TestPostgres`).
@Suite struct EventLogConformanceTests {
    enum Backend: String, CaseIterable, CustomStringConvertible {
        case sqlite, postgresql
        var description: String { rawValue }

        /// A fresh log, and a way to open the same storage again.
        func make() throws -> (log: any EventLog, reopen: () throws -> any EventLog) {
            switch self {
            case .sqlite:
                let path = Fixtures.temporaryDirectory("rummage-log") + "/events.sqlite"
                return (try SQLiteEventLog(path: path), { try SQLiteEventLog(path: path) })
            case .postgresql:
                let conninfo = try TestPostgres.database()
                return (try PostgreSQLEventLog(conninfo: conninfo), { try PostgreSQLEventLog(conninfo: conninfo) })
            }
        }
    }

    static func view(_ id: String, at t: Int64, user: String = "u1", item: String = "l1") -> Event {
        Event(id: id, type: .view, timestamp: t, user: UserID(user), item: ItemID(item), surface: "home")
    }

    static func ids(_ log: any EventLog, order: EventOrder, from: Int64 = .min, to: Int64 = .max,
                    types: Set<EventType>? = nil) throws -> [String] {
        var ids: [String] = []
        try log.read(timestamps: from..<to, types: types, order: order) { ids.append($0.id) }
        return ids
    }

    /// [12/19]: ids are unique per producer, and each event is stored with its fingerprint.
    @Test(arguments: Backend.allCases)
    func idsAreScopedToTheirProducerAndKeepTheirFingerprint(backend: Backend) throws {
        let (log, reopen) = try backend.make()
        let mine = Self.view("order-9001", at: 10), theirs = Self.view("order-9001", at: 20, item: "l2")
        #expect(try log.append([theirs], producer: "attacker") == [true])
        #expect(try log.append([mine], producer: "shop") == [true], "another producer's id does not pre-claim it")
        #expect(try log.append([mine], producer: "shop") == [false])
        #expect(try log.fingerprints(of: ["order-9001", "nope"], producer: "shop") == [mine.fingerprint, nil])
        #expect(try log.fingerprints(of: ["order-9001"], producer: "attacker") == [theirs.fingerprint])
        #expect(try log.contains(ids: ["order-9001"]) == [false], "no producer-less event has the id")
        #expect(try reopen().count() == 2)
        #expect(mine.fingerprint.count == 32 && mine.fingerprint != theirs.fingerprint)
    }

    /// [12/19]: a schema-1 log (ids unique on their own, no producers) is migrated in place when opened:
    /// its events stay, in order, as producer-less events without fingerprints.
    @Test(arguments: Backend.allCases)
    func aSchemaOneLogIsMigratedWhenOpened(backend: Backend) throws {
        let v1 = """
            CREATE TABLE rummage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO rummage_meta VALUES ('event_log_schema', '1');
            CREATE TABLE events (seq \(backend == .sqlite ? "INTEGER" : "BIGSERIAL") PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL, ts BIGINT NOT NULL, "user" TEXT, item TEXT, surface TEXT, ranking_id TEXT, position BIGINT,
                price DOUBLE PRECISION, attributes TEXT);
            INSERT INTO events (event_id, type, ts, "user", item) VALUES ('b', 'view', 20, 'u1', 'l1'), ('a', 'view', 10, 'u1', 'l1');
            """
        let log: any EventLog
        switch backend {
        case .sqlite:
            let path = Fixtures.temporaryDirectory("rummage-log-v1") + "/events.sqlite"
            try SQLiteConnection(path: path).execute(v1)
            log = try SQLiteEventLog(path: path)
            #expect(try SQLiteEventLog(path: path).count() == 2, "opening a migrated log again changes nothing")
        case .postgresql:
            let conninfo = try TestPostgres.database()
            _ = try PostgreSQLConnection(conninfo).execute(v1)
            log = try PostgreSQLEventLog(conninfo: conninfo)
            #expect(try PostgreSQLEventLog(conninfo: conninfo).count() == 2, "opening a migrated log again changes nothing")
        }
        #expect(try Self.ids(log, order: .appended) == ["b", "a"])
        #expect(try log.fingerprints(of: ["a", "c"], producer: "") == ["", nil])
        #expect(try log.append([Self.view("a", at: 99), Self.view("c", at: 30)]) == [false, true])
        #expect(try log.append([Self.view("a", at: 99)], producer: "shop") == [true])
    }

    @Test(arguments: Backend.allCases)
    func idsWithQuotesBracesAndBackslashesAreFoundExactly(backend: Backend) throws {
        let log = try backend.make().log
        let odd = ["a\"b", "c\\d", "{e,f}", "NULL", "g h", "ünï"]
        #expect(try log.append(odd.enumerated().map { Self.view($1, at: Int64($0)) }) == odd.map { _ in true })
        #expect(try log.contains(ids: odd + ["a", "b", "e", "null", "\"", "{}"]) == odd.map { _ in true } + [false, false, false, false, false, false])
        #expect(try log.append(odd.map { Self.view($0, at: 99) }) == odd.map { _ in false })
        #expect(try Self.ids(log, order: .appended) == odd)
    }

    @Test(arguments: Backend.allCases)
    func duplicateIDsAreNoOps(backend: Backend) throws {
        let log = try backend.make().log
        #expect(try log.append([Self.view("a", at: 10), Self.view("b", at: 20), Self.view("a", at: 30)]) == [true, true, false])
        #expect(try log.append([Self.view("b", at: 40), Self.view("c", at: 50)]) == [false, true])
        #expect(try log.count() == 3)
        #expect(try log.contains(ids: ["a", "x", "c"]) == [true, false, true])
        // The first copy of a duplicated id is the one kept.
        var kept: [Event] = []
        try log.readAll { kept.append($0) }
        #expect(kept.map(\.timestamp) == [10, 20, 50])
    }

    @Test(arguments: Backend.allCases)
    func readsInAppendOrTimestampOrderWithinARange(backend: Backend) throws {
        let log = try backend.make().log
        try log.append([Self.view("late", at: 300), Self.view("early", at: 100)])
        try log.append([Self.view("middle", at: 200), Self.view("tie", at: 100)])
        #expect(try Self.ids(log, order: .appended) == ["late", "early", "middle", "tie"])
        #expect(try Self.ids(log, order: .timestamp) == ["early", "tie", "middle", "late"])
        #expect(try Self.ids(log, order: .timestamp, from: 100, to: 300) == ["early", "tie", "middle"])
        try log.append([Event(id: "sold", type: .listingSold, timestamp: 250, item: "l1")])
        #expect(try Self.ids(log, order: .appended, types: [.listingSold, .purchase]) == ["sold"])
    }

    @Test(arguments: Backend.allCases)
    func everyFieldSurvivesReopening(backend: Backend) throws {
        let (log, reopen) = try backend.make()
        let events = [
            Event(id: "e1", type: .impression, timestamp: 1_767_225_600, user: "u1", item: "l1", surface: "search",
                  rankingID: "r1", position: 4),
            Event(id: "e2", type: .listingCreated, timestamp: 1_767_225_601, user: "u2", item: "l2", price: 19.5,
                  attributes: ["category": "jeans", "title": "a \"quoted\" title, with comma"]),
            Event(id: "e3", type: .userCreated, timestamp: 1_767_225_602, user: "u3", attributes: ["top_size": "M"]),
        ]
        try log.append(events)
        let again = try reopen()
        var read: [Event] = []
        try again.readAll { read.append($0) }
        #expect(read == events)
        #expect(try again.append(events) == [false, false, false])
    }

    @Test(arguments: Backend.allCases)
    func listingHistoryHoldsTheLifecycleEventsOfTheAskedListingsInAppendOrder(backend: Backend) throws {
        let log = try backend.make().log
        #expect(try log.latestTimestamp() == nil)
        func event(_ id: String, _ type: EventType, _ item: String, at t: Int64) -> Event {
            Event(id: id, type: type, timestamp: t, user: "u", item: ItemID(item))
        }
        try log.append([event("c1", .listingCreated, "l1", at: 5), event("c2", .listingCreated, "l2", at: 1),
                        event("v1", .view, "l1", at: 6), event("s1", .listingSold, "l1", at: 2)])
        try log.append([event("r1", .listingRelisted, "l1", at: 3), event("p2", .purchase, "l2", at: 9), event("c3", .listingCreated, "l3", at: 4)])
        var ids: [String] = []
        #expect(try log.latestTimestamp() == 9)
        try log.listingHistory(of: ["l1", "l2", "missing"]) { ids.append($0.id) }
        #expect(ids == ["c1", "c2", "s1", "r1", "p2"])
        #expect(try log.lifecycle(of: ["l1", "l2", "l3"]).states == ["l1": .active, "l2": .sold, "l3": .active])
    }

    @Test(arguments: Backend.allCases)
    func aFollowerReadsWhatWasAppendedAfterItsPosition(backend: Backend) throws {
        let log = try backend.make().log
        #expect(try log.lastSequence() == 0 && log.events(after: 0, limit: 10).isEmpty)
        try log.append([Self.view("a", at: 30), Self.view("b", at: 10), Self.view("a", at: 99)])
        let start = try log.lastSequence()
        try log.append([Self.view("c", at: 20), Self.view("d", at: 5), Self.view("e", at: 1)])
        let first = try log.events(after: start, limit: 2)
        #expect(first.map(\.event.id) == ["c", "d"] && first[0].sequence > start && first[1].sequence > first[0].sequence)
        let rest = try log.events(after: first[1].sequence, limit: 10)
        let last = try log.lastSequence()
        #expect(rest.map(\.event.id) == ["e"] && rest[0].sequence == last)
        #expect(try log.events(after: log.lastSequence(), limit: 10).isEmpty)
    }
}
