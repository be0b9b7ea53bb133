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

    @Test func unknownInputsAreMissingOrZero() {
        let empty = RankingFeatures.row(retrievalScore: 0.1, user: RankingFeatures.userFeatures.map { _ in .ids([]) },
                                        item: [.number(0), .number(0)],
                                        listing: .init(attributes: [:], price: nil, createdAt: nil), recentPrices: [], at: 5)
        let column = Dictionary(uniqueKeysWithValues: zip(RankingFeatures.names, empty))
        #expect(column["log_price"]!.isNaN && column["price_vs_recent"]!.isNaN && column["listing_age_hours"]!.isNaN)
        #expect(column["user_category_affinity"] == 0 && column["user_views_1d"] == 0)
    }
}
