import LinearAlgebra
import RummageCore

/// A batch of variable-length id lists ("bags"): bag `b` is `ids[offsets[b]..<offsets[b+1]]`.
public struct Bags: Sendable, Equatable {
    public var offsets: [Int]
    public var ids: [Int32]

    public init(offsets: [Int], ids: [Int32]) {
        precondition(offsets.first == 0 && offsets.last == ids.count)
        self.offsets = offsets
        self.ids = ids
    }

    /// One id per bag.
    public init(single ids: [Int32]) {
        self.offsets = Array(0...ids.count)
        self.ids = ids
    }

    public var count: Int { offsets.count - 1 }
}

/// Mean of embedding rows per bag (`torch.nn.EmbeddingBag(mode="mean")`); an empty bag gives zeros.
/// A single-id bag is a plain embedding lookup. Backward adds `dy / |bag|` to each row's sparse gradient.
public final class EmbeddingBagLayer: @unchecked Sendable {
    // @unchecked because: per-training-loop cache, as DenseLayer.
    public let table: EmbeddingTable
    private var bags = Bags(offsets: [0], ids: [])

    public init(table: EmbeddingTable) { self.table = table }

    public func forward(_ bags: Bags) -> Matrix {
        self.bags = bags
        return apply(bags)
    }

    /// Inference without caching.
    public func apply(_ bags: Bags) -> Matrix {
        let d = table.dimension
        var y = Matrix(rows: bags.count, columns: d)
        table.weights.withUnsafeBufferPointer { w in
            y.storage.withUnsafeMutableBufferPointer { out in
                for b in 0..<bags.count {
                    let range = bags.offsets[b]..<bags.offsets[b + 1]
                    guard !range.isEmpty else { continue }
                    let row = out.baseAddress! + b * d
                    for k in range {
                        let id = Int(bags.ids[k])
                        precondition(id >= 0 && id < table.rows, "embedding id \(id) outside 0..<\(table.rows)")
                        let source = w.baseAddress! + id * d
                        for f in 0..<d { row[f] += source[f] }
                    }
                    let inverse = 1 / Float(range.count)
                    for f in 0..<d { row[f] *= inverse }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Matrix) {
        precondition(dy.rows == bags.count && dy.columns == table.dimension)
        dy.storage.withUnsafeBufferPointer { g in
            for b in 0..<bags.count {
                let range = bags.offsets[b]..<bags.offsets[b + 1]
                guard !range.isEmpty else { continue }
                let scale = 1 / Float(range.count)
                for k in range {
                    table.accumulate(row: Int(bags.ids[k]), scale: scale, vector: g.baseAddress! + b * table.dimension)
                }
            }
        }
    }
}
