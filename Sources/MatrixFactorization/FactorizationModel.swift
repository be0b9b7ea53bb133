import LinearAlgebra
import RummageCore
import Training

/// A trained matrix factorisation: `score(u, i) = x_u · y_i + b_i`.
///
/// Produced by `ImplicitALS` (no item bias: `itemBias` is all zeros) and `BPR`. Scoring all items is
/// one `sgemv`; similar items are ranked by cosine between item factors.
public struct FactorizationModel: SimilarItemsRecommender, PersistentRecommender, EmbeddingModel {
    public static let artifactKind = "matrix-factorization"

    /// Which trainer made it: `ials` or `bpr`.
    public let algorithm: String
    /// `users × factors`.
    public let userFactors: Matrix
    /// `items × factors`.
    public let itemFactors: Matrix
    /// One bias per item (zeros when the algorithm has none).
    public let itemBias: [Float]
    /// `1 / ‖y_i‖` (0 for a zero vector), for cosine similarity.
    private let inverseItemNorms: [Float]

    public var userEmbeddings: Matrix { userFactors }
    public var itemEmbeddings: Matrix { itemFactors }
    public var userCount: Int { userFactors.rows }
    public var itemCount: Int { itemFactors.rows }
    public var factors: Int { itemFactors.columns }

    public init(algorithm: String, userFactors: Matrix, itemFactors: Matrix, itemBias: [Float]? = nil) {
        precondition(userFactors.columns == itemFactors.columns, "user and item factors differ in width")
        precondition(itemBias == nil || itemBias!.count == itemFactors.rows)
        self.algorithm = algorithm
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        self.itemBias = itemBias ?? [Float](repeating: 0, count: itemFactors.rows)
        inverseItemNorms = (0..<itemFactors.rows).map { i in
            let norm = itemFactors.row(i).reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? 1 / norm : 0
        }
    }

    public func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(scores.count == itemCount)
        _ = scores.initialize(from: itemBias)
        itemFactors.storage.withUnsafeBufferPointer { y in
            userFactors.storage.withUnsafeBufferPointer { x in
                BLAS.gemv(rows: itemCount, columns: factors, y.baseAddress!, x.baseAddress! + user.int * factors,
                          beta: 1, scores.baseAddress!)
            }
        }
    }

    public func scores(for user: UserIndex, items: [ItemIndex]) -> [Float] {
        let k = factors
        return userFactors.storage.withUnsafeBufferPointer { x in
            itemFactors.storage.withUnsafeBufferPointer { y in
                let xu = x.baseAddress! + user.int * k
                return items.map { item in
                    let yi = y.baseAddress! + item.int * k
                    var s: Float = 0
                    for f in 0..<k { s += xu[f] * yi[f] }
                    return s + itemBias[item.int]
                }
            }
        }
    }

    /// Items ranked by cosine similarity of their factors to `item`'s.
    public func similarItems(to item: ItemIndex, k: Int) -> [ScoredIndex] {
        var scores = [Float](repeating: 0, count: itemCount)
        itemFactors.storage.withUnsafeBufferPointer { y in
            scores.withUnsafeMutableBufferPointer { s in
                BLAS.gemv(rows: itemCount, columns: factors, y.baseAddress!, y.baseAddress! + item.int * factors, s.baseAddress!)
            }
        }
        let selfNorm = inverseItemNorms[item.int]
        for i in 0..<itemCount { scores[i] *= inverseItemNorms[i] * selfNorm }
        scores[item.int] = -.infinity
        return TopK.select(scores, k: k)
    }

    public func write(to writer: inout ArtifactWriter) {
        writer.append(algorithm)
        writer.append(floats: userFactors.storage, shape: [userFactors.rows, userFactors.columns])
        writer.append(floats: itemFactors.storage, shape: [itemFactors.rows, itemFactors.columns])
        writer.append(floats: itemBias, shape: [itemBias.count])
    }

    public init(reading reader: inout ArtifactReader) throws(DataError) {
        let algorithm = try reader.string()
        let users = try reader.floats(rank: 2)
        let items = try reader.floats(rank: 2)
        let bias = try reader.floats(rank: 1)
        guard users.shape[1] == items.shape[1], bias.shape[0] == items.shape[0] else {
            throw DataError(.corrupt, "inconsistent shapes: users \(users.shape), items \(items.shape), bias \(bias.shape)",
                            path: reader.path)
        }
        self.init(algorithm: algorithm,
                  userFactors: Matrix(rows: users.shape[0], columns: users.shape[1], storage: users.values),
                  itemFactors: Matrix(rows: items.shape[0], columns: items.shape[1], storage: items.values),
                  itemBias: bias.values)
    }
}
