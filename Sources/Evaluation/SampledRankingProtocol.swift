import RummageCore

/// One test case of the sampled protocol: a held-out positive ranked against listed negatives.
public struct SampledCase: Sendable, Equatable {
    public var user: UserIndex
    public var positive: ItemIndex
    /// Negatives exactly as listed in the split file (may contain duplicates or the positive itself).
    public var negatives: [ItemIndex]
    public init(user: UserIndex, positive: ItemIndex, negatives: [ItemIndex]) {
        self.user = user
        self.positive = positive
        self.negatives = negatives
    }
}

/// The NCF protocol (He et al., WWW 2017): each user's held-out item is ranked among its sampled
/// negatives (1 + 99 on the published splits); HR@K and NDCG@K averaged over users.
///
/// Reproduces the original `evaluate.py` exactly: candidates are the negatives in listed order then
/// the positive, collapsed to their first occurrence (the Python dict does this), and ties are broken
/// in that order (`heapq.nlargest` is stable), so a positive tied with an earlier candidate ranks
/// below it.
public struct SampledRankingProtocol: Sendable {
    public let cases: [SampledCase]
    public let cutoffs: [Int]
    /// Per case: unique candidates in first-occurrence order and the position of the positive.
    private let candidates: [[ItemIndex]]
    private let positivePosition: [Int]

    public init(cases: [SampledCase], cutoffs: [Int] = [1, 5, 10, 20]) {
        precondition(!cutoffs.isEmpty && cutoffs.allSatisfy { $0 > 0 })
        self.cases = cases
        self.cutoffs = cutoffs
        var candidates: [[ItemIndex]] = []
        var positions: [Int] = []
        candidates.reserveCapacity(cases.count)
        for c in cases {
            var seen = Set<ItemIndex>()
            var list: [ItemIndex] = []
            for item in c.negatives + [c.positive] where seen.insert(item).inserted { list.append(item) }
            candidates.append(list)
            positions.append(list.firstIndex(of: c.positive)!)
        }
        self.candidates = candidates
        positivePosition = positions
    }

    public var metricNames: [String] { cutoffs.flatMap { ["hr@\($0)", "ndcg@\($0)"] } }

    /// 0-based rank of the positive among `scores` (aligned with the case's unique candidates).
    static func rank(ofPositiveAt position: Int, scores: [Float]) -> Int {
        let s = scores[position]
        var rank = 0
        for (i, other) in scores.enumerated() where other > s || (other == s && i < position) { rank += 1 }
        return rank
    }

    /// Scores every case with `score(user, candidates)` (one score per candidate, same order) on up
    /// to `threads` threads and returns the mean metrics. Deterministic for any thread count.
    public func evaluate(threads: Int, score: @Sendable (UserIndex, [ItemIndex]) -> [Float]) -> MetricReport {
        let names = metricNames
        let perCase = Parallel.mapChunks(count: cases.count, chunkSize: 64, threads: threads) { range in
            var values: [Double] = []
            values.reserveCapacity(range.count * names.count)
            for i in range {
                let scores = score(cases[i].user, candidates[i])
                precondition(scores.count == candidates[i].count, "scorer returned \(scores.count) scores for \(candidates[i].count) candidates")
                let r = Self.rank(ofPositiveAt: positivePosition[i], scores: scores)
                for k in cutoffs {
                    values.append(RankingMetrics.hitRatio(rank: r, k: k))
                    values.append(RankingMetrics.ndcg(rank: r, k: k))
                }
            }
            return values
        }
        return MetricReport.averaging(names: names, perUser: perCase.flatMap { $0 }, userCount: cases.count)
    }
}
