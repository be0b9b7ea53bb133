import Serving
import Testing

/// Issue [16/19], re-ranking: business rules, diversity caps and new-listing shares on known answers.
@Suite struct ReRankingTests {
    /// Eight candidates, ranked 0…7: sellers, categories, brands, conditions and creation times.
    static let candidates: [ReRanking.Candidate] = (0..<8).map { i in
        ReRanking.Candidate(item: "l\(i)",
                            attributes: ["category": ["tops", "jeans", "bags", "tops", "tops", "bags", "jeans", "tops"][i],
                                         "brand": i == 3 || i == 4 ? "acme" : "other", "condition": i == 1 || i == 3 ? "fair" : "good"],
                            seller: ["s1", "s1", "s1", "s2", "s3", "s4", "s5", "s6"][i], createdAt: i >= 5 ? now - 3_600 : now - 100 * 3_600)
    }
    static let now: Int64 = 1_000_000

    func stage(_ rules: [String] = [], _ configure: (inout ReRanking) -> Void = { _ in }) throws -> ReRanking {
        var stage = ReRanking()
        stage.rules = try rules.map { try ReRankingRule(parsing: $0) }
        configure(&stage)
        return stage
    }

    func apply(_ stage: ReRanking, k: Int = 4) -> (order: [Int], reasons: [Int: [String]]) {
        stage.apply(Array(0..<8), candidates: Self.candidates, k: k, now: Self.now)
    }

    @Test func buryMovesMatchesBelowTheRestInOrder() throws {
        let (order, reasons) = apply(try stage(["bury condition=fair"]))
        #expect(order == [0, 2, 4, 5, 6, 7, 1, 3])
        #expect(reasons == [1: ["bury condition=fair"], 3: ["bury condition=fair"]])
    }

    @Test func boostMovesEachMatchUpWithoutPassingAnEarlierOne() throws {
        let (order, reasons) = apply(try stage(["boost brand=acme by 2"]))
        #expect(order == [0, 3, 4, 1, 2, 5, 6, 7])
        #expect(reasons == [3: ["boost brand=acme by 2"], 4: ["boost brand=acme by 2"]])
        // A listing already at the top is not moved, nor named.
        let top = apply(try stage(["boost item=l0 by 5"]))
        #expect(top.order == Array(0..<8) && top.reasons.isEmpty)
    }

    @Test func diversityCapsMoveListingsDown() throws {
        let (order, reasons) = apply(try stage { $0.maxPerSeller = 2; $0.maxPerCategory = 2 })
        // l2 is s1's third; l4 the third top; l7 the fourth top.
        #expect(order == [0, 1, 3, 5, 6, 2, 4, 7])
        #expect(Set(reasons.keys) == [2, 4, 7] && reasons.values.allSatisfy { $0 == [ReRanking.diversityReason] })
        #expect(apply(try stage()).order == Array(0..<8), "no rule, no change")
    }

    @Test func newListingSharesSwapTheBestNewForTheLowestOthers() throws {
        // l5, l6 and l7 are new (created within 72 hours of now). At least half of 4 slots: l5 and l6 replace l2 and l3.
        let minimum = apply(try stage { $0.minimumNewShare = 0.5 })
        #expect(minimum.order == [0, 1, 5, 6, 2, 3, 4, 7])
        #expect(minimum.reasons == [5: [ReRanking.minimumNewReason], 6: [ReRanking.minimumNewReason]])
        // At most a quarter of 4 slots: of l5 and l6 (new) the lower, l6, leaves for the best listing that is not new, l2.
        let maximum = try stage { $0.maximumNewShare = 0.25 }.apply([5, 6, 0, 1, 2, 3, 4, 7], candidates: Self.candidates, k: 4, now: Self.now)
        #expect(maximum.order == [5, 0, 1, 2, 6, 3, 4, 7] && maximum.reasons == [6: [ReRanking.maximumNewReason]])
        // l5 is new within 6 slots, but l6 and l7 are new too: nothing that is not new can replace it.
        let strict = apply(try stage { $0.maximumNewShare = 0 }, k: 6)
        #expect(strict.order == Array(0..<8) && strict.reasons.isEmpty)
    }

    @Test func pinsTakeTheirSlotsAndKeepTheAnswersLength() throws {
        let stage = try stage(["pin item=l6 at 1", "pin category=bags at 3"])
        let (shown, pins) = stage.pinned([0, 1, 2, 3], order: Array(0..<8), candidates: Self.candidates)
        // l6 first; the best bags listing (l2, shown already) moves to slot 3; l3 is pushed out.
        #expect(shown == [6, 0, 2, 1] && pins == [6: "pin item=l6 at 1", 2: "pin category=bags at 3"])
        // Pins never touch the order of apply().
        #expect(apply(stage).order == Array(0..<8))
    }

    @Test func rulesAreParsedOrRefusedWithTheirShape() throws {
        let rule = try ReRankingRule(parsing: "  boost  brand=acme by 3 ")
        #expect(rule.action == .boost(places: 3) && rule.match == .attribute(name: "brand", value: "acme") && rule.description == "boost brand=acme by 3")
        #expect(try ReRankingRule(parsing: "pin item=l42 at 1").action == .pin(slot: 0))
        #expect(try ReRankingRule(parsing: "bury item=l9").match == .item("l9"))
        for text in ["boost brand=acme", "bury", "pin brand=acme at 0", "promote brand=acme", "bury brand", "boost brand=acme by x", "bury =x"] {
            #expect(throws: SurfaceError.self, "\(text)") { try ReRankingRule(parsing: text) }
        }
    }
}
