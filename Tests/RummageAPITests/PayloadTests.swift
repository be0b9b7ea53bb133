import Foundation
import RummageAPI
import Testing

/// Request bodies decode into typed values; JSON numbers 0 and 1 stay numbers (Foundation on Linux reads
/// them as booleans through `JSONSerialization`, which refused an impression at position 0 or 1 and a
/// price of 0 or 1).
@Suite struct PayloadTests {
    func event(_ json: String) throws(PayloadError) -> EventPayload { try PayloadError.decode(EventPayload.self, from: Data(json.utf8)) }

    @Test(arguments: [0, 1])
    func positionsAndPricesOfZeroAndOneAreNumbers(value: Int) throws {
        let impression = try event(#"{"event_id":"e","type":"impression","timestamp":1767225000,"user":"u","item":"i","ranking_id":"r","position":\#(value)}"#)
        #expect(impression.position == value)
        let listing = try event(#"{"event_id":"e","type":"listing_created","timestamp":1767225000,"seller":"u","item":"i","price":\#(value)}"#)
        #expect(listing.price == Double(value))
        #expect(try PayloadError.decode(ListingPayload.self, from: Data(#"{"seller":"u","price":\#(value)}"#.utf8)).price == Double(value))
    }

    /// Optional fields are left out, never null (found by schemathesis: `{"seller": null}` and
    /// `{"attributes": null}` were taken as absent although the schema has no nullable field).
    @Test func nullIsNotAbsent() {
        #expect(throws: PayloadError(.invalidField, "'seller' must be a string (or left out), not null")) {
            try PayloadError.decode(StateChangePayload.self, from: Data(#"{"state":"sold","seller":null}"#.utf8))
        }
        #expect(throws: PayloadError.self) { try PayloadError.decode(ListingPayload.self, from: Data(#"{"seller":"u","attributes":null}"#.utf8)) }
        #expect(throws: PayloadError.self) { try PayloadError.decode(ReloadPayload.self, from: Data(#"{"alias":null}"#.utf8)) }
        #expect(throws: PayloadError.self) { try event(#"{"event_id":"e","type":"view","timestamp":1767225000,"user":"u","item":"i","price":null}"#) }
    }

    @Test func booleansAreNotNumbers() {
        for body in [#"{"event_id":"e","type":"view","timestamp":1767225000,"user":"u","item":"i","price":true}"#,
                     #"{"event_id":"e","type":"view","timestamp":1767225000,"user":"u","item":"i","position":false}"#] {
            #expect(throws: PayloadError.self) { try event(body) }
        }
        #expect(throws: PayloadError(.invalidField, "'price' must be a number")) {
            try PayloadError.decode(ListingPayload.self, from: Data(#"{"seller":"u","price":true}"#.utf8))
        }
    }

    @Test func fieldsAreNamedInErrors() {
        func refusal<T: Decodable>(_ type: T.Type, _ body: String) -> PayloadError? {
            do { _ = try PayloadError.decode(T.self, from: Data(body.utf8)); return nil } catch { return error }
        }
        #expect(refusal(EventPayload.self, #"{"event_id":"e","type":"view","timestamp":1,"colour":"red"}"#)
                == PayloadError(.invalidField, "unknown field 'colour'"))
        #expect(refusal(EventPayload.self, #"{"type":"view","timestamp":1}"#) == PayloadError(.missingField, "missing 'event_id'"))
        #expect(refusal(EventPayload.self, "[1]") == PayloadError(.malformed, "not a JSON object"))
        #expect(refusal(EventPayload.self, "{") == PayloadError(.malformed, "not valid JSON"))
        #expect(refusal(ListingPayload.self, #"{"price":3}"#) == PayloadError(.missingField, "a listing needs 'seller'"))
        #expect(refusal(ListingPayload.self, #"{"seller":"u","attributes":{"a":1}}"#)
                == PayloadError(.invalidField, "'attributes' must be an object of strings"))
        #expect(refusal(StateChangePayload.self, #"{"state":"teleported"}"#)?.message.hasPrefix("'state' must be one of") == true)
        #expect(refusal(ReloadPayload.self, #"{"alias":""}"#) == PayloadError(.invalidField, "'alias' must be a non-empty string"))
    }

    @Test func batchesKeepEachElementsOutcome() throws {
        let results = try PayloadError.decodeOneOrMany(EventPayload.self, from: Data(#"""
            [{"event_id":"a","type":"view","timestamp":1767225000,"user":"u","item":"i"}, 7, {"event_id":"b"}]
            """#.utf8))
        #expect(results.count == 3)
        #expect((try? results[0].get())?.id == "a")
        #expect(results[1] == .failure(PayloadError(.malformed, "not a JSON object")))
        #expect(results[2] == .failure(PayloadError(.missingField, "event 'b': missing 'type'")))
        #expect(try PayloadError.decodeOneOrMany(EventPayload.self, from: Data(#"{"event_id":"a"}"#.utf8)).count == 1)
        #expect(throws: PayloadError.self) { try PayloadError.decodeOneOrMany(EventPayload.self, from: Data("nope".utf8)) }
    }

    @Test func answersRoundTripThroughTheirWireNames() throws {
        let answer = Recommendations(user: "u", modelVersion: 3, items: [ScoredItem(item: "l1", score: 0.5)], fallback: false,
                                     variant: "champion", experiment: nil, rankingID: "r")
        let json = String(decoding: try JSONEncoder().encode(answer), as: UTF8.self)
        #expect(json.contains(#""model_version":3"#) && json.contains(#""ranking_id":"r""#))
        #expect(try JSONDecoder().decode(Recommendations.self, from: Data(json.utf8)) == answer)
        let payload = EventPayload(id: "e", type: "impression", timestamp: 1_767_225_000, user: "u", item: "i", rankingID: "r", position: 0)
        #expect(try PayloadError.decode(EventPayload.self, from: try JSONEncoder().encode(payload)) == payload)
    }
}
