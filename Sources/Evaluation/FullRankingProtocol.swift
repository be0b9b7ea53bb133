import LinearAlgebra
import RummageCore

/// Full-ranking protocol (as in the LightGCN code): every candidate item is scored for each test
/// user, the user's training items are masked, and the top K is compared with the held-out items.
/// Recall@K, Precision@K and NDCG@K averaged over users with at least one held-out item.
public struct FullRankingProtocol: Sendable {
    /// Held-out items per user (rows = users, columns = items).
    public let heldOut: SparseRows
    /// Items each user must not be recommended (their training items), masked before ranking.
    public let excluded: SparseRows
    /// `eligible[i] == false` removes item `i` from every ranking (e.g. sold before the split).
    /// Nil means every item is a candidate.
    public let eligible: [Bool]?
    public let cutoffs: [Int]

    /// Preconditions: `heldOut` and `excluded` have the same shape; `eligible` covers every item.
    public init(heldOut: SparseRows, excluded: SparseRows, eligible: [Bool]? = nil, cutoffs: [Int] = [10, 20]) {
        precondition(heldOut.rowCount == excluded.rowCount && heldOut.columnCount == excluded.columnCount)
        precondition(eligible == nil || eligible!.count == heldOut.columnCount)
        precondition(!cutoffs.isEmpty && cutoffs.allSatisfy { $0 > 0 })
        self.heldOut = heldOut
        self.excluded = excluded
        self.eligible = eligible
        self.cutoffs = cutoffs
    }

    public var itemCount: Int { heldOut.columnCount }
    public var metricNames: [String] { cutoffs.flatMap { ["recall@\($0)", "ndcg@\($0)", "precision@\($0)"] } }
    /// Users with at least one held-out item: the ones evaluated.
    public var testUsers: [UserIndex] { (0..<heldOut.rowCount).filter { heldOut.count(of: $0) > 0 }.map { UserIndex($0) } }

    /// Ranks the top `max(cutoffs)` eligible, non-excluded items for `user` from a full score vector.
    public func topItems(for user: UserIndex, scores: UnsafeMutableBufferPointer<Float>) -> [ScoredIndex] {
        for item in excluded.columns(of: user.int) { scores[Int(item)] = -.infinity }
        if let eligible {
            for i in 0..<itemCount where !eligible[i] { scores[i] = -.infinity }
        }
        return TopK.select(UnsafeBufferPointer(scores), k: cutoffs.max()!)
    }

    /// Scores all items for each test user with `scoreAll(user, scores)` (the buffer has one slot per
    /// item) on up to `threads` threads, and returns the mean metrics. Deterministic for any thread count.
    public func evaluate(threads: Int,
                         scoreAll: @Sendable (UserIndex, UnsafeMutableBufferPointer<Float>) -> Void) -> MetricReport {
        let users = testUsers
        let names = metricNames
        let maxK = cutoffs.max()!
        let perChunk = Parallel.mapChunks(count: users.count, chunkSize: 32, threads: threads) { range in
            var values: [Double] = []
            var scores = [Float](repeating: 0, count: itemCount)
            for u in range {
                let user = users[u]
                let top = scores.withUnsafeMutableBufferPointer { buffer in
                    scoreAll(user, buffer)
                    return topItems(for: user, scores: buffer)
                }
                let hits = (0..<maxK).map { $0 < top.count && heldOut.contains(row: user.int, column: top[$0].index) }
                let relevant = heldOut.count(of: user.int)
                for k in cutoffs {
                    values.append(RankingMetrics.recall(hits: hits, relevantCount: relevant, k: k))
                    values.append(RankingMetrics.ndcg(hits: hits, relevantCount: relevant, k: k))
                    values.append(RankingMetrics.precision(hits: hits, k: k))
                }
            }
            return values
        }
        return MetricReport.averaging(names: names, perUser: perChunk.flatMap { $0 }, userCount: users.count)
    }
}
