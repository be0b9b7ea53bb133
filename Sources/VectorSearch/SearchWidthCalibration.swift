import LinearAlgebra
import RummageCore

/// Recall@k of an approximate search against exact search over sample queries: the mean of the queries'
/// recalls, and the lower end of its one-sided 95 % confidence interval (mean − 1.645 standard errors),
/// so that a target met by the bound holds for the population the queries were drawn from, not only for
/// the sample.
public struct RecallEstimate: Sendable, Equatable {
    public var mean: Double
    public var lowerBound: Double
    public var queries: Int

    /// From each query's recall (queries with no true hit left out).
    public init(perQuery recalls: [Double]) {
        queries = recalls.count
        guard !recalls.isEmpty else {
            (mean, lowerBound) = (1, 1)
            return
        }
        let mean = recalls.reduce(0, +) / Double(recalls.count)
        let variance = recalls.count > 1 ? recalls.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(recalls.count - 1) : 0
        self.mean = mean
        lowerBound = mean - 1.645 * (variance / Double(recalls.count)).squareRoot()
    }
}

/// The search width an index serves with, chosen to meet a recall target: recall@k against exact search
/// over the index's live vectors, for sample queries (a model's own users), unfiltered and over filters
/// (e.g. one per category), measured at that width.
public struct SearchWidthCalibration: Sendable, Equatable {
    /// What the lower confidence bounds of recall@k had to reach, unfiltered and filtered.
    public var target: Double
    public var k: Int
    /// The chosen beam width (`HNSWIndex.Configuration.efSearch`); the widest tried when none met the target.
    public var searchWidth: Int
    /// Recall@k at `searchWidth` over the sample queries, unfiltered.
    public var recall: RecallEstimate
    /// Recall@k at `searchWidth` over every (filter, query) pair (nil without filters).
    public var filteredRecall: RecallEstimate?
    public var filters: Int

    /// True when the width meets the target unfiltered and filtered, with 95 % confidence.
    public var met: Bool { recall.lowerBound >= target && (filteredRecall?.lowerBound ?? 1) >= target }

    public init(target: Double, k: Int, searchWidth: Int, recall: RecallEstimate, filteredRecall: RecallEstimate?, filters: Int) {
        self.target = target
        self.k = k
        self.searchWidth = searchWidth
        self.recall = recall
        self.filteredRecall = filteredRecall
        self.filters = filters
    }

    /// As version metrics: `index_recall@K` and `index_recall@K[filtered]` (means; with filters), their
    /// lower bounds (`index_recall@K_lower`, `index_recall@K[filtered]_lower`) and `index_search_width`.
    public var metrics: [String: Double] {
        var metrics = ["index_recall@\(k)": recall.mean, "index_recall@\(k)_lower": recall.lowerBound,
                       "index_search_width": Double(searchWidth)]
        metrics["index_recall@\(k)[filtered]"] = filteredRecall?.mean
        metrics["index_recall@\(k)[filtered]_lower"] = filteredRecall?.lowerBound
        return metrics
    }

    /// One line for logs, e.g. "recall@20 0.9612 (≥ 0.9571 at 95 %; filtered 0.9901 ≥ 0.9885 over 19 filters) at
    /// search width 144 for target 0.95, 500 queries".
    public var summary: String {
        "recall@\(k) \(format(recall.mean)) (≥ \(format(recall.lowerBound)) at 95 %"
            + (filteredRecall.map { "; filtered \(format($0.mean)) ≥ \(format($0.lowerBound)) over \(filters) filters" } ?? "")
            + ") at search width \(searchWidth) for target \(format(target)), \(recall.queries) queries" + (met ? "" : ": NOT MET")
    }

    private func format(_ x: Double) -> String { String(format: "%.4f", x) }
}

