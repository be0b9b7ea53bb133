import Catalogue
import Events
import Foundation
import HTTPServer
import MatrixFactorization
import RummageAPI
import RummageCore
import RummageTestSupport
import Serving
import Testing

/// The service in process, over a hand-made version (no pipeline, no CLI): the eligibility rule on
/// every answer, and request bodies decoded as typed values.
@Suite(.serialized) struct RecommendationServiceTests {
    let f = BundleFixture()
    let service: RecommendationService
    let router = Router()
    static let now: Int64 = 1_775_000_000

    init() throws {
        try f.registry.setAlias(BundleFixture.model, "champion", to: try f.register(f.parts(seed: 1)))
        service = try f.service()
        ServingRoutes.install(service, on: router, clock: { Self.now })
    }

    func send(_ method: String, _ path: String, _ body: String) -> (status: Int, body: String) {
        let answer = router.handle(HTTPRequest(method: method, path: path, body: Array(body.utf8)))
        return (answer.status, String(decoding: answer.body, as: UTF8.self))
    }

    func served(_ user: String, k: Int = 20) -> [String] { service.recommend(user: user, k: k).items.map(\.item) }

    @Test func soldOwnAndBoughtListingsAreNeverServed() throws {
        // u2's top three listings are created and sold: nobody is served them from then on.
        let top = served("u2", k: 5)
        #expect(top.count == 5)
        _ = try service.ingest(top.prefix(3).enumerated().flatMap { i, item in [
            Event(id: "c\(i)", type: .listingCreated, timestamp: Self.now, user: UserID("seller\(i)"), item: ItemID(item)),
            Event(id: "s\(i)", type: .listingSold, timestamp: Self.now + 1, item: ItemID(item)),
        ] })
        for user in f.userIDs { #expect(Set(served(user)).isDisjoint(with: top.prefix(3)), "\(user)") }
        // The user's own listings (listing i was listed by user i mod 40) are served to others, never to them.
        let own = Set(f.itemIDs.enumerated().filter { $0.offset % BundleFixture.users == 2 }.map(\.element))
        #expect(f.userIDs.filter { $0 != "u2" }.contains { !Set(served($0)).isDisjoint(with: own) })
        #expect(Set(served("u2", k: 100)).isDisjoint(with: own))
        // What they bought.
        let bought = served("u2", k: 1)[0]
        _ = try service.ingest([Event(id: "bought", type: .purchase, timestamp: Self.now + 2, user: "u2", item: ItemID(bought))])
        #expect(!served("u2", k: 100).contains(bought))
        #expect(service.metricsExposition.contains("rummage_recs_unservable_served_total 0"))
    }

    @Test func zeroAndOneAreNumbersInRequestBodies() throws {
        // Prices of 0 and 1 on new listings, positions 0 and 1 on impressions (Foundation on Linux reads
        // these as booleans through JSONSerialization; they were refused).
        for (item, price) in [("free", 0), ("cheap", 1)] {
            let put = send("PUT", "/v1/items/\(item)", #"{"seller":"s1","price":\#(price),"attributes":{"category":"jeans"}}"#)
            #expect(put.status == 200, "\(put.body)")
        }
        let impressions = (0...1).map { p in
            #"{"event_id":"imp\#(p)","type":"impression","timestamp":\#(Self.now),"user":"u1","item":"free","ranking_id":"r1","position":\#(p)}"#
        }
        let posted = send("POST", "/v1/events", "[\(impressions.joined(separator: ","))]")
        #expect(posted.status == 200 && posted.body.contains(#""appended":2"#), "\(posted.body)")
        let priced = #"{"event_id":"p1","type":"price_changed","timestamp":\#(Self.now),"item":"cheap","price":0}"#
        #expect(send("POST", "/v1/events", priced).status == 200)
        // A boolean is still not a number, and the field is named.
        let boolean = send("PUT", "/v1/items/x", #"{"seller":"s1","price":true}"#)
        #expect(boolean.status == 400 && boolean.body.contains("'price' must be a number"), "\(boolean.body)")
        let state = send("PATCH", "/v1/items/free", #"{"state":"teleported"}"#)
        #expect(state.status == 400 && state.body.contains("'state' must be one of"), "\(state.body)")
        #expect(send("PATCH", "/v1/items/free", #"{"state":"sold"}"#).status == 200)
    }

    @Test func aServiceWithASchemaRefusesListingsThatBreakIt() throws {
        let schema = try CatalogueSchema(json: Data(#"{"name": "shop", "listing": [{"name": "category", "type": "categorical", "required": true}, {"name": "grams", "type": "numeric"}]}"#.utf8))
        let strict = try RecommendationService(registry: f.registry, model: BundleFixture.model, reference: "champion",
                                               log: try SQLiteEventLog(path: f.dir + "/strict.sqlite"),
                                               loadModel: { try FactorizationModel.load(from: $0) }, schema: schema)
        let router = Router()
        ServingRoutes.install(strict, on: router, clock: { Self.now })
        func put(_ body: String) -> (status: Int, body: String) {
            let answer = router.handle(HTTPRequest(method: "PUT", path: "/v1/items/x1", body: Array(body.utf8)))
            return (answer.status, String(decoding: answer.body, as: UTF8.self))
        }
        let heavy = put(#"{"seller":"s1","attributes":{"category":"rings","grams":"heavy"}}"#)
        #expect(heavy.status == 422 && heavy.body.contains("attribute 'grams' must be a number, got 'heavy'"), "\(heavy.body)")
        let missing = put(#"{"seller":"s1","attributes":{"grams":"12"}}"#)
        #expect(missing.status == 422 && missing.body.contains("'category' is required"), "\(missing.body)")
        #expect(put(#"{"seller":"s1","attributes":{"category":"rings","grams":"12"}}"#).status == 200)
    }
}
