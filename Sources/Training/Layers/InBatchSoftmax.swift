import LinearAlgebra
import RummageCore

/// Sampled softmax over in-batch negatives (and optional extra sampled negatives), with the
/// sampling-bias ("logQ") correction of Yi et al., RecSys 2019.
///
/// For query rows `u_b` and candidate rows `v_c` (the batch's positives first, then extra negatives):
/// `logit[b][c] = u_b·v_c / τ − log q_c`, where `q_c` is the probability that candidate `c` is sampled.
/// Row `b`'s positive is column `b`. Candidates with the same key as the positive (the same item
/// appearing twice in a batch) are masked out of that row. Loss is the mean of
/// `−log softmax(logit[b])[b]`. The per-row softmax runs in parallel with a vectorised exp.
public struct InBatchSoftmax: Sendable {
    public var temperature: Float
    public var threads: Int

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
    /// Work is split into row blocks, one per worker, each computing its block of logits with a
    /// single-threaded sgemm and its softmax straight after (the block is still in cache); OpenBLAS is
    /// pinned to one thread meanwhile so its idle threads do not compete with the workers.
    public func callAsFunction(queries: Matrix, candidates: Matrix, logQ: [Float], keys: [Int32]) -> Result {
        let b = queries.rows, c = candidates.rows, d = queries.columns
        precondition(c >= b && candidates.columns == d && logQ.count == c && keys.count == c)
        let savedThreads = BLAS.threadCount
        BLAS.threadCount = 1
        defer { BLAS.threadCount = savedThreads }
        let inverseTemperature = 1 / temperature
        let gradientScale = inverseTemperature / Float(b)
        let blockRows = (b + threads - 1) / threads
        let masked = Self.collisions(keys: keys, queries: b)
        var logits = [Float](repeating: 0, count: b * c)
        var dQueries = Matrix(rows: b, columns: d)
        let losses = logits.withUnsafeMutableBufferPointer { l in
            dQueries.storage.withUnsafeMutableBufferPointer { dq in
                queries.storage.withUnsafeBufferPointer { q in
                    candidates.storage.withUnsafeBufferPointer { v in
                        // Each worker owns rows [lo, hi) of logits and dQueries.
                        nonisolated(unsafe) let l = l.baseAddress!, dq = dq.baseAddress!
                        nonisolated(unsafe) let q = q.baseAddress!, v = v.baseAddress!
                        return Parallel.mapChunks(count: b, chunkSize: blockRows, threads: threads) { rows in
                            let n = rows.count, block = l + rows.lowerBound * c
                            BLAS.gemm(rows: n, columns: c, inner: d, q + rows.lowerBound * d, v, transposeB: true, into: block)
                            var total: Float = 0
                            logQ.withUnsafeBufferPointer { logQ in
                                for row in rows {
                                    total += Self.softmaxRow(l + row * c, count: c, positive: row, scale: inverseTemperature,
                                                             logQ: logQ.baseAddress!, masked: masked[row])
                                }
                            }
                            // dQueries[rows] = (p − onehot) V / (B τ)
                            BLAS.gemm(rows: n, columns: d, inner: c, alpha: gradientScale, block, v, into: dq + rows.lowerBound * d)
                            return total
                        }
                    }
                }
            }
        }
        // dCandidates = (p − onehot)ᵀ Q / (B τ), split over candidate rows.
        var dCandidates = Matrix(rows: c, columns: d)
        let candidateBlock = (c + threads - 1) / threads
        logits.withUnsafeBufferPointer { l in
            dCandidates.storage.withUnsafeMutableBufferPointer { dv in
                queries.storage.withUnsafeBufferPointer { q in
                    nonisolated(unsafe) let l = l.baseAddress!, dv = dv.baseAddress!, q = q.baseAddress!
                    Parallel.forEachChunk(count: c, chunkSize: candidateBlock, threads: threads) { cols in
                        BLAS.gemm(rows: cols.count, columns: d, inner: b, alpha: gradientScale, l + cols.lowerBound,
                                  leadingA: c, transposeA: true, q, into: dv + cols.lowerBound * d)
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

    /// Turns one row of raw scores into `p − onehot(positive)` in place and returns the row's loss.
    /// `masked` columns get a very negative logit, so their probability underflows to (about) zero.
    @inline(__always)
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, count c: Int, positive: Int, scale: Float,
                           logQ: UnsafePointer<Float>, masked: [Int]?) -> Float {
        // Pass 1: logits and their maximum (lane loops vectorise; SIMD masks would not).
        var j = 0
        var maxima = SIMD8<Float>(repeating: -.greatestFiniteMagnitude)
        let scales = SIMD8<Float>(repeating: scale)
        while j + 8 <= c {
            let v = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self) * scales
                - UnsafeRawPointer(logQ + j).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(row + j).storeBytes(of: v, as: SIMD8<Float>.self)
            for lane in 0..<8 { maxima[lane] = Swift.max(maxima[lane], v[lane]) }
            j += 8
        }
        var maximum = maxima.max()
        while j < c {
            row[j] = row[j] * scale - logQ[j]
            maximum = Swift.max(maximum, row[j])
            j += 1
        }
        if let masked { for column in masked { row[column] = -1e30 } }
        let positiveLogit = row[positive]
        // Pass 2: exponentials and their sum.
        j = 0
        let m = SIMD8<Float>(repeating: maximum)
        var acc = SIMD8<Float>()
        while j + 8 <= c {
            let e = FastMath.exp(UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self) - m)
            UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: SIMD8<Float>.self)
            acc += e
            j += 8
        }
        var sum = acc.sum()
        while j < c {
            row[j] = FastMath.exp(row[j] - maximum)
            sum += row[j]
            j += 1
        }
        // Pass 3: probabilities minus the one-hot target.
        let inverse = 1 / sum
        for j in 0..<c { row[j] *= inverse }
        row[positive] -= 1
        // −log p = log Σ exp(l − max) − (l_positive − max)
        return log(sum) - (positiveLogit - maximum)
    }
}

#if canImport(Glibc)
import Glibc
#endif
