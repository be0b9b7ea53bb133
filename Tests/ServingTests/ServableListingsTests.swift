import Events
import Foundation
import MatrixFactorization
import RummageAPI
import RummageCore
import RummageTestSupport
import Serving
import Testing

/// Only listings whose `listing_created` the log holds, in state active, are served; a user without
/// personal data gets the log's popular listings, marked with the reason.
@Suite(.serialized) struct ServableListingsTests {
    static let now: Int64 = 1_775_000_000

    @Test func listingsTheLogDoesNotKnowAreNeverServed() throws {
        let f = BundleFixture()
        try f.registry.setAlias(BundleFixture.model, "champion", to: try f.register(f.parts(seed: 1)))
        // The log knows only the first half of the model's listings.
        let log = try SQLiteEventLog(path: f.dir + "/events.sqlite")
        let known = Set(f.itemIDs.prefix(150))
        _ = try EventIngestor(log: log).ingest(known.sorted().map {
            Event(id: "c-\($0)", type: .listingCreated, timestamp: Self.now - 100, user: "seller", item: ItemID($0))
        })
        let service = try RecommendationService(registry: f.registry, model: BundleFixture.model, reference: "champion", log: log,
                                                loadModel: { try FactorizationModel.load(from: $0) })
        #expect(service.status.indexed == 150)
        for user in f.userIDs {
            let served = service.recommend(user: user, k: 30).items.map(\.item)
            #expect(served.count == 30 && Set(served).isSubset(of: known), "\(user)")
        }
        #expect(Set(service.recommend(user: "stranger", k: 200).items.map(\.item)).isSubset(of: known))
        // Once the log records its creation, a listing the model was trained on is served again.
        let late = f.itemIDs[200]
        _ = try service.ingest([Event(id: "c-late", type: .listingCreated, timestamp: Self.now, user: "seller", item: ItemID(late))])
        #expect(service.status.indexed == 151)
        #expect(f.userIDs.contains { service.recommend(user: $0, k: 30).items.contains { $0.item == late } })
    }

    @Test func usersWithoutPersonalDataGetTheLogsPopularListingsWithTheReason() throws {
        let f = BundleFixture()
        try f.registry.setAlias(BundleFixture.model, "champion", to: try f.register(f.parts(seed: 1)))
        let log = try SQLiteEventLog(path: f.dir + "/events.sqlite")
        // Listings created one minute apart (l299 newest); l7 liked three times, l42 once, in the last day.
        var events = f.itemIDs.enumerated().map { i, item in
            Event(id: "c-\(item)", type: .listingCreated, timestamp: Self.now - 86_400 + Int64(i) * 60, user: "seller", item: ItemID(item))
        }
        for (n, item) in ["l7", "l7", "l42", "l7"].enumerated() {
            events.append(Event(id: "v\(n)", type: .like, timestamp: Self.now - 100 + Int64(n), user: UserID("viewer\(n)"), item: ItemID(item)))
        }
        _ = try EventIngestor(log: log).ingest(events)
        let service = try RecommendationService(registry: f.registry, model: BundleFixture.model, reference: "champion", log: log,
                                                loadModel: { try FactorizationModel.load(from: $0) })
        let answer = service.recommend(user: "stranger", k: 5)
        #expect(answer.fallback && answer.reason == .popularUnknownUser)
        // Most engaged first, then the newest (not alphabetical order of ids).
        #expect(answer.items.map(\.item) == ["l7", "l42", "l299", "l298", "l297"])
        #expect(answer.items.prefix(2).map(\.score) == [3, 1])
        // A user the model knows gets its ranking; one whose filters let nothing through gets popular
        // listings, with the other reason.
        let known = service.recommend(user: "u1", k: 5)
        #expect(!known.fallback && known.reason == nil && known.items.count == 5)
        let filtered = service.recommend(user: "u1", k: 5, filters: RecommendationFilters(category: "no-such-category"))
        #expect(filtered.fallback && filtered.reason == .popularNoCandidates && filtered.items.isEmpty)
    }
}
