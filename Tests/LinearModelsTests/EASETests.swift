import Foundation
import LinearAlgebra
import LinearModels
import RummageCore
import Testing
import Training

@Suite struct EASETests {
    /// Three users, three items: X = [[1,1,0],[0,1,1],[1,1,1]]. XᵀX + 1·I = [[3,2,1],[2,4,2],[1,2,3]],
    /// determinant 3(12−4) − 2(6−2) + 1(4−4) = 16; its inverse by cofactors is
    /// P = [[8,−4,0],[−4,8,−4],[0,−4,8]] / 16, so B[i][j] = −P[i][j] / P[j][j] = [[0,½,0],[½,0,½],[0,½,0]].
    @Test func weightsEqualTheHandComputedInverse() throws {
        let data = InteractionMatrix(userCount: 3, itemCount: 3, users: [0, 0, 1, 1, 2, 2, 2], items: [0, 1, 1, 2, 0, 1, 2])
        let model = try EASERecommender(training: data, configuration: .init(l2: 1), context: .init(threads: 2))
        let expected: [Float] = [0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0]
        #expect(zip(model.weights, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(model.weights)")
        // User 0 (items 0 and 1): scores are rows 0 + 1 of B.
        var scores = [Float](repeating: 0, count: 3)
        scores.withUnsafeMutableBufferPointer { model.scoreAll(for: UserIndex(0), into: $0) }
        #expect(zip(scores, [0.5, 0.5, 0.5] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(model.similarItems(to: ItemIndex(1), k: 2).map(\.index) == [0, 2])
    }

    /// On a random 200-user × 60-item matrix, B from single-precision LAPACK equals a double-precision
    /// Gauss–Jordan inverse within 1e-4, and the weights are invariant to the thread count.
    @Test func weightsMatchADoublePrecisionReference() throws {
        var rng = SeededGenerator(seed: 4)
        var users: [Int32] = [], items: [Int32] = []
        for u in 0..<200 {
            for i in 0..<60 where rng.nextDouble() < 0.05 + 0.3 * Double(i % 7) / 7 {
                users.append(Int32(u))
                items.append(Int32(i))
            }
        }
        let data = InteractionMatrix(userCount: 200, itemCount: 60, users: users, items: items)
        let l2 = 10.0, n = 60
        let model = try EASERecommender(training: data, configuration: .init(l2: Float(l2)), context: .init(threads: 2))
        // Reference: G = XᵀX + λI in double, inverted by Gauss–Jordan with partial pivoting.
        var g = [Double](repeating: 0, count: n * n)
        for u in 0..<200 {
            let row = data.byUser.columns(of: u).map(Int.init)
            for i in row { for j in row { g[i * n + j] += 1 } }
        }
        for i in 0..<n { g[i * n + i] += l2 }
        var inverse = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inverse[i * n + i] = 1 }
        for c in 0..<n {
            let pivot = (c..<n).max { abs(g[$0 * n + c]) < abs(g[$1 * n + c]) }!
            for k in 0..<n { g.swapAt(c * n + k, pivot * n + k); inverse.swapAt(c * n + k, pivot * n + k) }
            let d = g[c * n + c]
            for k in 0..<n { g[c * n + k] /= d; inverse[c * n + k] /= d }
            for r in 0..<n where r != c {
                let f = g[r * n + c]
                if f == 0 { continue }
                for k in 0..<n { g[r * n + k] -= f * g[c * n + k]; inverse[r * n + k] -= f * inverse[c * n + k] }
            }
        }
        var largest = 0.0
        for i in 0..<n {
            for j in 0..<n {
                let reference = i == j ? 0 : -inverse[i * n + j] / inverse[j * n + j]
                largest = max(largest, abs(Double(model.weights[i * n + j]) - reference))
            }
        }
        #expect(largest < 1e-4, "largest difference \(largest)")
        let single = try EASERecommender(training: data, configuration: .init(l2: Float(l2)), context: .init(threads: 1))
        #expect(single.weights == model.weights)
    }

    @Test func refusesWhenTheMatrixWouldNotFit() {
        let data = InteractionMatrix(userCount: 1, itemCount: 1_000, users: [0], items: [5])
        #expect(EASERecommender.memoryNeeded(items: 1_000) == 4_000_000)
        let error = #expect(throws: TrainingError.self) {
            _ = try EASERecommender(training: data, context: .init(threads: 1), available: 1_000_000)
        }
        #expect(error?.description.contains("ease on 1000 items needs 4 MB for its item–item matrix; 1 MB is available") == true,
                "\(error?.description ?? "")")
    }
}
