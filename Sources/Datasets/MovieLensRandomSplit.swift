import Evaluation
import RummageCore

/// A full-ranking split of MovieLens-1M that anyone can rebuild from the shared data
/// (`movielens-1m/ratings_derived.csv.xz`: `user_id,movie_id,item_idx,rating`, no timestamps): every rating
/// is an interaction of user `user_id − 1` with item `item_idx − 1`; each user's interactions are split at
/// random, 80 % to train and 20 % to test (at least one each), with the seeded generator at `seed`, and
/// the test part is ranked against every item the user did not train on (Recall@K, NDCG@K, as LightGCN's
/// code computes them). `rummage export` writes it in the LightGCN format.
public enum MovieLensRandomSplit {
    public static let ratingsNames = ["ratings_derived.csv.xz", "ratings_derived.csv"]
    public static let seed: UInt64 = 2026
    public static let testFraction = 0.2

    public static func load(directory: String, seed: UInt64 = Self.seed) throws(DataError) -> Split {
        let file = try TextFile(path: DataDirectory.find(ratingsNames, in: directory))
        var rows: [[Int32]] = []
        var itemCount = 0
        try file.forEachRecord(delimiter: [0x2C], headerLines: 1, minimumFields: 3) { (line, fields) throws(DataError) in
            guard let u = fields.int(0), u >= 1, u <= Int(Int32.max), let i = fields.int(2), i >= 1, i <= Int(Int32.max) else {
                throw file.error(line: line, "expected user_id,movie_id,item_idx,rating with positive user_id and item_idx")
            }
            while rows.count < u { rows.append([]) }
            rows[u - 1].append(Int32(i - 1))
            itemCount = max(itemCount, i)
        }
        var rng = SeededGenerator(seed: seed)
        var trainUsers: [Int32] = [], trainItems: [Int32] = [], testUsers: [Int32] = [], testItems: [Int32] = []
        for (u, row) in rows.enumerated() {
            var items = Array(Set(row)).sorted()
            // Fisher–Yates, then the first 20 % (at least one, never all) are the test part.
            for k in stride(from: items.count - 1, to: 0, by: -1) { items.swapAt(k, rng.nextInt(below: k + 1)) }
            let test = items.count < 2 ? 0 : min(items.count - 1, max(1, Int((Double(items.count) * testFraction).rounded())))
            for (k, item) in items.enumerated() {
                if k < test { testUsers.append(Int32(u)); testItems.append(item) } else { trainUsers.append(Int32(u)); trainItems.append(item) }
            }
        }
        let train = InteractionMatrix(userCount: rows.count, itemCount: itemCount, users: trainUsers, items: trainItems)
        let heldOut = SparseRows(rowCount: rows.count, columnCount: itemCount, rows: testUsers, columns: testItems)
        return Split(name: "ml1m-random (80/20 per user, seed \(seed))", train: train,
                     evaluation: .fullRanking(FullRankingProtocol(heldOut: heldOut, excluded: train.byUser, cutoffs: [10, 20])))
    }
}
