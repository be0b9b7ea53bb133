import Foundation
import LinearModels
import RummageCore
import Testing
import Training

@Suite struct GraphFilterTests {
    static func data(users: Int, items: Int, seed: UInt64) -> InteractionMatrix {
        var rng = SeededGenerator(seed: seed)
        var u: [Int32] = [], i: [Int32] = []
        for user in 0..<users {
            for item in 0..<items where rng.nextDouble() < 0.15 + 0.5 * Double((user + item) % 3 == 0 ? 1 : 0) {
                u.append(Int32(user))
                i.append(Int32(item))
            }
        }
        return InteractionMatrix(userCount: users, itemCount: items, users: u, items: i)
    }

    /// Eigenvalues (descending) and eigenvectors (rows) of a small symmetric matrix, by cyclic Jacobi in double.
    static func jacobi(_ input: [[Double]]) -> (values: [Double], vectors: [[Double]]) {
        var a = input, n = input.count
        var v = (0..<n).map { i in (0..<n).map { $0 == i ? 1.0 : 0 } }
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<n { off += a[p][q] * a[p][q] } }
            if off < 1e-24 { break }
            for p in 0..<n {
                for q in (p + 1)..<n where abs(a[p][q]) > 1e-300 {
                    let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k][p], akq = a[k][q]
                        a[k][p] = c * akp - s * akq
                        a[k][q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p][k], aqk = a[q][k]
                        a[p][k] = c * apk - s * aqk
                        a[q][k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k][p], vkq = v[k][q]
                        v[k][p] = c * vkp - s * vkq
                        v[k][q] = s * vkp + c * vkq
                    }
                }
            }
        }
        n = input.count
        let order = (0..<n).sorted { a[$0][$0] > a[$1][$1] }
        return (order.map { a[$0][$0] }, order.map { j in (0..<n).map { v[$0][j] } })
    }

    /// The scores of GF-CF computed densely in double from its definition (R̃, P̃ = R̃ᵀR̃, the leading
    /// eigenvectors by Jacobi) equal the model's, for an exact (k + oversampling ≥ items) and a truncated
    /// decomposition.
    @Test(arguments: [3, 6])
    func scoresEqualADenseReference(lowPass: Int) throws {
        let (users, items) = (40, 24)
        let data = Self.data(users: users, items: items, seed: 3)
        let alpha = 0.3
        let model = try GraphFilterRecommender(training: data, configuration: .init(lowPass: lowPass, idealWeight: Float(alpha), powerIterations: 6),
                                               context: .init(threads: 2, seed: 1))
        var r = [[Double]](repeating: [Double](repeating: 0, count: items), count: users)
        for u in 0..<users { for i in data.byUser.columns(of: u) { r[u][Int(i)] = 1 } }
        let du = r.map { $0.reduce(0, +) }, di = (0..<items).map { i in r.reduce(0) { $0 + $1[i] } }
        let normalised = (0..<users).map { u in (0..<items).map { i in du[u] > 0 && di[i] > 0 ? r[u][i] / (du[u] * di[i]).squareRoot() : 0 } }
        let p = (0..<items).map { i in (0..<items).map { j in (0..<users).reduce(0) { $0 + normalised[$1][i] * normalised[$1][j] } } }
        let (values, vectors) = Self.jacobi(p)
        #expect(values[lowPass - 1] - values[lowPass] > 1e-3, "a gap at the cut makes the low-pass subspace well defined")
        #expect(zip(model.eigenvalues, values.prefix(lowPass)).allSatisfy { abs(Double($0) - $1) < 1e-4 }, "\(model.eigenvalues) \(values)")
        var largest = 0.0
        for u in 0..<users {
            var reference = (0..<items).map { j in (0..<items).reduce(0) { $0 + r[u][$1] * p[$1][j] } }
            for v in vectors.prefix(lowPass) {
                let a = (0..<items).reduce(0.0) { $0 + (di[$1] > 0 ? r[u][$1] * v[$1] / di[$1].squareRoot() : 0) }
                for j in 0..<items { reference[j] += alpha * a * v[j] * di[j].squareRoot() }
            }
            var scores = [Float](repeating: 0, count: items)
            scores.withUnsafeMutableBufferPointer { model.scoreAll(for: UserIndex(u), into: $0) }
            for j in 0..<items { largest = max(largest, abs(Double(scores[j]) - reference[j])) }
        }
        #expect(largest < 1e-4, "largest difference \(largest)")
    }

    @Test func resultDoesNotDependOnThreadCount() throws {
        let data = Self.data(users: 300, items: 700, seed: 5)
        let one = try GraphFilterRecommender(training: data, configuration: .init(lowPass: 20), context: .init(threads: 1, seed: 2))
        let two = try GraphFilterRecommender(training: data, configuration: .init(lowPass: 20), context: .init(threads: 2, seed: 2))
        #expect(one.itemFilter == two.itemFilter && one.eigenvalues == two.eigenvalues)
    }

    @Test func refusesWhenTheMatrixWouldNotFit() {
        let data = InteractionMatrix(userCount: 1, itemCount: 1_000, users: [0], items: [5])
        #expect(throws: TrainingError.self) { _ = try GraphFilterRecommender(training: data, context: .init(threads: 1), available: 1_000_000) }
    }
}
