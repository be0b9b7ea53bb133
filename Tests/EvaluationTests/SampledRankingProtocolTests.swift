import Evaluation
import Foundation
import RummageCore
import Testing

@Suite struct SampledRankingProtocolTests {
    func items(_ xs: [Int]) -> [ItemIndex] { xs.map { ItemIndex($0) } }

    @Test func collapsesDuplicatesAndBreaksTiesInListOrder() {
        // The positive (3) also appears among the negatives, after item 5: NCF's evaluate.py keeps
        // one copy at its first position, and a tie with item 5 ranks the positive second.
        let c = SampledCase(user: UserIndex(0), positive: ItemIndex(3), negatives: items([5, 3, 5, 7]))
        let proto = SampledRankingProtocol(cases: [c], cutoffs: [1, 2])
        let report = proto.evaluate(threads: 1) { _, candidates in
            #expect(candidates == self.items([5, 3, 7]))
            return [Float](repeating: 1, count: candidates.count)
        }
        #expect(report["hr@1"] == 0)
        #expect(report["hr@2"] == 1)
        #expect(abs(report["ndcg@2"]! - log(2) / log(3)) < 1e-12)
    }

    @Test func positiveAppendedLastLosesEveryTie() {
        let c = SampledCase(user: UserIndex(0), positive: ItemIndex(9), negatives: items([1, 2, 3]))
        let proto = SampledRankingProtocol(cases: [c], cutoffs: [3, 4])
        let report = proto.evaluate(threads: 1) { _, candidates in [Float](repeating: 0, count: candidates.count) }
        #expect(report["hr@3"] == 0)
        #expect(report["hr@4"] == 1)
    }

    @Test func averagesOverUsersIdenticallyForAnyThreadCount() {
        var rng = SeededGenerator(seed: 9)
        let cases = (0..<500).map { u in
            SampledCase(user: UserIndex(u), positive: ItemIndex(1000 + u),
                        negatives: (0..<99).map { _ in ItemIndex(rng.nextInt(below: 1000)) })
        }
        let proto = SampledRankingProtocol(cases: cases, cutoffs: [10])
        // Score: a hash of (user, item), so ranks vary.
        let scorer: @Sendable (UserIndex, [ItemIndex]) -> [Float] = { user, candidates in
            candidates.map { Float((Int($0.rawValue) &* 2_654_435_761 ^ Int(user.rawValue) &* 40_503) % 1000) }
        }
        let one = proto.evaluate(threads: 1, score: scorer)
        let four = proto.evaluate(threads: 4, score: scorer)
        #expect(one == four)
        #expect(one.userCount == 500)
        // Always the best score: every metric is 1.
        let perfect = proto.evaluate(threads: 3) { _, candidates in candidates.map { $0.rawValue >= 1000 ? 1 : 0 } }
        #expect(perfect["hr@10"] == 1 && perfect["ndcg@10"] == 1)
    }
}
