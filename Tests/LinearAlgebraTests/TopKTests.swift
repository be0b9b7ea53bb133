import LinearAlgebra
import RummageCore
import Testing

@Suite struct TopKTests {
    /// Brute force: sort everything by (score desc, index asc), drop masked.
    func reference(_ scores: [Float], k: Int) -> [ScoredIndex] {
        let all = scores.enumerated().filter { $0.element > -.infinity }.map { ScoredIndex(index: Int32($0.offset), score: $0.element) }
        return Array(all.sorted(by: TopK.ranksAbove).prefix(k))
    }

    @Test(arguments: [0, 1, 5, 50, 200])
    func matchesBruteForceWithTies(k: Int) {
        var rng = SeededGenerator(seed: UInt64(k))
        // Few distinct values so that ties are everywhere.
        let scores = (0..<100).map { _ in Float(rng.nextInt(below: 6)) }
        #expect(TopK.select(scores, k: k) == reference(scores, k: k))
    }

    @Test func skipsMaskedAndNaNScores() {
        let scores: [Float] = [1, -.infinity, .nan, 3, 2]
        #expect(TopK.select(scores, k: 10).map(\.index) == [3, 4, 0])
    }

    @Test func breaksTiesByLowerIndex() {
        #expect(TopK.select([5, 7, 7, 5, 7], k: 4).map(\.index) == [1, 2, 4, 0])
    }
}

@Suite struct BLASTests {
    func naiveProduct(_ a: Matrix, _ ta: Bool, _ b: Matrix, _ tb: Bool) -> Matrix {
        let m = ta ? a.columns : a.rows, k = ta ? a.rows : a.columns, n = tb ? b.rows : b.columns
        var c = Matrix(rows: m, columns: n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += (ta ? a[p, i] : a[i, p]) * (tb ? b[j, p] : b[p, j]) }
                c[i, j] = s
            }
        }
        return c
    }

    func random(_ rows: Int, _ columns: Int, _ rng: inout SeededGenerator) -> Matrix {
        Matrix(rows: rows, columns: columns, storage: (0..<rows * columns).map { _ in rng.nextFloat() * 2 - 1 })
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmEqualsScalarProduct(transposes: (Bool, Bool)) {
        var rng = SeededGenerator(seed: 11)
        let (ta, tb) = transposes
        let a = ta ? random(7, 5, &rng) : random(5, 7, &rng)
        let b = tb ? random(3, 7, &rng) : random(7, 3, &rng)
        let fast = BLAS.multiply(a, transposeA: ta, b, transposeB: tb)
        let slow = naiveProduct(a, ta, b, tb)
        #expect(fast.rows == 5 && fast.columns == 3)
        for i in fast.storage.indices { #expect(abs(fast.storage[i] - slow.storage[i]) < 1e-5) }
    }

    @Test func gemvAndDotEqualScalarLoops() {
        var rng = SeededGenerator(seed: 12)
        let a = random(9, 4, &rng)
        let x = (0..<4).map { _ in rng.nextFloat() }
        var y = [Float](repeating: 0, count: 9)
        a.storage.withUnsafeBufferPointer { ap in
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { BLAS.gemv(rows: 9, columns: 4, ap, xp, into: $0) } }
        }
        for r in 0..<9 {
            let expected = (0..<4).reduce(Float(0)) { $0 + a[r, $1] * x[$1] }
            #expect(abs(y[r] - expected) < 1e-5)
            let dot = a.row(r).withUnsafeBufferPointer { row in x.withUnsafeBufferPointer { BLAS.dot(row, $0) } }
            #expect(abs(dot - expected) < 1e-5)
        }
    }
}
