import Foundation
import LinearAlgebra
import RummageCore
import Training

/// GF-CF, the training-free graph filter of Shen et al., "How Powerful is Graph Convolution for
/// Recommendation?" (CIKM 2021), as in the authors' code: with R̃ = D_U^{-1/2} R D_I^{-1/2} the
/// degree-normalised user–item matrix, a user's scores are
///
///     s_u = r_u R̃ᵀR̃  +  α · r_u D_I^{-1/2} V Vᵀ D_I^{1/2}
///
/// a linear low-pass filter (the normalised item–item matrix P̃ = R̃ᵀR̃) plus an ideal low-pass filter
/// through V, the `lowPass` leading eigenvectors of P̃ (R̃'s leading right singular vectors).
///
/// Training builds P̃ (sparse products, multi-threaded; 4 n² bytes, checked against the memory available
/// before it starts) and finds V by a randomised eigendecomposition (Halko, Martinsson & Tropp 2011:
/// `lowPass + 16` seeded Gaussian vectors, `powerIterations` products with P̃ re-orthonormalised by QR,
/// then the small projected problem by LAPACK's ssyevd), the products with P̃ split across threads in
/// column blocks; the result does not depend on the thread count.
public struct GraphFilterRecommender: Recommender {
    public struct Configuration: Sendable, Equatable {
        /// Leading eigenvectors in the ideal low-pass term (the paper's 256 on Gowalla; 0: linear filter only).
        public var lowPass: Int
        /// α, the ideal low-pass term's weight (the paper's 0.3).
        public var idealWeight: Float
        /// Power iterations of the randomised eigendecomposition.
        public var powerIterations: Int
        /// The defaults (128, 1) were chosen by `rummage tune` on validation splits carved from two training
        /// parts: best on a generated marketplace's, within 0.5 % of the best on NCF ML-1M's (docs/evaluation.md).
        public init(lowPass: Int = 128, idealWeight: Float = 1, powerIterations: Int = 4) {
            precondition(lowPass >= 0 && idealWeight >= 0 && powerIterations >= 0)
            (self.lowPass, self.idealWeight, self.powerIterations) = (lowPass, idealWeight, powerIterations)
        }
    }

    public static let oversampling = 16

    public let configuration: Configuration
    public let userCount: Int
    public let itemCount: Int
    /// P̃ = R̃ᵀR̃, row-major.
    public let itemFilter: [Float]
    /// Vᵀ D_I^{-1/2} and Vᵀ D_I^{1/2}: `lowPass` rows of `itemCount`.
    let lowPassIn: [Float], lowPassOut: [Float]
    /// The eigenvalues of P̃ that V belongs to, largest first.
    public let eigenvalues: [Float]
    private let history: SparseRows

    public static func memoryNeeded(items: Int, lowPass: Int) -> Int { 4 * items * items + 4 * 6 * (lowPass + oversampling) * items }

