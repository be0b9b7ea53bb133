import Events
import Features
import Foundation
import Pipeline
import RummageCore
import Testing

@Suite struct RankerTrainingSetTests {
    static func impression(_ ranking: String, _ position: Int, user: String, item: String, at t: Int64, score: Float,
                           surface: String = "home") -> Event {
        var event = Event(id: "imp-\(ranking)-\(position)", type: .impression, timestamp: t, user: UserID(user), item: ItemID(item),
                          attributes: ["retrieval_score": String(score)])
        event.surface = surface
        event.rankingID = ranking
        event.position = position
        return event
    }

    static func engagement(_ id: String, _ type: EventType, ranking: String?, user: String, item: String, at t: Int64) -> Event {
        var event = Event(id: id, type: type, timestamp: t, user: UserID(user), item: ItemID(item))
        event.rankingID = ranking
        return event
    }

    /// Five lists of three listings at 1000, 2000, … s; in list k the user buys, views or ignores.
    static var events: [Event] {
        var events = (0..<6).map { i in
            Event(id: "c\(i)", type: .listingCreated, timestamp: 0, user: "s", item: ItemID("l\(i)"), price: Double(10 + i),
                  attributes: ["category": i % 2 == 0 ? "jeans" : "tops"])
        }
        events.append(Event(id: "p3", type: .priceChanged, timestamp: 2_500, user: "s", item: "l3", price: 99))
        for k in 0..<5 {
            let t = Int64(1_000 * (k + 1)), ranking = "r\(k)"
            for p in 0..<3 { events.append(impression(ranking, p, user: "u1", item: "l\(k + p)", at: t, score: Float(3 - p) / 10)) }
            switch k {
            case 0: events.append(engagement("b0", .purchase, ranking: ranking, user: "u1", item: "l1", at: t + 60))
            case 1: events += [engagement("v1", .view, ranking: ranking, user: "u1", item: "l3", at: t + 10),
                               engagement("k1", .like, ranking: ranking, user: "u1", item: "l3", at: t + 20),
                               // Too late, another user, and no ranking id: none counts.
                               engagement("k1late", .addToBag, ranking: ranking, user: "u1", item: "l1", at: t + 7_200),
                               engagement("k1other", .like, ranking: ranking, user: "u2", item: "l2", at: t + 20),
                               engagement("k1bare", .like, ranking: nil, user: "u1", item: "l2", at: t + 30)]
            case 2: break
            case 3: events.append(engagement("v3", .view, ranking: ranking, user: "u1", item: "l3", at: t + 5))
            default: events.append(engagement("a4", .addToBag, ranking: ranking, user: "u1", item: "l0", at: t + 5))  // l0 was not shown
            }
        }
        events.append(impression("other", 0, user: "u1", item: "l0", at: 100, score: 0.9, surface: "similar"))
        return events
    }

    @Test func labelsGroupsAndTheTimeSplit() {
        var options = RankerTrainingSet.Options(surface: "home")
        options.validationFraction = 0.4
        let set = RankerTrainingSet.build(events: Self.events, options: options)
        #expect(set.impressions == 15 && set.engaged == 3)
        // Lists r0–r2 train (r2 has no engagement and is left out), r3–r4 are held out (r4 has none).
        #expect(set.training.groups == [3, 3] && set.training.labels == [0, 4, 0, 0, 0, 2])
        #expect(set.validation.groups == [3] && set.validation.labels == [1, 0, 0])
        let columns = RankingFeatures.names.count
        #expect(set.training.columns == columns && set.training.values.count == 6 * columns)
        let score = RankingFeatures.names.firstIndex(of: "retrieval_score")!, price = RankingFeatures.names.firstIndex(of: "log_price")!
        #expect(set.training.values[score] == 0.3 && set.training.values[columns + score] == 0.2)
        // l3 is shown in r1 (at 2000 s, price 13) and r3 (at 4000 s, after its change to 99).
        #expect(set.training.values[5 * columns + price] == Float(log1p(13.0)))
        #expect(set.validation.values[price] == Float(log1p(99.0)))
    }
}
