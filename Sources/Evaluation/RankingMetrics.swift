import Foundation

/// Per-user ranking metrics, exactly as the reference implementations compute them.
///
/// Ranks are 0-based: rank 0 is the top of the list.
public enum RankingMetrics {
    /// Hit ratio for one held-out item at `rank`: 1 when it is in the top `k`.
    /// (NCF `evaluate.py` `getHitRatio`.)
    @inlinable
    public static func hitRatio(rank: Int, k: Int) -> Double { rank < k ? 1 : 0 }

    /// NDCG for one held-out item at `rank`: `log 2 / log(rank + 2)` inside the top `k`, else 0.
    /// (NCF `evaluate.py` `getNDCG`.)
    @inlinable
    public static func ndcg(rank: Int, k: Int) -> Double { rank < k ? log(2) / log(Double(rank) + 2) : 0 }

    /// Recall@k: hits in the top `k` divided by the number of relevant items.
    /// (LightGCN `RecallPrecision_ATk`.) `hits[i]` tells whether position `i` is relevant.
    public static func recall(hits: [Bool], relevantCount: Int, k: Int) -> Double {
        guard relevantCount > 0 else { return 0 }
        return Double(hits.prefix(k).filter { $0 }.count) / Double(relevantCount)
    }

    /// Precision@k: hits in the top `k` divided by `k`. (LightGCN `RecallPrecision_ATk`.)
    public static func precision(hits: [Bool], k: Int) -> Double {
        Double(hits.prefix(k).filter { $0 }.count) / Double(k)
    }

    /// NDCG@k with binary relevance: DCG over the top `k` positions divided by the ideal DCG of
    /// `min(relevantCount, k)` hits at the top. Gains `1 / log2(position + 2)`. (LightGCN `NDCGatK_r`.)
    public static func ndcg(hits: [Bool], relevantCount: Int, k: Int) -> Double {
        var dcg = 0.0, idcg = 0.0
        for (i, hit) in hits.prefix(k).enumerated() where hit { dcg += 1 / log2(Double(i) + 2) }
        for i in 0..<min(relevantCount, k) { idcg += 1 / log2(Double(i) + 2) }
        return idcg > 0 ? dcg / idcg : 0
    }
}
