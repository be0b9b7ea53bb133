import LinearAlgebra
import RummageCore

/// Sampled softmax over in-batch negatives (and optional extra sampled negatives), with the
/// sampling-bias ("logQ") correction of Yi et al., RecSys 2019.
///
/// For query rows `u_b` and candidate rows `v_c` (the batch's positives first, then extra negatives):
/// `logit[b][c] = u_b·v_c / τ − log q_c`, where `q_c` is the probability that candidate `c` is sampled.
/// Row `b`'s positive is column `b`. Candidates with the same key as the positive (the same item
/// appearing twice in a batch) are masked out of that row. Loss is the mean of
/// `−log softmax(logit[b])[b]`. Rows run in parallel with a vectorised exp.
public struct InBatchSoftmax: Sendable {
    public var temperature: Float
    public var threads: Int

    /// Rows per block of work. Fixed, not derived from the thread count: sgemm's rounding depends on
    /// the shape of each call, so equal blocks give identical results for any number of threads. A block
    /// of logits (`blockRows × candidates` floats) stays in cache between its sgemm and its exponentials.
    static let blockRows = 256

    public init(temperature: Float, threads: Int = 1) {
        precondition(temperature > 0 && threads > 0)
        self.temperature = temperature
        self.threads = threads
    }

    public struct Result: Sendable {
        public var loss: Float
        /// Gradient with respect to the query rows (`B × d`).
        public var queryGradient: Matrix
        /// Gradient with respect to the candidate rows (`C × d`).
        public var candidateGradient: Matrix
    }

