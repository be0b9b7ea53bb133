import RummageCore
import Training

/// Popularity within the user's favourite categories: the reference point for cold-start listings.
///
/// `score(u, i) = share of u's training interactions in i's categories + ε · popularity(i) / max popularity`,
/// with ε = 0.01, so the user's category shares decide and item popularity only orders items within a
/// category. A listing with no interactions yet (cold) has no popularity of its own: without a prior
/// it competes on its category alone; with a `prior` field (e.g. brand) it takes the mean popularity
/// of the trained items that share its first category value and its first prior value.
public struct CategoryPopularityRecommender: Recommender {
    public let userCount: Int
    public let itemCount: Int
    /// Rows users, columns categories: share of the user's history.
    private let shares: SparseRows
    private let categories: SparseRows
    private let popularity: [Float]

    /// `field` is the item feature holding the category (e.g. `category`, `genre`); `prior`, if given,
    /// the feature whose popularity within the category stands in for a cold item's own.
    public init(training data: InteractionMatrix, categories field: CategoricalFeatures.Field,
                prior: CategoricalFeatures.Field? = nil) {
        precondition(field.values.rowCount == data.itemCount && (prior?.values.rowCount ?? data.itemCount) == data.itemCount)
        userCount = data.userCount
        itemCount = data.itemCount
        categories = field.values
        var counts = data.itemPopularity.map(Float.init)
        if let prior {
            // Mean popularity per (category, prior value) over items with interactions.
            func key(_ i: Int) -> Int64? {
                guard let c = field.values.columns(of: i).first, let p = prior.values.columns(of: i).first else { return nil }
                return Int64(c) << 32 | Int64(p)
            }
            var totals: [Int64: (sum: Float, items: Float)] = [:]
            for i in 0..<itemCount where counts[i] > 0 {
                if let k = key(i) { totals[k, default: (0, 0)].sum += counts[i]; totals[k]!.items += 1 }
            }
            for i in 0..<itemCount where counts[i] == 0 {
                if let k = key(i), let t = totals[k] { counts[i] = t.sum / t.items }
            }
        }
        let top = max(1, counts.max() ?? 1)
        popularity = counts.map { 0.01 * $0 / top }
        var rows: [Int32] = [], columns: [Int32] = [], values: [Float] = []
        for u in 0..<data.userCount {
            let history = data.byUser.columns(of: u)
            for i in history {
                for c in field.values.columns(of: Int(i)) {
                    rows.append(Int32(u)); columns.append(c); values.append(1 / Float(history.count))
                }
            }
        }
        shares = SparseRows(rowCount: data.userCount, columnCount: field.vocabulary.count, rows: rows, columns: columns,
                            values: values, duplicates: .sum)
    }

    public func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(scores.count == itemCount)
        var share = [Float](repeating: 0, count: categories.columnCount)
        for k in shares.range(of: user.int) { share[Int(shares.columns[k])] = shares.values[k] }
        for i in 0..<itemCount {
            var s = popularity[i]
            for k in categories.range(of: i) { s += share[Int(categories.columns[k])] }
            scores[i] = s
        }
    }
}
