import Foundation
import LinearAlgebra
import RummageCore
import Testing
import Training

/// Finite-difference checks: for a random upstream gradient `g`, the scalar `f = Σ g ⊙ layer(x)` is
/// perturbed coordinate by coordinate (central differences in Float, step 1e-2), and the change must
/// match the analytic gradient from `backward`.
@Suite struct GradientCheckTests {
    static let step: Float = 1e-2
    static let tolerance: Float = 2e-2

    func random(_ rows: Int, _ columns: Int, _ rng: inout SeededGenerator) -> Matrix {
        Matrix(rows: rows, columns: columns, storage: (0..<rows * columns).map { _ in Float(rng.nextGaussian()) })
    }

    func dot(_ a: Matrix, _ b: Matrix) -> Float { zip(a.storage, b.storage).reduce(0) { $0 + $1.0 * $1.1 } }

    /// Compares `analytic[i]` with the central difference of `f` when coordinate `i` (read and written
    /// through `get`/`set`) moves by ±step.
    func check(_ analytic: [Float], _ label: String, get: () -> [Float], set: ([Float]) -> Void, f: () -> Float) {
        var values = get()
        for i in values.indices {
            let original = values[i]
            values[i] = original + Self.step
            set(values)
            let up = f()
            values[i] = original - Self.step
            set(values)
            let down = f()
            values[i] = original
            set(values)
            let numeric = (up - down) / (2 * Self.step)
            let scale = max(1, abs(numeric), abs(analytic[i]))
            #expect(abs(numeric - analytic[i]) / scale < Self.tolerance, "\(label)[\(i)]: numeric \(numeric) analytic \(analytic[i])")
        }
    }

    @Test func denseLayer() {
        var rng = SeededGenerator(seed: 1)
        let layer = DenseLayer(inputs: 4, outputs: 3, rng: &rng)
        for i in layer.bias.value.indices { layer.bias.value[i] = Float(rng.nextGaussian()) }
        var x = random(5, 4, &rng)
        let g = random(5, 3, &rng)
        _ = layer.forward(x)
        let dx = layer.backward(g)
        check(dx.storage, "dx", get: { x.storage }, set: { x.storage = $0 }) { dot(layer.apply(x), g) }
        check(layer.weight.gradient, "dW", get: { layer.weight.value }, set: { layer.weight.value = $0 }) { dot(layer.apply(x), g) }
        check(layer.bias.gradient, "db", get: { layer.bias.value }, set: { layer.bias.value = $0 }) { dot(layer.apply(x), g) }
    }

    @Test func reluLayer() {
        var rng = SeededGenerator(seed: 2)
        // Keep inputs away from the kink at 0, where the derivative does not exist.
        var x = random(4, 6, &rng)
        for i in x.storage.indices where abs(x.storage[i]) < 0.1 { x.storage[i] = 0.5 }
        let g = random(4, 6, &rng)
        let layer = ReLULayer()
        _ = layer.forward(x)
        let dx = layer.backward(g)
        check(dx.storage, "dx", get: { x.storage }, set: { x.storage = $0 }) { dot(ReLULayer.apply(x), g) }
    }

