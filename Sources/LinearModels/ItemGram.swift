import LinearAlgebra
import RummageCore
import Training

/// The dense item–item products that EASE and the graph filter are built on.
enum ItemGram {
    /// Refuses, before anything is allocated, a `model` whose dense item–item work needs more than the
    /// memory `available`.
    static func checkMemory(model: String, items n: Int, needed: Int, available: Int?) throws(TrainingError) {
        guard let available, needed > available else { return }
        throw TrainingError(.invalidData, "\(model) on \(n) items needs \(SystemMemory.describe(needed)) for its item–item matrix; "
                            + "\(SystemMemory.describe(available)) is available: use a model that scales with the data (ials, two-tower) "
                            + "or fewer items")
    }

    /// Σᵤ wᵤ xᵤ xᵤᵀ over the binary user rows xᵤ of `data`, dense row-major (items × items), with user u
    /// weighted by `userWeights[u]` (all 1: XᵀX). Rows are computed in parallel, each from its item's users
    /// (cost Σᵤ |Iᵤ|²); the result does not depend on the thread count.
    static func compute(_ data: InteractionMatrix, userWeights: [Float]? = nil, threads: Int) -> [Float] {
        let n = data.itemCount, byItem = data.byItem, byUser = data.byUser
        var gram = [Float](repeating: 0, count: n * n)
        gram.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let g = buffer.baseAddress!
            Parallel.forEachChunk(count: n, chunkSize: 64, threads: threads) { rows in
                for j in rows {
                    let row = g + j * n
                    for u in byItem.columns(of: j) {
                        let w = userWeights?[Int(u)] ?? 1
                        for i in byUser.columns(of: Int(u)) { row[Int(i)] += w }
                    }
                }
            }
        }
        return gram
    }

    /// `scores` = the sum of `matrix`'s rows (n × n, row-major) of `items`: a user's scores under an
    /// item–item model, from their history.
    static func sumRows(of matrix: [Float], size n: Int, items: ArraySlice<Int32>, into scores: UnsafeMutableBufferPointer<Float>) {
        scores.update(repeating: 0)
        matrix.withUnsafeBufferPointer { m in
            for i in items {
                let row = m.baseAddress! + Int(i) * n
                for j in 0..<n { scores[j] += row[j] }
            }
        }
    }

    /// `rows` (m × n, row-major) times symmetric `matrix` (n × n): m × n, the columns split in blocks
    /// across threads (each block one single-threaded sgemm, so the result does not depend on the count).
    static func multiply(rows: [Float], count m: Int, by matrix: [Float], size n: Int, threads: Int) -> [Float] {
        var product = [Float](repeating: 0, count: m * n)
        let block = 512
        rows.withUnsafeBufferPointer { a in
            matrix.withUnsafeBufferPointer { b in
                product.withUnsafeMutableBufferPointer { c in
                    nonisolated(unsafe) let a = a.baseAddress!, b = b.baseAddress!, c = c.baseAddress!
                    Parallel.forEachChunk(count: (n + block - 1) / block, chunkSize: 1, threads: threads) { blocks in
                        for index in blocks {
                            let start = index * block, width = min(block, n - start)
                            // C[:, start..] = A · B[:, start..], through a width-wide slice of each output row.
                            var slice = [Float](repeating: 0, count: m * width)
                            slice.withUnsafeMutableBufferPointer { s in
                                BLAS.gemm(rows: m, columns: width, inner: n, a, b + start, leadingB: n, into: s.baseAddress!)
                                for r in 0..<m { (c + r * n + start).update(from: s.baseAddress! + r * width, count: width) }
                            }
                        }
                    }
                }
            }
        }
        return product
    }
}
