import Events
import Foundation
import RummageAPI
import RummageCore
import Testing

@Suite struct EventJSONTests {
    let now: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z

    func parse(_ json: String) throws(EventError) -> Event { try Event(json: Data(json.utf8), now: now) }

    func refusal(_ json: String) -> EventError? {
        do { _ = try parse(json); return nil } catch { return error }
    }

    /// Each event type has a bit of its own, in declaration order (feature masks rely on it).
    @Test func eachEventTypeHasABitOfItsOwn() {
        #expect(MemoryLayout<EventType>.size == 1 && EventType.allCases.count <= 32)
        #expect(EventType.allCases.map(\.bit) == EventType.allCases.indices.map { UInt32(1) << UInt32($0) })
    }

    @Test func parsesEveryFieldAndRoundTrips() throws {
        let event = try parse("""
            {"event_id":"e1","type":"impression","timestamp":1767225000,"user":"u1","item":"l9","surface":"home",
             "ranking_id":"r7","position":3}
            """)
        #expect(event == Event(id: "e1", type: .impression, timestamp: 1_767_225_000, user: "u1", item: "l9",
                               surface: "home", rankingID: "r7", position: 3))
        let listing = try parse("""
            {"event_id":"e2","type":"listing_created","timestamp":"2025-12-31T23:00:00Z","item":"l9","seller":"u5",
             "price":25.5,"attributes":{"category":"jeans","title":"blue \\"levis\\" jeans"}}
            """)
        #expect(listing.timestamp == now - 3_600 && listing.user == "u5" && listing.price == 25.5)
        #expect(listing.attributes == ["category": "jeans", "title": "blue \"levis\" jeans"])
        for e in [event, listing] { #expect(try parse(e.jsonLine) == e) }
    }

    @Test(arguments: [
        ("not json", EventError.Code.malformedJSON),
        ("[1,2]", .malformedJSON),
        (#"{"type":"view","timestamp":1767225000,"user":"u","item":"i"}"#, .missingField),
        (#"{"event_id":"e","type":"teleport","timestamp":1767225000}"#, .unknownType),
        (#"{"event_id":"e","type":"view","timestamp":1767225000,"user":"u"}"#, .missingField),
        (#"{"event_id":"e","type":"impression","timestamp":1767225000,"user":"u","item":"i"}"#, .missingField),
        (#"{"event_id":"e","type":"view","timestamp":1767225000,"user":"u","item":"i","colour":"red"}"#, .invalidField),
        (#"{"event_id":"e","type":"view","timestamp":"yesterday","user":"u","item":"i"}"#, .invalidField),
        (#"{"event_id":"e","type":"view","timestamp":1767225000.5,"user":"u","item":"i"}"#, .invalidField),
        (#"{"event_id":"e","type":"view","timestamp":1799999999,"user":"u","item":"i"}"#, .futureTimestamp),
        (#"{"event_id":"e","type":"view","timestamp":12,"user":"u","item":"i"}"#, .invalidField),
        (#"{"event_id":"","type":"view","timestamp":1767225000,"user":"u","item":"i"}"#, .invalidField),
        (#"{"event_id":"e","type":"listing_created","timestamp":1767225000,"item":"i"}"#, .missingField),
        (#"{"event_id":"e","type":"price_changed","timestamp":1767225000,"item":"i","price":-3}"#, .invalidField),
        (#"{"event_id":"e","type":"view","timestamp":1767225000,"user":7,"item":"i"}"#, .invalidField),
        (#"{"event_id":"e","type":"user_created","timestamp":1767225000,"user":"u","attributes":{"a":1}}"#, .invalidField),
    ])
    func refusesBadEventsWithAReason(json: String, code: EventError.Code) {
        let error = refusal(json)
        #expect(error?.code == code, "\(json): \(error.map(String.init(describing:)) ?? "accepted")")
        #expect(error.map { !$0.message.isEmpty && !$0.message.contains("\n") } ?? false)
    }

    /// [12/19]: every id is canonical (`CanonicalID`) or the event is refused: a NUL, which SQLite and
    /// libpq would cut at (an item "l9\u{0}evil" stored as "l9"), another control character, a decomposed
    /// (NFD) spelling that Swift compares equal to the NFC one while SQL and Redis do not, too long.
    @Test func idsAreCanonicalOrTheEventIsRefused() throws {
        func event(id: String = "e-1", user: String = "u1", item: String = "l9") -> Event {
            Event(id: id, type: .purchase, timestamp: 1_775_000_000, user: UserID(user), item: ItemID(item))
        }
        try event(user: "Zoë", item: "l9").validate(now: 1_775_000_000)
        for bad in [event(item: "l9\u{0}evil"), event(user: "u\u{7}1"), event(item: "Cafe\u{301}"), event(id: "order\u{0}9001"),
                    event(item: String(repeating: "x", count: 129)), event(id: "")] {
            #expect(throws: EventError.self) { try bad.validate(now: 1_775_000_000) }
        }
        #expect(CanonicalID.problem(with: "Cafe\u{301}") == "must be in Unicode normalisation form C (NFC)")
        #expect(CanonicalID.problem(with: "l9\u{0}evil") == "must not contain control characters")
        #expect(CanonicalID.problem(with: "Caf\u{E9}") == nil)
        // Where ids enter as JSON they are put in NFC; control characters are refused, not removed.
        let parsed = try Event(json: Array(#"{"event_id":"e\u0301","type":"view","timestamp":1775000000,"user":"Zoe\u0308","item":"l9"}"#.utf8),
                               now: 1_775_000_000)
        #expect(parsed.id == "\u{E9}" && parsed.user == "Zo\u{EB}" && parsed.id.utf8.count == 2)
        // The length is counted in characters as sent: 128 of any width pass, 129 do not.
        #expect((try? CanonicalID.canonical(String(repeating: "\u{1F45F}", count: 128), field: "item")) != nil)
        #expect((try? CanonicalID.canonical(String(repeating: "e\u{301}", count: 65), field: "item")) == nil)
        #expect(refusal(#"{"event_id":"e","type":"view","timestamp":1775000000,"user":"u","item":"l9\u0000evil"}"#)?.code == .invalidField)
    }

    @Test func millisecondTimestampsAreRefusedWithAHint() {
        let error = refusal(#"{"event_id":"e","type":"view","timestamp":1767225000000,"user":"u","item":"i"}"#)
        #expect(error?.code == .futureTimestamp)
        #expect(error?.message.hasSuffix("(milliseconds? timestamps are Unix seconds: divide by 1000)") == true, "\(String(describing: error))")
        // An ordinary skewed clock gets no such hint.
        #expect(refusal(#"{"event_id":"e","type":"view","timestamp":1799999999,"user":"u","item":"i"}"#)?.message.contains("milliseconds") == false)
    }
}
