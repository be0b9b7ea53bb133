import LinearAlgebra
import RummageCore
import Training

/// Item-based nearest neighbours (ItemKNN CF, as in Dacrema et al.'s reference code).
///
/// Similarity is cosine with shrinkage over binary interactions:
/// `s(i, j) = |U_i ∩ U_j| / (sqrt|U_i| · sqrt|U_j| + shrink)`, with `s(i, i) = 0`. For each item `j`
/// only its `neighbours` most similar items `i` are kept (ties: lower index). A user's score for `j`
/// is the sum of `s(i, j)` over the items `i` in their history.
///
/// Training is sparse and multi-threaded: for each item, co-occurrence counts are accumulated over
/// its users' histories in a dense per-thread buffer (cost Σ_u |I_u|²).
public struct ItemKNNRecommender: SimilarItemsRecommender {
    public struct Configuration: Sendable, Equatable {
        /// Neighbours kept per item.
        public var neighbours: Int
        /// Shrinkage added to the cosine denominator; damps similarities backed by few users.
        public var shrink: Float
        /// The defaults were chosen by `rummage tune` on a validation split of NCF ML-1M's training part.
        public init(neighbours: Int = 50, shrink: Float = 0) {
            precondition(neighbours > 0 && shrink >= 0)
            self.neighbours = neighbours
            self.shrink = shrink
        }
    }

    public let configuration: Configuration
    public let userCount: Int
    public let itemCount: Int
    /// Row `i`: the items `j` that kept `i` as a neighbour, with `s(i, j)`.
    public let similarity: SparseRows
    /// Training histories (binary), used at scoring time.
    private let history: SparseRows

    public init(training data: InteractionMatrix, configuration: Configuration = .init(),
                context: TrainingContext = .init()) {
        self.configuration = configuration
        userCount = data.userCount
        itemCount = data.itemCount
        history = data.byUser
        let n = data.itemCount
        let byItem = data.byItem, byUser = data.byUser
        let norms = (0..<n).map { Float(byItem.count(of: $0)).squareRoot() }
        let k = configuration.neighbours, shrink = configuration.shrink
        // For each target item j: the top-k source items i by s(i, j).
        let columns = Parallel.mapChunks(count: n, chunkSize: 64, threads: context.threads) { range in
            var counts = [Float](repeating: 0, count: n)
            var touched: [Int32] = []
            var kept: [[ScoredIndex]] = []
            for j in range {
                for u in byItem.columns(of: j) {
                    for i in byUser.columns(of: Int(u)) {
                        if counts[Int(i)] == 0 { touched.append(i) }
                        counts[Int(i)] += 1
                    }
                }
                counts[j] = 0  // no self-similarity
                var candidates: [ScoredIndex] = []
                candidates.reserveCapacity(touched.count)
                for i in touched where counts[Int(i)] > 0 {
                    let s = counts[Int(i)] / (norms[Int(i)] * norms[j] + shrink + 1e-6)
                    candidates.append(ScoredIndex(index: i, score: s))
                }
                for i in touched { counts[Int(i)] = 0 }
                touched.removeAll(keepingCapacity: true)
                if candidates.count > k {
                    candidates = Self.strongest(candidates, k: k)
                }
                kept.append(candidates)
            }
            return kept
        }.flatMap { $0 }
        // Transpose column lists (j → i) into rows (i → j) for fast scoring from a history.
        var rows: [Int32] = [], cols: [Int32] = [], vals: [Float] = []
        for (j, list) in columns.enumerated() {
            for entry in list {
                rows.append(entry.index); cols.append(Int32(j)); vals.append(entry.score)
            }
        }
        similarity = SparseRows(rowCount: n, columnCount: n, rows: rows, columns: cols, values: vals)
        context.progress("itemknn: \(similarity.nonZeroCount) similarities kept for \(n) items")
    }

    static func strongest(_ candidates: [ScoredIndex], k: Int) -> [ScoredIndex] {
        return Array(candidates.sorted(by: TopK.ranksAbove).prefix(k))
    }

    public func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(scores.count == itemCount)
        scores.update(repeating: 0)
        for i in history.columns(of: user.int) {
            for k in similarity.range(of: Int(i)) {
                scores[Int(similarity.columns[k])] += similarity.values[k]
            }
        }
    }

    /// The `k` items most similar to `item` among those that kept it as a neighbour (the cosine is
    /// symmetric, so these are the items whose similarity to `item` survived pruning).
    public func similarItems(to item: ItemIndex, k: Int) -> [ScoredIndex] {
        let range = similarity.range(of: item.int)
        let entries = zip(similarity.columns[range], similarity.values[range]).map { ScoredIndex(index: $0, score: $1) }
        return Array(entries.sorted(by: TopK.ranksAbove).prefix(k))
    }
}
