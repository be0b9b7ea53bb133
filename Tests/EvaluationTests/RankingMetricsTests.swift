import Evaluation
import Foundation
import Testing

@Suite struct RankingMetricsTests {
    @Test func singleItemMetricsMatchNCFFormulas() {
        #expect(RankingMetrics.hitRatio(rank: 0, k: 10) == 1)
        #expect(RankingMetrics.hitRatio(rank: 9, k: 10) == 1)
        #expect(RankingMetrics.hitRatio(rank: 10, k: 10) == 0)
        #expect(RankingMetrics.ndcg(rank: 0, k: 10) == 1)
        #expect(abs(RankingMetrics.ndcg(rank: 1, k: 10) - 0.630_929_753_6) < 1e-9)   // log 2 / log 3
        #expect(abs(RankingMetrics.ndcg(rank: 9, k: 10) - 0.289_064_826_3) < 1e-9)   // log 2 / log 11
        #expect(RankingMetrics.ndcg(rank: 10, k: 10) == 0)
    }

    @Test func listMetricsMatchHandComputedValues() {
        // Hits at positions 0 and 2 of the top 4; 3 relevant items in all.
        let hits = [true, false, true, false]
        #expect(abs(RankingMetrics.recall(hits: hits, relevantCount: 3, k: 4) - 2.0 / 3) < 1e-12)
        #expect(RankingMetrics.precision(hits: hits, k: 4) == 0.5)
        #expect(RankingMetrics.recall(hits: hits, relevantCount: 3, k: 1) == 1.0 / 3)
        // DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.1309297536.
        #expect(abs(RankingMetrics.ndcg(hits: hits, relevantCount: 3, k: 4) - 1.5 / 2.130_929_753_6) < 1e-9)
        // Only one relevant item: the ideal list has a single hit.
        #expect(abs(RankingMetrics.ndcg(hits: [false, true], relevantCount: 1, k: 2) - 0.630_929_753_6) < 1e-9)
        #expect(RankingMetrics.ndcg(hits: [false, false], relevantCount: 0, k: 2) == 0)
    }
}
