import Events
import Experiments
import Foundation
import Pipeline
import Registry
import RummageCore
import RummageTestSupport
import Training
import Testing

@Suite struct ExploredListsTests {
    /// Listing i of l0…l9 draws a view with probability attraction(i) = 0.05 + 0.09 i when examined; slot j
    /// is examined with 0.9 × 0.8ʲ (the position-based model).
    static func attraction(_ i: Int) -> Double { 0.05 + 0.09 * Double(i) }
    static func examined(_ j: Int) -> Double { 0.9 * pow(0.8, Double(j)) }

    /// `count` lists of four slots drawn uniformly from the ten candidates (logged in the order l0…l9, with
    /// retrieval scores that put l0 first), for 200 users, with the views they drew.
    static func log(lists count: Int, seed: UInt64) -> [Event] {
        var rng = SeededGenerator(seed: seed)
        let candidates = (0..<10).map { (item: "l\($0)", score: Float(10 - $0)) }
        var events: [Event] = []
        for k in 0..<count {
            let ranking = "r\(k)", user = "u\(k % 200)", t = Int64(1_000 + k)
            var pool = Array(0..<10)
            for j in 0..<4 {
                let i = pool.remove(at: rng.nextInt(below: pool.count))
                var event = Event(id: "i\(k)-\(j)", type: .impression, timestamp: t, user: UserID(user), item: ItemID("l\(i)"),
                                  attributes: ["propensity": String(1 / Double(10 - j))])
                (event.surface, event.rankingID, event.position) = ("home", ranking, j)
                if j == 0 { event.attributes[LoggedCandidates.attribute] = LoggedCandidates.encode(candidates) }
                events.append(event)
                if rng.nextDouble() < examined(j) * attraction(i) {
                    var view = Event(id: "v\(k)-\(j)", type: .view, timestamp: t + 1, user: UserID(user), item: ItemID("l\(i)"))
                    view.rankingID = ranking
                    events.append(view)
                }
            }
        }
        return events
    }

    /// The true CTR of showing `order`'s first four listings.
    static func truth(_ order: [Int]) -> Double { (0..<4).reduce(0) { $0 + examined($1) * attraction(order[$1]) } / 4 }

