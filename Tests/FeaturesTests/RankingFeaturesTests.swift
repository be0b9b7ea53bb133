import Events
import Features
import Foundation
import RummageCore
import Testing

@Suite struct RankingFeaturesTests {
    /// u1 likes two jeans of brand acme (one of size M), views a top; the candidate is an acme jeans in size M.
    static let events: [Event] = [
        Event(id: "c1", type: .listingCreated, timestamp: 0, user: "s", item: "l1", price: 20,
              attributes: ["category": "jeans", "brand": "acme", "size": "M"]),
        Event(id: "c2", type: .listingCreated, timestamp: 10, user: "s", item: "l2", price: 40,
              attributes: ["category": "jeans", "brand": "acme", "size": "L"]),
        Event(id: "c3", type: .listingCreated, timestamp: 20, user: "s", item: "l3", price: 10,
              attributes: ["category": "tops", "brand": "zed", "size": "M"]),
        Event(id: "k1", type: .like, timestamp: 100, user: "u1", item: "l1"),
        Event(id: "k2", type: .save, timestamp: 200, user: "u1", item: "l2"),
        Event(id: "v1", type: .view, timestamp: 300, user: "u1", item: "l3"),
        Event(id: "v2", type: .view, timestamp: 400, user: "u2", item: "l3"),
    ]
    static let candidate = RankingFeatures.Listing(attributes: ["category": "jeans", "brand": "acme", "size": "M"], price: 60, createdAt: 10)

    func row(user: [FeatureValue], item: [FeatureValue], at time: Int64) -> [Float] {
        let prices = ["l1": 20.0, "l2": 40.0, "l3": 10.0]
        return RankingFeatures.row(retrievalScore: 0.5, user: user, item: item, listing: Self.candidate,
                                   recentPrices: RankingFeatures.recentItems(user).compactMap { prices[$0] }, at: time)
    }

    @Test func theRowIsTheSameOnlineAndOffline() throws {
        let features = FeatureSet.marketplace, time: Int64 = 401
        let online = InMemoryFeatureStore(features: features)
        online.apply(Self.events)
        let userOnline = try online.currentValues(RankingFeatures.userFeatures, entity: "u1")
        let itemOnline = try online.currentValues(RankingFeatures.itemFeatures, entity: "l3")
        var offline: [FeatureValue] = []
        OfflineFeatures.values(events: Self.events, features: features,
                               requests: [.init(user: "u1", item: "l3", time: time)]) { _, values in offline = values }
        let names = features.definitions.map(\.name)
        let userOffline = RankingFeatures.userFeatures.map { offline[names.firstIndex(of: $0)!] }
        let itemOffline = RankingFeatures.itemFeatures.map { offline[names.firstIndex(of: $0)!] }
        let a = row(user: userOnline, item: itemOnline, at: time), b = row(user: userOffline, item: itemOffline, at: time)
        #expect(a == b)
        #expect(a.count == RankingFeatures.names.count)
        // Known answers: both engagements are acme jeans, one in M; the candidate costs twice the mean of 20 and 40.
        let column = Dictionary(uniqueKeysWithValues: zip(RankingFeatures.names, a))
        #expect(column["retrieval_score"] == 0.5 && column["user_category_affinity"] == 1 && column["user_brand_affinity"] == 1)
        #expect(column["user_size_affinity"] == 0.5)
        #expect(abs(column["price_vs_recent"]! - Float(log(2.0))) < 1e-6 && abs(column["log_price"]! - Float(log1p(60.0))) < 1e-6)
        #expect(abs(column["listing_age_hours"]! - Float(391.0 / 3600)) < 1e-6)
        #expect(abs(column["item_views_1d"]! - Float(log1p(2.0))) < 1e-6 && column["item_engagements_7d"] == 0)
        #expect(abs(column["user_views_1d"]! - Float(log1p(1.0))) < 1e-6 && abs(column["user_engagements_7d"]! - Float(log1p(2.0))) < 1e-6)
    }

    /// `rummage features check`'s ranker rows: serving's (online store, listing facts in arrival order)
    /// against training's (point in time), equal when nothing was missed, and naming the columns that
    /// differ when serving missed an event.
    @Test func theCheckComparesServingRowsWithTrainingRows() throws {
        let events = Self.events + [Event(id: "p1", type: .priceChanged, timestamp: 50, user: "s", item: "l1", price: 30)]
        let arrival = [events.last!] + events.dropLast()   // the price change arrives before the listing's creation
        let online = InMemoryFeatureStore(features: .marketplace)
        online.apply(arrival)
        var listings = ListingFactTable()
        for event in arrival { listings.remember(event) }
        #expect(listings["l1"]?.price == 30, "the later-stamped price is kept")
        let pairs: [(user: String, item: String)] = [("u1", "l1"), ("u1", "l3"), ("u2", "l2")]
        let clean = try FeatureConsistency.checkRankingRows(online: online, listings: listings, events: events, pairs: pairs)
        #expect(clean.rowsChecked == 3 && clean.valuesChecked == 3 * RankingFeatures.names.count && clean.mismatches == 0, "\(clean.examples)")

        // Serving missed u1's save of l2 (size L): u1's size affinity, engagements and recent prices differ, and l2's engagements.
        let stale = InMemoryFeatureStore(features: .marketplace)
        stale.apply(arrival.filter { $0.id != "k2" })
        let missed = try FeatureConsistency.checkRankingRows(online: stale, listings: listings, events: events, pairs: pairs)
        #expect(Set(missed.examples.map(\.column)) == ["user_size_affinity", "user_engagements_7d", "price_vs_recent", "item_engagements_7d"],
                "\(missed.examples)")
        #expect(missed.examples.allSatisfy { $0.column == "item_engagements_7d" ? $0.item == "l2" : $0.user == "u1" })
        // Serving missed the price change: l1's price differs, and the recent prices of u1, who saved l1.
        var old = ListingFactTable()
        for event in arrival.dropFirst() { old.remember(event) }
        let price = try FeatureConsistency.checkRankingRows(online: online, listings: old, events: events, pairs: pairs)
        #expect(Set(price.examples.map(\.column)) == ["log_price", "price_vs_recent"], "\(price.examples)")
        #expect(price.examples.allSatisfy { $0.column == "log_price" ? $0.item == "l1" : $0.user == "u1" })
    }

    @Test func unknownInputsAreMissingOrZero() {
        let empty = RankingFeatures.row(retrievalScore: 0.1, user: RankingFeatures.userFeatures.map { _ in .ids([]) },
                                        item: [.number(0), .number(0)],
                                        listing: .init(attributes: [:], price: nil, createdAt: nil), recentPrices: [], at: 5)
        let column = Dictionary(uniqueKeysWithValues: zip(RankingFeatures.names, empty))
        #expect(column["log_price"]!.isNaN && column["price_vs_recent"]!.isNaN && column["listing_age_hours"]!.isNaN)
        #expect(column["user_category_affinity"] == 0 && column["user_views_1d"] == 0)
    }
}