    public init(training data: InteractionMatrix, configuration: Configuration = .init(), context: TrainingContext = .init(),
                available: Int? = SystemMemory.availableBytes()) throws(TrainingError) {
        let n = data.itemCount, k = min(configuration.lowPass, n)
        let needed = Self.memoryNeeded(items: n, lowPass: k)
        try ItemGram.checkMemory(model: "graph-filter", items: n, needed: needed, available: available)
        self.configuration = configuration
        userCount = data.userCount
        itemCount = n
        history = data.byUser
        let clock = Stopwatch()
        context.progress("graph-filter: \(n) items, \(k) low-pass eigenvectors; item–item matrix \(SystemMemory.describe(4 * n * n))")
        // P̃ = D_I^{-1/2} (Σ_u r_u r_uᵀ / d_u) D_I^{-1/2}; rows and columns without interactions stay zero.
        let userDegree = (0..<data.userCount).map { Float(data.byUser.count(of: $0)) }
        let itemScale = (0..<n).map { i -> Float in
            let d = Float(data.byItem.count(of: i))
            return d > 0 ? 1 / d.squareRoot() : 0
        }
        var filter = ItemGram.compute(data, userWeights: userDegree.map { $0 > 0 ? 1 / $0 : 0 }, threads: context.threads)
        filter.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let p = buffer.baseAddress!
            Parallel.forEachChunk(count: n, chunkSize: 64, threads: context.threads) { rows in
                for i in rows { for j in 0..<n { p[i * n + j] *= itemScale[i] * itemScale[j] } }
            }
        }
        context.progress("graph-filter: normalised item–item matrix in \(formattedSeconds(clock.elapsedSeconds))")
        let (values, vectors) = try Self.leadingEigenvectors(of: filter, size: n, count: k, powerIterations: configuration.powerIterations,
                                                             seed: context.seed, threads: context.threads)
        itemFilter = filter
        eigenvalues = values
        var into = vectors, out = vectors
        for r in 0..<k {
            for i in 0..<n {
                into[r * n + i] *= itemScale[i]
                out[r * n + i] *= itemScale[i] > 0 ? 1 / itemScale[i] : 0
            }
        }
        (lowPassIn, lowPassOut) = (into, out)
        context.progress("graph-filter: trained in \(formattedSeconds(clock.elapsedSeconds))"
                         + (k > 0 ? String(format: " (eigenvalues %.4f … %.4f)", values.first ?? 0, values.last ?? 0) : "")
                         + (SystemMemory.peakResidentBytes().map { "; peak memory \(SystemMemory.describe($0))" } ?? ""))
    }

    /// The `count` leading eigenpairs of symmetric positive semi-definite `matrix` (`size` × `size`),
    /// eigenvectors as rows, by randomised subspace iteration; exact when `count + oversampling ≥ size`.
    static func leadingEigenvectors(of matrix: [Float], size n: Int, count k: Int, powerIterations: Int, seed: UInt64,
                                    threads: Int) throws(TrainingError) -> (values: [Float], vectors: [Float]) {
        guard k > 0 else { return ([], []) }
        let m = min(n, k + oversampling)
        var rng = SeededGenerator(seed: seed)
        var basis = (0..<m * n).map { _ in Float(rng.nextGaussian()) }
        func orthonormalise() throws(TrainingError) {
            let done = basis.withUnsafeMutableBufferPointer { BLAS.orthonormaliseRows(count: m, length: n, $0.baseAddress!) }
            guard done else { throw TrainingError(.invalidData, "graph-filter: QR factorisation failed") }
        }
        try orthonormalise()
        for _ in 0..<powerIterations {
            basis = ItemGram.multiply(rows: basis, count: m, by: matrix, size: n, threads: threads)
            try orthonormalise()
        }
        // The projected problem B = Q P̃ Qᵀ (m × m), its eigenvectors U, then V = Uᵀ Q.
        let projected = ItemGram.multiply(rows: basis, count: m, by: matrix, size: n, threads: threads)
        var small = [Float](repeating: 0, count: m * m)
        projected.withUnsafeBufferPointer { z in
            basis.withUnsafeBufferPointer { q in
                small.withUnsafeMutableBufferPointer { b in
                    BLAS.gemm(rows: m, columns: m, inner: n, z.baseAddress!, q.baseAddress!, transposeB: true, into: b.baseAddress!)
                }
            }
        }
        for i in 0..<m { for j in 0..<i { let mean = (small[i * m + j] + small[j * m + i]) / 2; small[i * m + j] = mean; small[j * m + i] = mean } }
        guard let ascending = small.withUnsafeMutableBufferPointer({ BLAS.symmetricEigen(n: m, $0.baseAddress!) }) else {
            throw TrainingError(.invalidData, "graph-filter: the eigendecomposition did not converge")
        }
        // The k largest: the last rows of `small`, reversed.
        let leading = (0..<k).map { m - 1 - $0 }
        var top = [Float](repeating: 0, count: k * m)
        for (r, j) in leading.enumerated() { for c in 0..<m { top[r * m + c] = small[j * m + c] } }
        var vectors = [Float](repeating: 0, count: k * n)
        top.withUnsafeBufferPointer { u in
            basis.withUnsafeBufferPointer { q in
                vectors.withUnsafeMutableBufferPointer { v in
                    BLAS.gemm(rows: k, columns: n, inner: m, u.baseAddress!, q.baseAddress!, into: v.baseAddress!)
                }
            }
        }
        return (leading.map { ascending[$0] }, vectors)
    }

    public func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(scores.count == itemCount)
        let n = itemCount, k = eigenvalues.count, items = history.columns(of: user.int)
        ItemGram.sumRows(of: itemFilter, size: n, items: items, into: scores)
        guard k > 0, configuration.idealWeight > 0 else { return }
        // a = V D^{-1/2} r_u, then s += α (Vᵀ D^{1/2})ᵀ a.
        var a = [Float](repeating: 0, count: k)
        for r in 0..<k {
            var sum: Float = 0
            for i in items { sum += lowPassIn[r * n + Int(i)] }
            a[r] = sum * configuration.idealWeight
        }
        lowPassOut.withUnsafeBufferPointer { w in
            a.withUnsafeBufferPointer { a in
                BLAS.gemv(transpose: true, rows: k, columns: n, alpha: 1, w.baseAddress!, a.baseAddress!, beta: 1, scores.baseAddress!)
            }
        }
    }
}