    /// Off-policy estimates of two rankings (best attraction first; retrieval's order, the worst first) from
    /// 20,000 uniformly drawn lists hold their true CTRs and the true difference, which the logged CTR does not.
    @Test func estimatesRecoverTheTrueCTROfOtherRankings() throws {
        let explored = ExploredLists.build(events: Self.log(lists: 20_000, seed: 3), surface: "home")
        #expect(explored.lists.count == 20_000 && explored.skipped.isEmpty)
        let best = Array((0..<10).reversed())
        let bestRounds = explored.rounds(orders: Array(repeating: best, count: explored.lists.count))
        let retrievalRounds = explored.rounds(orders: explored.retrievalOrders)
        #expect(explored.retrievalOrders[0] == Array(0..<10))
        let good = try OffPolicyEstimates(bestRounds), poor = try OffPolicyEstimates(retrievalRounds)
        for (name, e, value) in [("best", good, Self.truth(best)), ("retrieval", poor, Self.truth(Array(0..<10)))] {
            for (estimator, estimate) in [("ips", e.ips), ("snips", e.snips), ("dr", e.doublyRobust!)] {
                // Within 3.3 standard errors (a 99.9 % interval).
                #expect(abs(estimate.value - value) < 3.3 * estimate.standardError && estimate.standardError < 0.01,
                        "\(name) \(estimator) \(estimate) against \(value)")
            }
            // One listing in ten matches the ranking's in each slot.
            #expect(abs(e.effectiveSampleSize - 8_000) < 400, "\(e.effectiveSampleSize)")
        }
        let uplift = try OffPolicyUplift(candidate: bestRounds, baseline: retrievalRounds)
        let difference = Self.truth(best) - Self.truth(Array(0..<10))
        #expect(abs(uplift.doublyRobust!.value - difference) < 3.3 * uplift.doublyRobust!.standardError && uplift.doublyRobust!.low > 0)
        #expect(abs(uplift.ips.value - (good.ips.value - poor.ips.value)) < 1e-12)
        #expect(abs(uplift.doublyRobust!.value - (good.doublyRobust!.value - poor.doublyRobust!.value)) < 1e-12)
        #expect(abs(good.logged.value - Self.truth(best)) > 0.05, "the uniform draw's own CTR is far from the best ranking's")
    }

    /// Lists that do not qualify are counted by reason; lists without candidates and lists `include`
    /// refuses are not lists of this kind at all.
    @Test func listsThatCannotBeUsedAreCounted() {
        var events = Self.log(lists: 5, seed: 1)
        events[events.firstIndex { $0.rankingID == "r1" && $0.position == 2 }!].attributes["propensity"] = "0.5"
        events[events.firstIndex { $0.rankingID == "r2" && $0.position == 0 }!].attributes[LoggedCandidates.attribute] = "[[\"l0\"]]"
        events[events.firstIndex { $0.rankingID == "r3" && $0.position == 1 }!].item = "l99"
        events[events.firstIndex { $0.rankingID == "r4" && $0.position == 0 }!].attributes[LoggedCandidates.attribute] = nil
        events.removeAll { $0.rankingID == "r0" && $0.position == 1 && $0.type == .impression }
        let explored = ExploredLists.build(events: events, surface: "home")
        #expect(explored.lists.isEmpty)
        #expect(explored.skipped == ["not drawn uniformly from its candidates": 1, "unreadable candidates": 1,
                                     "a shown listing is not among its candidates": 1, "slots missing from the log": 1])
        let clean = Self.log(lists: 5, seed: 1)
        #expect(ExploredLists.build(events: clean, surface: "home") { $0.rankingID != "r2" }.lists.map(\.rankingID) == ["r0", "r1", "r3", "r4"])
        #expect(ExploredLists.build(events: clean, surface: "similar").lists.isEmpty)
    }

    @Test func candidatesRoundTrip() {
        let candidates: [(item: String, score: Float)] = [("l,1 \"x\"", 0.1 + 0.2), ("l2", -3e-9)]
        let decoded = LoggedCandidates.decode(LoggedCandidates.encode(candidates))
        #expect(decoded?.map(\.item) == candidates.map(\.item) && decoded?.map(\.score) == candidates.map(\.score))
        #expect(LoggedCandidates.decode("not json") == nil && LoggedCandidates.decode("[[\"l1\", \"x\"]]") == nil)
    }
}

/// The ranker's gate with an off-policy check, on lists where the cheapest listing shown draws the view.
@Suite struct RankerOffPolicyGateTests {
    /// 2,000 lists of four slots drawn uniformly from ten new listings priced at random (candidates logged,
    /// retrieval scores unrelated to price); the user views the cheapest listing shown.
    static func cheapestShownWins() -> [Event] {
        var rng = SeededGenerator(seed: 9)
        var events: [Event] = []
        for k in 0..<2_000 {
            let t = Int64(1_000 + 10 * k), ranking = "r\(k)", user = "u\(k % 50)"
            let candidates = (0..<10).map { (item: "l\(k)-\($0)", score: rng.nextFloat()) }
            let prices = (0..<10).map { _ in Double(2 + rng.nextInt(below: 300)) }
            for (i, c) in candidates.enumerated() {
                events.append(Event(id: "c\(c.item)", type: .listingCreated, timestamp: 0, user: "s", item: ItemID(c.item), price: prices[i],
                                    attributes: ["category": "jeans"]))
            }
            var pool = Array(0..<10), shown: [Int] = []
            for j in 0..<4 {
                let i = pool.remove(at: rng.nextInt(below: pool.count))
                shown.append(i)
                var event = RankerTrainingSetTests.impression(ranking, j, user: user, item: candidates[i].item, at: t, score: candidates[i].score)
                event.attributes["propensity"] = String(1 / Double(10 - j))
                if j == 0 { event.attributes[LoggedCandidates.attribute] = LoggedCandidates.encode(candidates) }
                events.append(event)
            }
            let cheapest = shown.min { prices[$0] < prices[$1] }!
            events.append(RankerTrainingSetTests.engagement("v\(k)", .view, ranking: ranking, user: user, item: candidates[cheapest].item, at: t + 5))
        }
        return events
    }

