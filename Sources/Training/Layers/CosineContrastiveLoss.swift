import LinearAlgebra
import RummageCore

/// SimpleX's cosine contrastive loss (Mao et al., "SimpleX: A Simple and Strong Baseline for Collaborative
/// Filtering", CIKM 2021), over in-batch (and extra sampled) negatives: for query row u_b with positive
/// candidate v_b and the other candidates as negatives N_b (those with the positive's key left out),
///
///     ℓ_b = (1 − u_b·v_b) + w / |N_b| · Σ_{j ∈ N_b} max(0, u_b·v_j − m)
///
/// with margin m and negative weight w; the loss is the mean of ℓ_b. Rows are expected L2-normalised (the
/// towers' outputs), so the dot products are cosines. Only negatives above the margin contribute, so many
/// easy negatives cost nothing but their dot product. The negatives are the candidates from `firstNegative`
/// on (e.g. uniformly sampled items after the batch's positives, as SimpleX samples them), or with
/// `firstNegative` 0 every other candidate (the other rows' positives too: negatives drawn by popularity).
public struct CosineContrastiveLoss: Sendable {
    public var margin: Float
    public var negativeWeight: Float

    public init(margin: Float, negativeWeight: Float) {
        precondition(negativeWeight >= 0)
        self.margin = margin
        self.negativeWeight = negativeWeight
    }

    /// Precondition: `candidates.rows >= queries.rows` (the first `queries.rows` are the positives, in
    /// order) and `keys` has one entry per candidate. Same result type as `InBatchSoftmax`.
    public func callAsFunction(queries: Matrix, candidates: Matrix, keys: [Int32], firstNegative: Int = 0) -> InBatchSoftmax.Result {
        let b = queries.rows, c = candidates.rows, d = queries.columns
        precondition(c >= b && candidates.columns == d && keys.count == c && firstNegative >= 0 && firstNegative < c)
        var scores = BLAS.multiply(queries, candidates, transposeB: true)  // b × c dot products
        let masked = InBatchSoftmax.collisions(keys: keys, queries: b)
        // Scores become ∂loss/∂score: −1/b on the positive, w / (|N_b| b) on active negatives, else 0.
        var loss = 0.0
        for row in 0..<b {
            // Candidates before `firstNegative` and those with the positive's key are not negatives.
            let skip = Set(masked[row] ?? [])
            let negatives = c - max(firstNegative, 1) - skip.count { $0 >= firstNegative }
            let weight = negatives > 0 ? negativeWeight / Float(negatives) : 0
            var rowLoss = 1 - Double(scores.storage[row * c + row]), penalty = 0.0
            for column in 0..<c {
                let k = row * c + column
                if column == row {
                    scores.storage[k] = -1 / Float(b)
                } else if column < firstNegative || skip.contains(column) || scores.storage[k] <= margin {
                    scores.storage[k] = 0
                } else {
                    penalty += Double(scores.storage[k] - margin)
                    scores.storage[k] = weight / Float(b)
                }
            }
            rowLoss += Double(weight) * penalty
            loss += rowLoss
        }
        let queryGradient = BLAS.multiply(scores, candidates)
        let candidateGradient = BLAS.multiply(scores, transposeA: true, queries)
        return InBatchSoftmax.Result(loss: Float(loss / Double(b)), queryGradient: queryGradient, candidateGradient: candidateGradient)
    }
}
