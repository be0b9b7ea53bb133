import Events
import Features
import Foundation
import Pipeline
import Ranking
import Registry
import RummageCore
import RummageTestSupport
import Training
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
        #expect(set.trainingLists == ["r0", "r1"])
        let columns = RankingFeatures.names.count
        #expect(set.training.columns == columns && set.training.values.count == 6 * columns)
        let score = RankingFeatures.names.firstIndex(of: "retrieval_score")!, price = RankingFeatures.names.firstIndex(of: "log_price")!
        #expect(set.training.values[score] == 0.3 && set.training.values[columns + score] == 0.2)
        // l3 is shown in r1 (at 2000 s, price 13) and r3 (at 4000 s, after its change to 99).
        #expect(set.training.values[5 * columns + price] == Float(log1p(13.0)))
        #expect(set.validation.values[price] == Float(log1p(99.0)))
        #expect(!set.validationRandomized, "no fully explored lists: the newest are held out")
    }

    /// 500 engaged lists, every other one fully explored (its first slot's propensity 0.5): the held-out
    /// lists are the newest 20 % of the explored ones (50), and everything else trains.
    @Test func fullyExploredListsAreHeldOutWhenThereAreEnough() {
        var events: [Event] = []
        for k in 0..<500 {
            let ranking = "r\(k)", t = Int64(1_000 + 10 * k)
            for p in 0..<2 {
                var shown = Self.impression(ranking, p, user: "u\(k % 7)", item: "l\(k)-\(p)", at: t, score: Float(p))
                if k % 2 == 1 { shown.attributes["propensity"] = "0.5" }
                events.append(shown)
            }
            events.append(Self.engagement("e\(k)", .view, ranking: ranking, user: "u\(k % 7)", item: "l\(k)-1", at: t + 1))
        }
        let set = RankerTrainingSet.build(events: events, options: .init(surface: "home"))
        #expect(set.validationRandomized && set.validation.groups.count == 50 && set.training.groups.count == 450)
        var few = RankerTrainingSet.Options(surface: "home")
        few.minimumRandomizedLists = 251
        let newest = RankerTrainingSet.build(events: events, options: few)
        #expect(!newest.validationRandomized && newest.validation.groups.count == 100, "250 explored lists are too few: the newest 100 are held out")
    }
}

@Suite struct RankerPipelineTests {
    /// 400 lists of up to ten listings (a pair of jeans among tops, retrieval scores at random) for users who
    /// liked jeans before; they engage with the jeans. Retrieval's order knows nothing of it, the user's
    /// category affinity does.
    static func events(seed: UInt64) -> [Event] {
        var rng = SeededGenerator(seed: seed)
        var events = (0..<40).map { i in
            Event(id: "c\(i)", type: .listingCreated, timestamp: 0, user: "s", item: ItemID("l\(i)"), price: 10,
                  attributes: ["category": i < 20 ? "jeans" : "tops"])
        }
        for u in 0..<10 { events.append(Event(id: "h\(u)", type: .like, timestamp: 10, user: UserID("u\(u)"), item: "l0")) }
        for k in 0..<400 {
            let t = Int64(1_000 + 10 * k), user = "u\(k % 10)", ranking = "r\(k)"
            let items = [rng.nextInt(below: 20)] + (0..<9).map { _ in 20 + rng.nextInt(below: 20) }
            let shown = Array(Set(items)).sorted().shuffled(using: &rng)
            for (p, i) in shown.enumerated() {
                events.append(RankerTrainingSetTests.impression(ranking, p, user: user, item: "l\(i)", at: t, score: rng.nextFloat()))
            }
            let liked = shown.filter { $0 < 20 }[0]
            events.append(RankerTrainingSetTests.engagement("e\(k)", .like, ranking: ranking, user: user, item: "l\(liked)", at: t + 5))
        }
        return events
    }

    @Test func aRankerThatBeatsRetrievalIsBlessedRegisteredAndPromoted() throws {
        let registry = ModelRegistry(root: Fixtures.temporaryDirectory("ranker") + "/registry")
        func train(_ settings: [(key: String, value: String)]) throws -> RankerPipeline.Result {
            try RankerPipeline.run(events: Self.events(seed: 1), data: "test", logSequence: nil, surface: "home", registry: registry,
                                   model: "home-ranker", alias: "champion", settings: HyperParameters(settings), threads: 1, progress: { _ in })
        }
        let first = try train([("rounds", "30"), ("max_depth", "3")])
        #expect(first.gate.blessed, "\(first.gate.markdown)")
        #expect(first.manifest.metrics["ndcg@20"]! > 0.99 && first.manifest.metrics["ndcg@20[retrieval]"]! < 0.7, "\(first.manifest.metrics)")
        #expect(registry.aliases("home-ranker")["champion"] == 1 && first.manifest.kind == RankerPipeline.artifactKind)
        let files = try registry.verify("home-ranker", 1)
        #expect(files[RankerFiles.model] != nil && files[RankerFiles.columns] != nil)
        // A second version that cannot split (every score equal) is gated against the first and refused: the alias stays.
        let second = try train([("rounds", "5"), ("min_child_weight", "1000000")])
        #expect(second.manifest.version == 2 && !second.gate.blessed && registry.aliases("home-ranker")["champion"] == 1)
        #expect(throws: TrainingError.self) { _ = try train([("rounds", "1"), ("depth", "1")]) }
    }
}