    @Test func theGateAsksForAnOffPolicyUpliftWithEnoughSamples() throws {
        let registry = ModelRegistry(root: Fixtures.temporaryDirectory("rummage-ope-gate"))
        let events = Self.cheapestShownWins()
        func train(_ gate: RankerPipeline.OffPolicyGate) throws -> RankerPipeline.Result {
            try RankerPipeline.run(events: events, data: "test", logSequence: nil, surface: "home", registry: registry, model: "home-ranker",
                                   alias: "champion", settings: HyperParameters([("rounds", "30"), ("max_depth", "3")]), threads: 1,
                                   offPolicy: gate, progress: { _ in })
        }
        // Evaluated on the 400 held-out lists (1,600 slots; about 160 match the ranker's): the ranker's CTR
        // is well above retrieval's order (a quarter: one view per list whatever the order).
        let blessed = try train(.init(surface: "home", minimumUplift: 0.02, minimumEffectiveSampleSize: 100))
        let m = blessed.manifest.metrics
        #expect(blessed.gate.blessed, "\(blessed.gate.markdown)")
        #expect(m["ope_lists"] == 400 && m["ope_uplift_low"]! > 0.02 && abs(m["ope_ctr_baseline"]! - 0.25) < 0.06, "\(m)")
        #expect(m["ope_effective_sample_size"]! > 100 && m["ope_effective_sample_size"]! < 250)
        // Too few samples for the policy: refused, whatever the estimate.
        let weak = try train(.init(surface: "home", minimumEffectiveSampleSize: 10_000))
        #expect(!weak.gate.blessed && weak.gate.checks.filter { !$0.passed }.map(\.name) == ["off-policy effective sample size ≥ 10000"])
        // The champion (v1) is the baseline now: the same ranker retrained is no uplift over it.
        let same = try train(.init(surface: "home", minimumUplift: 0.02, minimumEffectiveSampleSize: 100))
        #expect(!same.gate.blessed && abs(same.manifest.metrics["ope_uplift"]!) < 0.02, "\(same.gate.markdown)")
        // No explored lists on the surface: refused, saying so.
        let none = try train(.init(surface: "similar"))
        #expect(!none.gate.blessed && none.gate.checks.contains { $0.detail.contains("no fully explored lists of surface 'similar'") })
    }

    /// `rummage ope ranker` on a log of those lists: the ranker's CTR above retrieval's order, for a person
    /// and as JSON; a period without explored lists is refused.
    @Test func opeRankerCommand() throws {
        let dir = Fixtures.temporaryDirectory("rummage-ope-ranker"), log = dir + "/events.sqlite", registry = dir + "/registry"
        let events = Self.cheapestShownWins()
        _ = try SQLiteEventLog(path: log).append(events)
        _ = try RankerPipeline.run(events: events, data: "test", logSequence: nil, surface: "home", registry: ModelRegistry(root: registry),
                                   model: "home-ranker", alias: "champion", settings: HyperParameters([("rounds", "30"), ("max_depth", "3")]),
                                   threads: 1, progress: { _ in })
        let result = rummage("ope", "ranker", "--log", log, "--registry", registry, "--model", "home-ranker", "--surface", "home", "--json", "--quiet")
        #expect(result.code == 0, "\(result.err)")
        #expect(result.out.contains("2000 explored lists, 8000 slots") && result.out.contains("uplift over retrieval's order: DR +"), "\(result.out)")
        let json = try lastJSONLine(result.out)
        let candidate = try #require((json["candidateEstimates"] as? [String: Any])?["doublyRobust"] as? [String: Any])
        let baseline = try #require((json["baselineEstimates"] as? [String: Any])?["doublyRobust"] as? [String: Any])
        #expect(json["candidate"] as? String == "home-ranker v1" && json["lists"] as? Int == 2_000)
        #expect((candidate["value"] as! Double) > (baseline["value"] as! Double) + 0.05 && abs((baseline["value"] as! Double) - 0.25) < 0.04)
        let none = rummage("ope", "ranker", "--log", log, "--registry", registry, "--model", "home-ranker", "--surface", "home", "--to", "1000")
        #expect(none.code == 65 && none.err.contains("no fully explored lists of surface 'home'"), "\(none.err)")
    }
}
