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
    public func callAsFunction(queries: Matrix, candidates: Matrix, logQ: [Float], keys: [Int32]) -> Result {
        let b = queries.rows, c = candidates.rows
        precondition(c >= b && queries.columns == candidates.columns && logQ.count == c && keys.count == c)
        var logits = BLAS.multiply(queries, candidates, transposeB: true)  // B × C
        let inverseTemperature = 1 / temperature
        let threads = self.threads
        let losses = logits.storage.withUnsafeMutableBufferPointer { buffer in
            // Rows are disjoint, so the workers never touch the same element.
            nonisolated(unsafe) let l = buffer.baseAddress!
            return Parallel.mapChunks(count: b, chunkSize: 32, threads: threads) { range in
                var total: Float = 0
                for row in range {
                    total += Self.softmaxRow(l + row * c, count: c, positive: row, scale: inverseTemperature,
                                             logQ: logQ, keys: keys)
                }
                return total
            }
        }
        // logits now hold p − onehot per row; d(loss)/d(score) = (p − onehot) / (B τ).
        let scale = inverseTemperature / Float(b)
        for i in logits.storage.indices { logits.storage[i] *= scale }
        let dQueries = BLAS.multiply(logits, candidates)
        let dCandidates = BLAS.multiply(logits, transposeA: true, queries)
        return Result(loss: losses.reduce(0, +) / Float(b), queryGradient: dQueries, candidateGradient: dCandidates)
    }

    /// Turns one row of raw scores into `p − onehot(positive)` in place and returns the row's loss.
    @inline(__always)
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, count c: Int, positive: Int, scale: Float,
                           logQ: [Float], keys: [Int32]) -> Float {
        let key = keys[positive]
        var maximum = -Float.infinity
        for j in 0..<c {
            let masked = j != positive && keys[j] == key
            let value = masked ? -Float.infinity : row[j] * scale - logQ[j]
            row[j] = value
            maximum = max(maximum, value)
        }
        // exp(row − max), vectorised; masked entries become 0.
        var sum: Float = 0
        var j = 0
        let m = SIMD8<Float>(repeating: maximum)
        var acc = SIMD8<Float>()
        while j + 8 <= c {
            let raw = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
            var e = FastMath.exp(raw - m)
            e.replace(with: 0, where: raw .== -Float.infinity)
            UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: SIMD8<Float>.self)
            acc += e
            j += 8
        }
        sum = acc.sum()
        while j < c {
            let e = row[j] == -.infinity ? 0 : FastMath.exp(row[j] - maximum)
            row[j] = e
            sum += e
            j += 1
        }
        let positiveProbability = row[positive] / sum
        let inverse = 1 / sum
        for j in 0..<c { row[j] *= inverse }
        row[positive] -= 1
        // −log p = log sum − (logit − max); with the clamp, p can't be 0.
        return -log(max(positiveProbability, 1e-30))
    }
}

#if canImport(Glibc)
import Glibc
#endif