    /// Precondition: `candidates.rows >= queries.rows`, `logQ` and `keys` have one entry per candidate.
    ///
    /// Work is split into fixed row blocks that workers claim in turn, each computing its block of logits
    /// with a single-threaded sgemm and its exponentials straight after (the block is still in cache).
    ///
    /// One pass over the logits: each row is shifted by an upper bound of its logits instead of their
    /// maximum (Cauchy–Schwarz: `u·v ≤ ‖u‖ max‖v‖`), so no max pass is needed, and the division by the
    /// row sum is folded into the gradient sgemms (`P = diag(1/Σ) E`). A row whose bound is so loose
    /// that its exponentials could underflow is recomputed with its exact maximum.
    public func callAsFunction(queries: Matrix, candidates: Matrix, logQ: [Float], keys: [Int32]) -> Result {
        let b = queries.rows, c = candidates.rows, d = queries.columns
        precondition(c >= b && candidates.columns == d && logQ.count == c && keys.count == c)
        let inverseTemperature = 1 / temperature
        let gradientScale = inverseTemperature / Float(b)
        let masked = Self.collisions(keys: keys, queries: b)
        let maxCandidateNorm = Self.rowNorms(candidates).max() ?? 0
        let maxNegativeLogQ = logQ.lazy.map { -$0 }.max() ?? 0
        // Row b's logits are at most shift[b]; exponentials are taken of (logit − shift[b]) ≤ 0.
        let shifts = Self.rowNorms(queries).map { inverseTemperature * $0 * maxCandidateNorm + maxNegativeLogQ }
        var exponentials = [Float](unsafeUninitializedCapacity: b * c) { _, count in count = b * c }
        var dQueries = Matrix(rows: b, columns: d)
        // Per row: 1 / Σ_c exp(logit − shift), then the row's loss.
        var inverseSums = [Float](repeating: 0, count: b), losses = [Float](repeating: 0, count: b)
        exponentials.withUnsafeMutableBufferPointer { l in
            dQueries.storage.withUnsafeMutableBufferPointer { dq in
                queries.storage.withUnsafeBufferPointer { q in
                    candidates.storage.withUnsafeBufferPointer { v in
                        inverseSums.withUnsafeMutableBufferPointer { inverseSums in
                            losses.withUnsafeMutableBufferPointer { losses in
                                logQ.withUnsafeBufferPointer { logQ in
                                    // Each worker owns rows [lo, hi) of every per-row buffer.
                                    nonisolated(unsafe) let l = l.baseAddress!, dq = dq.baseAddress!
                                    nonisolated(unsafe) let q = q.baseAddress!, v = v.baseAddress!
                                    nonisolated(unsafe) let inverseSums = inverseSums.baseAddress!, losses = losses.baseAddress!
                                    nonisolated(unsafe) let logQ = logQ.baseAddress!
                                    Parallel.forEachChunk(count: b, chunkSize: Self.blockRows, threads: threads) { rows in
                                        let n = rows.count, block = l + rows.lowerBound * c
                                        BLAS.gemm(rows: n, columns: c, inner: d, q + rows.lowerBound * d, v, transposeB: true, into: block)
                                        for row in rows {
                                            let (sum, loss) = Self.exponentiateRow(
                                                l + row * c, count: c, positive: row, scale: inverseTemperature, logQ: logQ,
                                                shift: shifts[row], masked: masked[row], query: q + row * d, candidates: v, d: d)
                                            inverseSums[row] = 1 / sum
                                            losses[row] = loss
                                        }
                                        // dQueries[b] = (Σ_c P[b,c] v_c − v_b) / (B τ), with P[b,c] = E[b,c] / Σ_b.
                                        BLAS.gemm(rows: n, columns: d, inner: c, block, v, into: dq + rows.lowerBound * d)
                                        for row in rows {
                                            let g = dq + row * d, positive = v + row * d, s = inverseSums[row]
                                            for f in 0..<d { g[f] = gradientScale * (s * g[f] - positive[f]) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // dCandidates[c] = (Σ_b P[b,c] u_b − [c < B] u_c) / (B τ) = Eᵀ (diag(1/Σ) Q) / (B τ) − …,
        // split over candidate rows.
        var scaledQueries = queries
        for row in 0..<b {
            let s = inverseSums[row]
            for f in 0..<d { scaledQueries.storage[row * d + f] *= s }
        }
        var dCandidates = Matrix(rows: c, columns: d)
        exponentials.withUnsafeBufferPointer { l in
            dCandidates.storage.withUnsafeMutableBufferPointer { dv in
                scaledQueries.storage.withUnsafeBufferPointer { sq in
                    queries.storage.withUnsafeBufferPointer { q in
                        nonisolated(unsafe) let l = l.baseAddress!, dv = dv.baseAddress!
                        nonisolated(unsafe) let sq = sq.baseAddress!, q = q.baseAddress!
                        Parallel.forEachChunk(count: c, chunkSize: Self.blockRows, threads: threads) { cols in
                            BLAS.gemm(rows: cols.count, columns: d, inner: b, alpha: gradientScale, l + cols.lowerBound,
                                      leadingA: c, transposeA: true, sq, into: dv + cols.lowerBound * d)
                            for column in cols where column < b {
                                let g = dv + column * d, query = q + column * d
                                for f in 0..<d { g[f] -= gradientScale * query[f] }
                            }
                        }
                    }
                }
            }
        }
        return Result(loss: losses.reduce(0, +) / Float(b), queryGradient: dQueries, candidateGradient: dCandidates)
    }

    /// For each query row, the other candidate columns with the same key as its positive (usually none).
    static func collisions(keys: [Int32], queries: Int) -> [Int: [Int]] {
        var columnsOfKey: [Int32: [Int]] = [:]
        for (column, key) in keys.enumerated() { columnsOfKey[key, default: []].append(column) }
        var masked: [Int: [Int]] = [:]
        for row in 0..<queries {
            if let columns = columnsOfKey[keys[row]], columns.count > 1 { masked[row] = columns.filter { $0 != row } }
        }
        return masked
    }

    static func rowNorms(_ m: Matrix) -> [Float] {
        m.storage.withUnsafeBufferPointer { x in
            (0..<m.rows).map { r in
                var s: Float = 0
                for f in 0..<m.columns { s += x[r * m.columns + f] * x[r * m.columns + f] }
                return s.squareRoot()
            }
        }
    }

    /// Replaces one row of raw scores `u·v_c` by `E[c] = exp(scale·u·v_c − logQ[c] − shift)` (0 for
    /// `masked` columns) and returns `Σ_c E[c]` and the row's loss `−log(E[positive] / Σ)`.
    ///
    /// `shift` must bound the row's logits from above. If it is so loose that the largest exponential
    /// could lose precision (`Σ < count · 1e-20`), the raw scores are recomputed from `query` and
    /// `candidates` and the row is redone with its exact maximum as the shift.
    @inline(__always)
    static func exponentiateRow(_ row: UnsafeMutablePointer<Float>, count c: Int, positive: Int, scale: Float,
                                logQ: UnsafePointer<Float>, shift: Float, masked: [Int]?,
                                query: UnsafePointer<Float>, candidates: UnsafePointer<Float>, d: Int) -> (sum: Float, loss: Float) {
        let positiveLogit = row[positive] * scale - logQ[positive]
        var sum = exponentiate(row, count: c, scale: scale, logQ: logQ, shift: shift, masked: masked)
        var usedShift = shift
        if !(sum >= Float(c) * 1e-20) {
            BLAS.gemv(rows: c, columns: d, candidates, query, row)
            var maximum = -Float.greatestFiniteMagnitude
            for j in 0..<c where masked?.contains(j) != true { maximum = Swift.max(maximum, row[j] * scale - logQ[j]) }
            usedShift = maximum
            sum = exponentiate(row, count: c, scale: scale, logQ: logQ, shift: maximum, masked: masked)
        }
        return (sum, log(sum) - (positiveLogit - usedShift))
    }

    /// `row[j] = exp(row[j]·scale − logQ[j] − shift)` with masked columns 0; returns the sum.
    /// Precondition: `shift` bounds `row[j]·scale − logQ[j]` from above (up to rounding).
    @inline(__always)
    private static func exponentiate(_ row: UnsafeMutablePointer<Float>, count c: Int, scale: Float,
                                     logQ: UnsafePointer<Float>, shift: Float, masked: [Int]?) -> Float {
        // Exponents first, clamped to exp's range in a plain loop (vectorised, unlike per-lane clamps).
        let lowest = FastMath.minimumExponent
        for j in 0..<c {
            let x = row[j] * scale - logQ[j] - shift
            row[j] = x < lowest ? lowest : (x > 0 ? 0 : x)
        }
        var j = 0
        var acc = SIMD8<Float>()
        while j + 8 <= c {
            let e = FastMath.exp(inRange: UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self))
            UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: SIMD8<Float>.self)
            acc += e
            j += 8
        }
        var sum = acc.sum()
        while j < c {
            row[j] = FastMath.exp(row[j])
            sum += row[j]
            j += 1
        }
        if let masked {
            for column in masked {
                sum -= row[column]
                row[column] = 0
            }
        }
        return sum
    }
}

#if canImport(Glibc)
import Glibc
#endif
