import CVectorKernels
import LinearAlgebra
import RummageCore

/// One search hit: the vector's id and its inner product with the query.
public struct SearchHit: Sendable, Equatable {
    public var id: Int64
    public var score: Float

    public init(id: Int64, score: Float) {
        self.id = id
        self.score = score
    }
}

/// A maximum-inner-product index over fixed-width vectors (cosine for unit vectors), with live adds and
/// removes and search-time filtering.
///
/// Contract shared by every implementation (and its tests):
/// - `add` inserts or replaces: adding an id that is present replaces its vector.
/// - `remove` makes ids unsearchable at once; removing an absent id is a no-op.
/// - `search` returns, per query, up to `k` hits best first, only ids that are present and for which
///   `filter` (if given) returns true. Exact indexes return the true top k; approximate ones trade recall
///   for speed (see `isExact`).
public protocol VectorIndex: AnyObject, Sendable {
    var dimension: Int { get }
    /// Number of searchable vectors.
    var count: Int { get }
    /// True when `search` returns exactly the top k.
    var isExact: Bool { get }
    func add(ids: [Int64], vectors: Matrix)
    func remove(ids: [Int64])
    func search(_ queries: Matrix, k: Int, filter: (@Sendable (Int64) -> Bool)?) -> [[SearchHit]]
    func contains(_ id: Int64) -> Bool
    /// Every searchable id.
    var allIDs: [Int64] { get }
}

/// An error from building, saving or loading an index.
public struct VectorSearchError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Dot product of two `d`-float vectors (the C kernel: AVX2 + FMA where the CPU has them).
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ d: Int) -> Float { rummage_dot(a, b, d) }

extension VectorIndex {
    /// Top-`k` answers of up to `sampleSize` rows of `queries`, spread evenly over them: their scores, and
    /// the distinct ids answered. For load-time score baselines and reports.
    public func sampledAnswers(_ queries: Matrix, k: Int = 20, sampleSize: Int = 500) -> (scores: [Float], ids: Set<Int64>) {
        guard queries.rows > 0, count > 0 else { return ([], []) }
        let step = max(1, queries.rows / sampleSize)
        let sample = stride(from: 0, to: queries.rows, by: step).flatMap { queries.row($0) }
        let found = search(Matrix(rows: sample.count / queries.columns, columns: queries.columns, storage: sample), k: k, filter: nil)
        return (found.flatMap { $0.map(\.score) }, Set(found.flatMap { $0.map(\.id) }))
    }
}
