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
    /// Item subsets reported separately (e.g. `cold`: listings newer than the training data), each
    /// scored on its own held-out items; users with none there are skipped. Metric names get a
    /// `[slice]` suffix: `recall@20[cold]`.
    public let slices: [Slice]

    /// An item subset with its own metrics.
    public struct Slice: Sendable {
        public enum Ranking: Sendable {
            /// The slice's held-out items are looked for in the full ranking: how much of the slice a
            /// feed over every candidate surfaces.
            case full
            /// The ranking holds only the slice's candidates, as a feed of just those items would
            /// (a "new in" feed of cold listings): how well the model orders items within the slice.
            case withinSlice
        }

        public var name: String
        public var items: [Bool]
        /// When given, only these users count in the slice (e.g. users new since the training data).
        public var users: [Bool]?
        public var ranking: Ranking

        public init(_ name: String, items: [Bool], users: [Bool]? = nil, ranking: Ranking = .full) {
            self.name = name
            self.items = items
            self.users = users
            self.ranking = ranking
        }
    }

    /// Preconditions: `heldOut` and `excluded` have the same shape; `eligible` and every slice cover
    /// every item.
    public init(heldOut: SparseRows, excluded: SparseRows, eligible: [Bool]? = nil, cutoffs: [Int] = [10, 20],
                slices: [Slice] = []) {
        precondition(heldOut.rowCount == excluded.rowCount && heldOut.columnCount == excluded.columnCount)
        precondition(eligible == nil || eligible!.count == heldOut.columnCount)
        precondition(!cutoffs.isEmpty && cutoffs.allSatisfy { $0 > 0 })
        self.heldOut = heldOut
        self.excluded = excluded
        self.eligible = eligible
        self.cutoffs = cutoffs
        precondition(slices.allSatisfy { $0.items.count == heldOut.columnCount && ($0.users?.count ?? heldOut.rowCount) == heldOut.rowCount })
        self.slices = slices
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
    /// item) on up to `threads` threads, and returns the mean metrics, slices included. Deterministic
    /// for any thread count. Each user is scored once; slices reuse the same ranking.
    public func evaluate(threads: Int,
                         scoreAll: @Sendable (UserIndex, UnsafeMutableBufferPointer<Float>) -> Void) -> MetricReport {
        let users = testUsers
        let names = metricNames
        let sliceNames = cutoffs.flatMap { ["recall@\($0)", "ndcg@\($0)"] }
        let maxK = cutoffs.max()!
        // Per user: the overall metrics, then per slice a presence flag (1 or 0) and its metrics.
        let width = names.count + slices.count * (1 + sliceNames.count)
        let perChunk = Parallel.mapChunks(count: users.count, chunkSize: 32, threads: threads) { range in
            var values: [Double] = []
            values.reserveCapacity(range.count * width)
            var scores = [Float](repeating: 0, count: itemCount)
            var sliceScores = slices.contains { $0.ranking == .withinSlice } ? scores : []
            for u in range {
                let user = users[u]
                let top = scores.withUnsafeMutableBufferPointer { buffer in
                    scoreAll(user, buffer)
                    return topItems(for: user, scores: buffer)
                }
                let held = heldOut.columns(of: user.int)
                let hits = (0..<maxK).map { $0 < top.count && heldOut.contains(row: user.int, column: top[$0].index) }
                for k in cutoffs {
                    values.append(RankingMetrics.recall(hits: hits, relevantCount: held.count, k: k))
                    values.append(RankingMetrics.ndcg(hits: hits, relevantCount: held.count, k: k))
                    values.append(RankingMetrics.precision(hits: hits, k: k))
                }
                for slice in slices {
                    let relevant = slice.users.map { $0[user.int] } ?? true ? held.filter { slice.items[Int($0)] }.count : 0
                    values.append(relevant > 0 ? 1 : 0)
                    let sliceHits: [Bool]
                    switch slice.ranking {
                    case .full:
                        sliceHits = (0..<maxK).map { hits[$0] && slice.items[Int(top[$0].index)] }
                    case .withinSlice:
                        // `scores` holds this user's masked scores; rank only the slice's items.
                        let sliceTop: [ScoredIndex] = relevant == 0 ? [] : sliceScores.withUnsafeMutableBufferPointer { buffer in
                            for i in 0..<itemCount { buffer[i] = slice.items[i] ? scores[i] : -.infinity }
                            return TopK.select(UnsafeBufferPointer(buffer), k: maxK)
                        }
                        sliceHits = (0..<maxK).map { r in
                            r < sliceTop.count && heldOut.contains(row: user.int, column: sliceTop[r].index)
                        }
                    }
                    for k in cutoffs {
                        values.append(RankingMetrics.recall(hits: sliceHits, relevantCount: relevant, k: k))
                        values.append(RankingMetrics.ndcg(hits: sliceHits, relevantCount: relevant, k: k))
                    }
                }
            }
            return values
        }
        let all = perChunk.flatMap { $0 }
        var report = MetricReport(userCount: users.count)
        // Means in user order: overall over every user, slices over users with relevant items there.
        for (m, name) in names.enumerated() {
            let sum = (0..<users.count).reduce(0.0) { $0 + all[$1 * width + m] }
            report.set(name, users.isEmpty ? 0 : sum / Double(users.count))
        }
        for (s, slice) in slices.enumerated() {
            let base = names.count + s * (1 + sliceNames.count)
            let members = (0..<users.count).filter { all[$0 * width + base] == 1 }
            for (m, name) in sliceNames.enumerated() {
                let sum = members.reduce(0.0) { $0 + all[$1 * width + base + 1 + m] }
                report.set("\(name)[\(slice.name)]", members.isEmpty ? 0 : sum / Double(members.count))
            }
            report.set("users[\(slice.name)]", Double(members.count))
        }
        return report
    }
}
