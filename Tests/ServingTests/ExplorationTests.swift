import Foundation
import Serving
import Testing

@Suite struct ExplorationTests {
    /// Candidates 0…9 ranked in that order, scores 9, 8, …, 0.
    static let order = Array(0..<10)
    static let scores: [Float] = (0..<10).map { Float(9 - $0) }

    @Test func theFirstSlotsFollowTheRankingAndTheRestAreSampledDeterministicallyPerRankingID() {
        let exploration = Exploration(share: 0.3, temperature: 2)
        // k = 7: 2 of the 7 slots (30 %, rounded) are drawn from the 5 listings the ranking did not place.
        let (shown, propensities) = exploration.choose(order: Self.order, scores: Self.scores, k: 7, rankingID: "r-1")
        #expect(shown.count == 7 && Set(shown).count == 7 && Array(shown.prefix(5)) == Array(0..<5))
        #expect(Array(propensities.prefix(5)) == Array(repeating: 1, count: 5) && propensities.suffix(2).allSatisfy { $0 > 0 && $0 < 1 })
        #expect(exploration.choose(order: Self.order, scores: Self.scores, k: 7, rankingID: "r-1").shown == shown)
        let many = Set((0..<50).map { exploration.choose(order: Self.order, scores: Self.scores, k: 5, rankingID: "r-\($0)").shown })
        #expect(many.count > 1, "other ranking ids draw other listings")
        #expect(Exploration(share: 0, temperature: 1).choose(order: Self.order, scores: Self.scores, k: 4, rankingID: "x").shown == [0, 1, 2, 3])
    }

    /// A pool (here: the odd candidates, as new listings would be): sampled slots take only its members;
    /// when fewer are left than slots, the ranking fills the rest.
    @Test func sampledSlotsDrawFromThePoolOnly() {
        let exploration = Exploration(share: 0.5, temperature: 1, pool: .new)
        for r in 0..<200 {
            let (shown, propensities) = exploration.choose(order: Self.order, scores: Self.scores, k: 4, rankingID: "p-\(r)", inPool: { $0 % 2 == 1 })
            #expect(Array(shown.prefix(2)) == [0, 1] && shown.suffix(2).allSatisfy { $0 % 2 == 1 && $0 > 1 } && Set(shown).count == 4)
            #expect(propensities.prefix(2) == [1, 1] && propensities.suffix(2).allSatisfy { $0 > 0 && $0 < 1 })
        }
        // Only candidate 9 is in the pool beyond the first 3 slots: one slot sampled (probability 1), the ranking fills the others.
        let (shown, propensities) = exploration.choose(order: Self.order, scores: Self.scores, k: 4, rankingID: "q", inPool: { $0 == 9 })
        #expect(shown == [0, 1, 2, 9] && propensities == [1, 1, 1, 1])
    }

    /// A ranking's logged propensities are consistent: each in (0, 1], 1 exactly on the ranked slots, and
    /// the product over the sampled slots is the Plackett–Luce probability of that ordered draw, recomputed
    /// here from the scores alone.
    @Test func aRankingsPropensitiesMultiplyToTheProbabilityOfItsDraw() {
        let exploration = Exploration(share: 0.5, temperature: 2)
        for r in 0..<100 {
            let (shown, propensities) = exploration.choose(order: Self.order, scores: Self.scores, k: 6, rankingID: "c-\(r)")
            #expect(propensities.allSatisfy { $0 > 0 && $0 <= 1 } && propensities.prefix(3) == [1, 1, 1])
            var remaining = Set(Self.order.dropFirst(3)), probability = 1.0
            for listing in shown.dropFirst(3) {
                let total = remaining.map { exp(Double(Self.scores[$0]) / 2) }.reduce(0, +)
                probability *= exp(Double(Self.scores[listing]) / 2) / total
                remaining.remove(listing)
            }
            #expect(abs(propensities.reduce(1, *) - probability) < 1e-12, "ranking c-\(r)")
        }
    }

    /// One sampled slot over all ten: each listing is drawn with probability softmax(score / τ), and the
    /// logged propensity is that probability, so inverse-propensity weights average to one per listing.
    @Test func drawsFollowThePlackettLuceProbabilitiesTheyLog() {
        let exploration = Exploration(share: 1, temperature: 3)
        let weights = Self.scores.map { exp(Double($0) / 3) }, total = weights.reduce(0, +)
        var counts = [Int](repeating: 0, count: 10), ipsSums = [Double](repeating: 0, count: 10)
        let draws = 20_000
        for r in 0..<draws {
            let (shown, propensities) = exploration.choose(order: Self.order, scores: Self.scores, k: 1, rankingID: "ranking-\(r)")
            counts[shown[0]] += 1
            #expect(abs(propensities[0] - weights[shown[0]] / total) < 1e-12)
            ipsSums[shown[0]] += 1 / propensities[0]
        }
        for i in 0..<10 {
            let expected = weights[i] / total
            #expect(abs(Double(counts[i]) / Double(draws) - expected) < 0.012, "listing \(i): \(counts[i]) draws, expected share \(expected)")
            #expect(abs(ipsSums[i] / Double(draws) - 1) < 0.15, "listing \(i)")
        }
    }
}