extension HNSWIndex {
    /// Chooses the smallest search width in `k...maxWidth` (to within 1/32 of it) whose recall@k against
    /// exact search over the live vectors reaches `target` on `queries` with 95 % confidence (the lower
    /// bound of `RecallEstimate`), unfiltered and over `filters` (each searched with the first
    /// `queriesPerFilter` queries; every filter and query pair is one sample). Recall grows with the width:
    /// doubling from `k` to the first width that meets the target unfiltered, bisection below it, then
    /// the filtered mean at that width (filtered searches cost more, so they run once unless the width
    /// must grow for them). Searches with `threads` threads. When `maxWidth` does not meet the target,
    /// returns it with `met` false.
    public func calibrateSearchWidth(queries: Matrix, k: Int = 20, target: Double = 0.95, filters: [@Sendable (Int64) -> Bool] = [],
                                     queriesPerFilter: Int = 100, maxWidth: Int = 4096, threads: Int = 1) -> SearchWidthCalibration {
        precondition(queries.columns == dimension && k > 0 && maxWidth >= k && threads > 0)
        let exact = exactCopy()
        let filterQueries = Matrix(rows: min(queriesPerFilter, queries.rows), columns: dimension,
                                   storage: Array(queries.storage.prefix(min(queriesPerFilter, queries.rows) * dimension)))
        let truth = exact.search(queries, k: k, filter: nil)
        let filteredTruth = filters.map { exact.search(filterQueries, k: k, filter: $0) }
        func unfiltered(_ width: Int) -> RecallEstimate {
            RecallEstimate(perQuery: Self.recalls(withSearchWidth(width).search(queries, k: k, filter: nil, threads: threads), truth))
        }
        func filtered(_ width: Int) -> RecallEstimate? {
            guard !filters.isEmpty else { return nil }
            let index = withSearchWidth(width)
            return RecallEstimate(perQuery: zip(filters, filteredTruth).flatMap { filter, truth in
                Self.recalls(index.search(filterQueries, k: k, filter: filter, threads: threads), truth)
            })
        }
        /// The smallest width in `low + 1...maxWidth` (`low` known to fail) meeting `meets`, doubling from
        /// `first`, then bisecting; or `maxWidth` when none does.
        func smallest(from first: Int, above low: Int, _ meets: (Int) -> Bool) -> Int {
            var low = low, high = first
            while !meets(high) {
                guard high < maxWidth else { return maxWidth }
                (low, high) = (high, min(maxWidth, 2 * high))
            }
            while high - low > max(1, high / 32) {
                let middle = (low + high) / 2
                if meets(middle) { high = middle } else { low = middle }
            }
            return high
        }
        var width = smallest(from: k, above: k - 1) { unfiltered($0).lowerBound >= target }
        var filteredRecall = filtered(width)
        if let f = filteredRecall, f.lowerBound < target, width < maxWidth {
            width = smallest(from: min(maxWidth, 2 * width), above: width) {
                (filtered($0)?.lowerBound ?? 1) >= target && unfiltered($0).lowerBound >= target
            }
            filteredRecall = filtered(width)
        }
        return SearchWidthCalibration(target: target, k: k, searchWidth: width, recall: unfiltered(width), filteredRecall: filteredRecall,
                                      filters: filters.count)
    }

    /// Recall@k at this index's own search width against exact search over its live vectors, for
    /// `queries` (searched with `threads` threads): what a caller is served now.
    public func measuredRecall(queries: Matrix, k: Int = 20, threads: Int = 1) -> RecallEstimate {
        RecallEstimate(perQuery: Self.recalls(search(queries, k: k, filter: nil, threads: threads),
                                              exactCopy().search(queries, k: k, filter: nil)))
    }

    /// An exact index over this one's live vectors (read at one instant, so listings leaving meanwhile
    /// cannot tear it): the oracle recall is measured against.
    private func exactCopy() -> FlatIndex {
        let (ids, vectors) = liveSnapshot()
        let exact = FlatIndex(dimension: dimension)
        exact.add(ids: ids, vectors: Matrix(rows: ids.count, columns: dimension, storage: vectors))
        return exact
    }

    /// Each query's recall of `found` against `truth`: the share of its true hits found (queries with no
    /// true hit left out).
    public static func recalls(_ found: [[SearchHit]], _ truth: [[SearchHit]]) -> [Double] {
        zip(found, truth).compactMap { f, t in
            t.isEmpty ? nil : Double(Set(f.map(\.id)).intersection(t.map(\.id)).count) / Double(t.count)
        }
    }

    /// `search` over `threads` row chunks of `queries` searched at once, answers in row order.
    public func search(_ queries: Matrix, k: Int, filter: (@Sendable (Int64) -> Bool)?, threads: Int) -> [[SearchHit]] {
        let d = queries.columns
        return Parallel.mapChunks(count: queries.rows, chunkSize: max(1, (queries.rows + threads - 1) / threads), threads: threads) { rows in
            search(Matrix(rows: rows.count, columns: d, storage: Array(queries.storage[rows.lowerBound * d..<rows.upperBound * d])),
                   k: k, filter: filter)
        }.flatMap { $0 }
    }
}