    @Test func l2Normalisation() {
        var rng = SeededGenerator(seed: 3)
        var x = random(3, 5, &rng)
        let g = random(3, 5, &rng)
        let layer = L2NormalizeLayer()
        let y = layer.forward(x)
        for r in 0..<3 { #expect(abs(y.row(r).reduce(0) { $0 + $1 * $1 } - 1) < 1e-5) }
        let dx = layer.backward(g)
        check(dx.storage, "dx", get: { x.storage }, set: { x.storage = $0 }) { dot(L2NormalizeLayer.apply(x), g) }
    }

    @Test func embeddingBag() {
        var rng = SeededGenerator(seed: 4)
        let table = EmbeddingTable(rows: 6, dimension: 3, scale: 1, rng: &rng)
        let layer = EmbeddingBagLayer(table: table)
        // Bags: {0, 2}, {}, {2, 2, 5}, {1}: repeated ids and an empty bag.
        let bags = Bags(offsets: [0, 2, 2, 5, 6], ids: [0, 2, 2, 2, 5, 1])
        let g = random(4, 3, &rng)
        let y = layer.forward(bags)
        #expect(y.row(1).allSatisfy { $0 == 0 })
        layer.backward(g)
        var analytic = [Float](repeating: 0, count: 18)
        for row in 0..<6 {
            if let grad = table.gradient(of: row) { for f in 0..<3 { analytic[row * 3 + f] = grad[grad.startIndex + f] } }
        }
        #expect(table.gradient(of: 3) == nil && table.gradient(of: 4) == nil)
        check(analytic, "dE", get: { table.weights }, set: { table.weights = $0 }) { dot(layer.apply(bags), g) }
        table.clearGradients()
        #expect(table.touchedRows.isEmpty && table.gradient(of: 2) == nil)
    }

    @Test(arguments: [false, true])
    func inBatchSoftmaxWithLogQAndMasking(extraNegatives: Bool) {
        var rng = SeededGenerator(seed: 5)
        let b = 4, c = extraNegatives ? 7 : 4, d = 3
        var queries = random(b, d, &rng)
        var candidates = random(c, d, &rng)
        let logQ = (0..<c).map { _ in Float(rng.nextGaussian()) }
        // Candidate 3 repeats item 1's key: masked out of row 1 (and row 3 masks column 1).
        var keys: [Int32] = [10, 11, 12, 11]
        if extraNegatives { keys += [20, 21, 10] }
        let loss = InBatchSoftmax(temperature: 0.5, threads: 2)
        let result = loss(queries: queries, candidates: candidates, logQ: logQ, keys: keys)
        #expect(result.loss.isFinite && result.loss > 0)
        check(result.queryGradient.storage, "dQ", get: { queries.storage }, set: { queries.storage = $0 }) {
            loss(queries: queries, candidates: candidates, logQ: logQ, keys: keys).loss
        }
        check(result.candidateGradient.storage, "dC", get: { candidates.storage }, set: { candidates.storage = $0 }) {
            loss(queries: queries, candidates: candidates, logQ: logQ, keys: keys).loss
        }
    }

    @Test(arguments: [(16, 16, 8), (37, 45, 8), (1024, 1024, 64)])
    func inBatchSoftmaxIsIdenticalForAnyThreadCount(shape: (b: Int, c: Int, d: Int)) {
        var rng = SeededGenerator(seed: 9)
        let queries = random(shape.b, shape.d, &rng), candidates = random(shape.c, shape.d, &rng)
        let logQ = (0..<shape.c).map { _ in Float(rng.nextGaussian()) }
        let keys = (0..<shape.c).map { _ in Int32(rng.nextInt(below: shape.c / 2 + 1)) }
        let one = InBatchSoftmax(temperature: 0.1, threads: 1)(queries: queries, candidates: candidates, logQ: logQ, keys: keys)
        for threads in [2, 3] {
            let many = InBatchSoftmax(temperature: 0.1, threads: threads)(queries: queries, candidates: candidates,
                                                                          logQ: logQ, keys: keys)
            #expect(one.loss == many.loss)
            #expect(one.queryGradient == many.queryGradient, "dQ, \(threads) threads")
            #expect(one.candidateGradient == many.candidateGradient, "dC, \(threads) threads")
        }
    }

    /// Temperature 0.002 makes the logits span thousands, so the Cauchy–Schwarz shift is far too loose
    /// and rows take the exact-maximum path.
    @Test(arguments: [Float(0.2), 0.002])
    func inBatchSoftmaxMatchesAReferenceComputation(temperature: Float) {
        // Double-precision reference of the same formula, including masking: loss and both gradients.
        var rng = SeededGenerator(seed: 6)
        let b = 3, c = 4, d = 2
        let queries = random(b, d, &rng), candidates = random(c, d, &rng)
        let logQ: [Float] = [-1, -2, -0.5, -3], keys: [Int32] = [1, 2, 1, 7]
        let result = InBatchSoftmax(temperature: temperature)(queries: queries, candidates: candidates, logQ: logQ, keys: keys)
        var expected = 0.0
        var dQ = [Double](repeating: 0, count: b * d), dC = [Double](repeating: 0, count: c * d)
        let scale = 1 / (Double(temperature) * Double(b))
        for row in 0..<b {
            var logits: [Double] = []
            for col in 0..<c {
                let masked = col != row && keys[col] == keys[row]
                let s = (0..<d).reduce(0.0) { $0 + Double(queries[row, $1]) * Double(candidates[col, $1]) }
                logits.append(masked ? -.infinity : s / Double(temperature) - Double(logQ[col]))
            }
            let m = logits.max()!
            let logSum = m + log(logits.reduce(0.0) { $0 + exp($1 - m) })
            expected += logSum - logits[row]
            for col in 0..<c {
                let p = exp(logits[col] - logSum) - (col == row ? 1 : 0)
                for f in 0..<d {
                    dQ[row * d + f] += scale * p * Double(candidates[col, f])
                    dC[col * d + f] += scale * p * Double(queries[row, f])
                }
            }
        }
        expected /= Double(b)
        #expect(abs(Double(result.loss) - expected) < 1e-4 * max(1, expected))
        let gradientScale = max(1, (dQ + dC).map(abs).max()!)
        for (analytic, reference) in zip(result.queryGradient.storage + result.candidateGradient.storage, dQ + dC) {
            #expect(abs(Double(analytic) - reference) < 1e-4 * gradientScale, "gradient \(analytic) vs \(reference)")
        }
    }
}

@Suite struct FastMathTests {
    @Test func vectorExpMatchesLibm() {
        var worst: Float = 0
        var x: Float = -80
        while x < 80 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.013 })
            let fast = FastMath.exp(lanes)
            for i in 0..<8 { worst = max(worst, abs(fast[i] - Foundation.exp(lanes[i])) / Foundation.exp(lanes[i])) }
            x += 0.37
        }
        #expect(worst < 5e-7)
        #expect(FastMath.exp(0) == 1)
        #expect(FastMath.exp(-200) < 1e-37)
    }
}

