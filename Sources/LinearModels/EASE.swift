import Foundation
import LinearAlgebra
import RummageCore
import Training

/// EASEᴿ (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): an item–item weight
/// matrix B with a zero diagonal that best reconstructs the binary user–item matrix X from itself,
/// min ‖X − XB‖² + λ‖B‖², in closed form: P = (XᵀX + λI)⁻¹, B = I − P · diag(1 / diag P), i.e.
/// B[i][j] = −P[i][j] / P[j][j] off the diagonal. A user's score for j is Σ over their items i of B[i][j].
///
/// Training is the Gram matrix XᵀX (sparse, multi-threaded over items: cost Σᵤ |Iᵤ|²) and one Cholesky
/// inverse through LAPACK, on the context's threads from 4,096 items (`BLAS.invertPositiveDefinite`;
/// single precision: the λ added to the diagonal keeps the matrix well conditioned; `EASETests` compares
/// with a double-precision reference). Memory: one items × items matrix of floats,
/// 4 n² bytes (6.7 GB at 41,000 items), checked against the memory available before it starts.
public struct EASERecommender: SimilarItemsRecommender {
    public struct Configuration: Sendable, Equatable {
        /// λ, the L2 penalty on B. The default was chosen by `rummage tune` on a validation split carved
        /// from NCF ML-1M's training part (docs/models.md); Steck's tuned values were 200 to 1,000.
        public var l2: Float
        public init(l2: Float = 1_000) {
            precondition(l2 > 0)
            self.l2 = l2
        }
    }

    public let configuration: Configuration
    public let userCount: Int
    public let itemCount: Int
    /// B, row-major: row i holds item i's weights towards every item j.
    public let weights: [Float]
    /// Training histories (binary), used at scoring time.
    private let history: SparseRows

    /// The bytes training needs besides the data: the items × items matrix.
    public static func memoryNeeded(items: Int) -> Int { 4 * items * items }

    /// Trains on `data`; throws before allocating when the matrix would not fit in `available` bytes
    /// (default: the memory the system says is available).
    public init(training data: InteractionMatrix, configuration: Configuration = .init(), context: TrainingContext = .init(),
                available: Int? = SystemMemory.availableBytes()) throws(TrainingError) {
        let n = data.itemCount, needed = Self.memoryNeeded(items: n)
        try ItemGram.checkMemory(model: "ease", items: n, needed: needed, available: available)
        self.configuration = configuration
        userCount = data.userCount
        itemCount = n
        history = data.byUser
        let clock = Stopwatch()
        context.progress("ease: \(n) items; item–item matrix \(SystemMemory.describe(needed))")
        var matrix = ItemGram.compute(data, threads: context.threads)
        for i in 0..<n { matrix[i * n + i] += configuration.l2 }
        context.progress("ease: Gram matrix in \(formattedSeconds(clock.elapsedSeconds)); inverting")
        let inverted = matrix.withUnsafeMutableBufferPointer { BLAS.invertPositiveDefinite(n: n, $0.baseAddress!, threads: context.threads) }
        guard inverted else { throw TrainingError(.invalidData, "ease: XᵀX + λI is not positive definite (λ = \(configuration.l2))") }
        // B[i][j] = −P[i][j] / P[j][j], zero diagonal.
        let diagonal = (0..<n).map { matrix[$0 * n + $0] }
        matrix.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let b = buffer.baseAddress!
            Parallel.forEachChunk(count: n, chunkSize: 64, threads: context.threads) { rows in
                for i in rows {
                    for j in 0..<n { b[i * n + j] = -b[i * n + j] / diagonal[j] }
                    b[i * n + i] = 0
                }
            }
        }
        weights = matrix
        context.progress("ease: trained in \(formattedSeconds(clock.elapsedSeconds))"
                         + (SystemMemory.peakResidentBytes().map { "; peak memory \(SystemMemory.describe($0))" } ?? ""))
    }

    public func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(scores.count == itemCount)
        ItemGram.sumRows(of: weights, size: itemCount, items: history.columns(of: user.int), into: scores)
    }

    /// The `k` items with the largest weights from `item` (B's row).
    public func similarItems(to item: ItemIndex, k: Int) -> [ScoredIndex] {
        var row = Array(weights[item.int * itemCount..<(item.int + 1) * itemCount])
        row[item.int] = -.infinity
        return TopK.select(row, k: k)
    }
}
