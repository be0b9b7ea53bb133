import LinearAlgebra
import RummageCore
import Synchronization

/// Exact search: every stored vector is scored (one sgemm per block of queries). The oracle for the
/// approximate indexes, and fine for catalogues up to a few hundred thousand listings.
public final class FlatIndex: VectorIndex {
    private struct Storage {
        var vectors: [Float] = []
        var ids: [Int64] = []
        var slotOfID: [Int64: Int] = [:]
    }

    public let dimension: Int
    private let storage = Mutex(Storage())
    public var isExact: Bool { true }

    public init(dimension: Int) {
        precondition(dimension > 0)
        self.dimension = dimension
    }

    public var count: Int { storage.withLock { $0.ids.count } }

    public func contains(_ id: Int64) -> Bool { storage.withLock { $0.slotOfID[id] != nil } }

    public var allIDs: [Int64] { storage.withLock { $0.ids } }

    public func add(ids: [Int64], vectors: Matrix) {
        precondition(vectors.rows == ids.count && vectors.columns == dimension)
        let d = dimension
        storage.withLock { s in
            for (r, id) in ids.enumerated() {
                if let slot = s.slotOfID[id] {
                    s.vectors.replaceSubrange(slot * d..<(slot + 1) * d, with: vectors.row(r))
                } else {
                    s.slotOfID[id] = s.ids.count
                    s.ids.append(id)
                    s.vectors.append(contentsOf: vectors.row(r))
                }
            }
        }
    }

    /// Removes by moving the last vector into the freed slot.
    public func remove(ids: [Int64]) {
        let d = dimension
        storage.withLock { s in
            for id in ids {
                guard let slot = s.slotOfID.removeValue(forKey: id) else { continue }
                let last = s.ids.count - 1
                if slot != last {
                    let moved = s.ids[last]
                    s.ids[slot] = moved
                    s.slotOfID[moved] = slot
                    for f in 0..<d { s.vectors[slot * d + f] = s.vectors[last * d + f] }
                }
                s.ids.removeLast()
                s.vectors.removeLast(d)
            }
        }
    }

    public func search(_ queries: Matrix, k: Int, filter: (@Sendable (Int64) -> Bool)?) -> [[SearchHit]] {
        precondition(queries.columns == dimension && k > 0)
        return storage.withLock { s in
            let n = s.ids.count
            guard n > 0 else { return Array(repeating: [], count: queries.rows) }
            var scores = [Float](repeating: 0, count: n)
            return (0..<queries.rows).map { q in
                s.vectors.withUnsafeBufferPointer { v in
                    queries.storage.withUnsafeBufferPointer { query in
                        scores.withUnsafeMutableBufferPointer { out in
                            BLAS.gemv(rows: n, columns: dimension, v.baseAddress!, query.baseAddress! + q * dimension,
                                      out.baseAddress!)
                        }
                    }
                }
                if let filter { for i in 0..<n where !filter(s.ids[i]) { scores[i] = -.infinity } }
                return TopK.select(scores, k: k).map { SearchHit(id: s.ids[Int($0.index)], score: $0.score) }
            }
        }
    }

    /// Every id with its vector, in slot order (for saving and rebuilding other indexes).
    public var contents: (ids: [Int64], vectors: Matrix) {
        storage.withLock { ($0.ids, Matrix(rows: $0.ids.count, columns: dimension, storage: $0.vectors)) }
    }
}