@Suite struct OptimizerTests {
    /// Minimises ‖w − target‖² with each optimiser; both must get close.
    @Test(arguments: Optimizer.Kind.allCases)
    func convergesOnAQuadratic(kind: Optimizer.Kind) {
        let target: [Float] = [1, -2, 3]
        let parameter = DenseParameter(shape: [3], value: [0, 0, 0])
        var rng = SeededGenerator(seed: 1)
        let table = EmbeddingTable(rows: 4, dimension: 3, scale: 0, rng: &rng)
        var optimizer = Optimizer(kind: kind)
        for _ in 0..<2000 {
            parameter.zeroGradient()
            for i in 0..<3 { parameter.gradient[i] = 2 * (parameter.value[i] - target[i]) }
            table.clearGradients()
            // Only row 2 is ever touched: rows 0, 1, 3 must not move (lazy sparse update).
            let g = (0..<3).map { 2 * (table.weights[6 + $0] - target[$0]) }
            g.withUnsafeBufferPointer { table.accumulate(row: 2, scale: 1, vector: $0.baseAddress!) }
            optimizer.step(parameters: [parameter], tables: [table], learningRate: kind == .adam ? 0.05 : 0.5)
        }
        for i in 0..<3 {
            #expect(abs(parameter.value[i] - target[i]) < 0.05)
            #expect(abs(table.weights[6 + i] - target[i]) < 0.05)
        }
        #expect(table.weights[0..<6].allSatisfy { $0 == 0 } && table.weights[9..<12].allSatisfy { $0 == 0 })
    }

    /// Dense Adam keeps moving a row by its momentum after the batches stop touching it; lazy Adam does not.
    @Test(arguments: [true, false])
    func lazyAndDenseTableUpdates(lazy: Bool) {
        var rng = SeededGenerator(seed: 1)
        let table = EmbeddingTable(rows: 3, dimension: 2, scale: 0, rng: &rng)
        var optimizer = Optimizer(kind: .adam, lazyTables: lazy, threads: 2)
        let one: [Float] = [1, 1]
        one.withUnsafeBufferPointer { table.accumulate(row: 1, scale: 1, vector: $0.baseAddress!) }
        optimizer.step(parameters: [], tables: [table], learningRate: 0.1)
        let afterFirst = table.weights[2]
        for _ in 0..<3 {
            table.clearGradients()
            one.withUnsafeBufferPointer { table.accumulate(row: 2, scale: 1, vector: $0.baseAddress!) }
            optimizer.step(parameters: [], tables: [table], learningRate: 0.1)
        }
        #expect(afterFirst < 0)
        if lazy { #expect(table.weights[2] == afterFirst) } else { #expect(table.weights[2] < afterFirst) }
        #expect(table.weights[0] == 0 && table.weights[1] == 0)  // never touched: no momentum either way
    }

    @Test func clippingBoundsTheGlobalNorm() {
        let p = DenseParameter(shape: [2], value: [0, 0])
        p.gradient = [3, 0]
        var rng = SeededGenerator(seed: 1)
        let table = EmbeddingTable(rows: 2, dimension: 1, scale: 0, rng: &rng)
        [Float(4)].withUnsafeBufferPointer { table.accumulate(row: 1, scale: 1, vector: $0.baseAddress!) }
        let norm = clipGradients(parameters: [p], tables: [table], maxNorm: 1)
        #expect(abs(norm - 5) < 1e-6)
        #expect(abs(p.gradient[0] - 0.6) < 1e-6)
        #expect(abs(table.gradients[0] - 0.8) < 1e-6)
    }

    @Test func scheduleWarmsUpAndDecays() {
        let linear = LearningRateSchedule(base: 1, decay: .linear, warmupSteps: 2, finalFraction: 0.1)
        #expect(linear.rate(step: 0, totalSteps: 12) == 0.5)
        #expect(linear.rate(step: 1, totalSteps: 12) == 1)
        #expect(linear.rate(step: 2, totalSteps: 12) == 1)
        #expect(abs(linear.rate(step: 11, totalSteps: 12) - 0.1) < 1e-6)
        let cosine = LearningRateSchedule(base: 2, decay: .cosine, finalFraction: 0)
        #expect(abs(cosine.rate(step: 5, totalSteps: 11) - 1) < 1e-5)
        #expect(LearningRateSchedule(base: 3).rate(step: 100, totalSteps: 10) == 3)
    }
}
