import LinearAlgebra
import RummageCore
import Testing
import Training

@Suite struct CosineContrastiveLossTests {
    static func matrix(_ rows: Int, _ columns: Int, _ rng: inout SeededGenerator) -> Matrix {
        Matrix(rows: rows, columns: columns, storage: (0..<rows * columns).map { _ in Float(rng.nextGaussian()) * 0.5 })
    }

    /// Two queries, three candidates (the third an extra negative), margin 0.2, weight 2: the loss by hand.
    @Test func knownAnswer() {
        let queries = Matrix(rows: 2, columns: 2, storage: [1, 0, 0, 1])
        let candidates = Matrix(rows: 3, columns: 2, storage: [0.8, 0.6, 0.6, 0.8, 1, 0])
        let result = CosineContrastiveLoss(margin: 0.2, negativeWeight: 2)(queries: queries, candidates: candidates, keys: [1, 2, 3])
        // Row 0: 1 − 0.8, negatives 0.6 and 1 → (0.4 + 0.8) · 2/2; row 1: 1 − 0.8, negatives 0.6 and 0 → 0.4 · 2/2.
        let expected: Float = ((0.2 + 1.2) + (0.2 + 0.4)) / 2
        #expect(abs(result.loss - expected) < 1e-6, "\(result.loss)")
        // A candidate with the positive's key is not a negative.
        let masked = CosineContrastiveLoss(margin: 0.2, negativeWeight: 2)(queries: queries, candidates: candidates, keys: [1, 2, 1])
        #expect(abs(masked.loss - ((0.2 + 0.4 * 2) + (0.2 + 0.4)) / 2) < 1e-6, "\(masked.loss)")
    }

    /// The gradients against central finite differences of the loss, for queries and candidates, with
    /// duplicate keys and extra negatives (entries near the margin's kink are skipped).
    @Test func gradientsMatchFiniteDifferences() {
        var rng = SeededGenerator(seed: 11)
        let loss = CosineContrastiveLoss(margin: 0.1, negativeWeight: 3)
        let queries = Self.matrix(5, 4, &rng), candidates = Self.matrix(8, 4, &rng)
        let keys: [Int32] = [1, 2, 3, 2, 5, 6, 7, 1]
        let result = loss(queries: queries, candidates: candidates, keys: keys)
        let h: Float = 1e-3
        func check(_ m: Matrix, _ gradient: Matrix, _ evaluate: (Matrix) -> Float) {
            for k in 0..<m.storage.count {
                var plus = m, minus = m
                plus.storage[k] += h
                minus.storage[k] -= h
                let numeric = (evaluate(plus) - evaluate(minus)) / (2 * h)
                #expect(abs(numeric - gradient.storage[k]) < 2e-3, "entry \(k): numeric \(numeric), analytic \(gradient.storage[k])")
            }
        }
        check(queries, result.queryGradient) { loss(queries: $0, candidates: candidates, keys: keys).loss }
        check(candidates, result.candidateGradient) { loss(queries: queries, candidates: $0, keys: keys).loss }
        // Negatives only from the sampled candidates after the positives.
        let sampled = loss(queries: queries, candidates: candidates, keys: keys, firstNegative: 5)
        check(queries, sampled.queryGradient) { loss(queries: $0, candidates: candidates, keys: keys, firstNegative: 5).loss }
        check(candidates, sampled.candidateGradient) { loss(queries: queries, candidates: $0, keys: keys, firstNegative: 5).loss }
        #expect(sampled.loss != result.loss)
    }

    /// With the negatives from the third candidate on, the other row's positive is no negative.
    @Test func sampledNegativesOnly() {
        let queries = Matrix(rows: 2, columns: 2, storage: [1, 0, 0, 1])
        let candidates = Matrix(rows: 3, columns: 2, storage: [0.8, 0.6, 0.6, 0.8, 1, 0])
        let result = CosineContrastiveLoss(margin: 0.2, negativeWeight: 2)(queries: queries, candidates: candidates, keys: [1, 2, 3], firstNegative: 2)
        // Row 0: 1 − 0.8 + 2 · (1 − 0.2); row 1: 1 − 0.8 + 0 (its only negative scores 0).
        #expect(abs(result.loss - (0.2 + 1.6 + 0.2) / 2) < 1e-6, "\(result.loss)")
    }
}
