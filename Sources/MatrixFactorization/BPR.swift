import Foundation
import LinearAlgebra
import RummageCore
import Training

/// Bayesian personalised ranking (Rendle et al., UAI 2009) for a factor model with item biases.
///
/// Each step samples an observed pair (u, i) uniformly and an item j the user has not interacted with
/// (uniformly, or by popularity^exponent), then takes an SGD or Adagrad step on
/// `−ln σ(x_u·(y_i − y_j) + b_i − b_j) + λ (‖x_u‖² + ‖y_i‖² + ‖y_j‖² + b_i² + b_j²)`.
/// An epoch is as many steps as there are observed pairs. With several threads the steps run
/// Hogwild-style (lock-free, racing on shared item vectors, which SGD tolerates); with one thread
/// training is fully deterministic for a seed.
public enum BPR {
    public enum NegativeSampling: String, Sendable, CaseIterable {
        /// Every item equally likely.
        case uniform
        /// Proportional to (number of users)^`popularityExponent`: harder negatives.
        case popularity
    }

    public enum Optimizer: String, Sendable, CaseIterable {
        case sgd
        /// Per-coordinate learning rates from accumulated squared gradients.
        case adagrad
    }

    public struct Configuration: Sendable, Equatable {
        public var factors: Int = 64
        public var epochs: Int = 40
        public var learningRate: Float = 0.05
        /// λ, applied at every step to the vectors and biases it touches.
        public var regularization: Float = 0.01
        public var negativeSampling: NegativeSampling = .uniform
        public var popularityExponent: Double = 0.5
        public var optimizer: Optimizer = .sgd
        /// Initial vectors are Gaussian with this standard deviation.
        public var initScale: Float = 0.1

        public init() {}
    }

    public static func fit(_ data: InteractionMatrix, configuration: Configuration = .init(),
                           context: TrainingContext = .init()) -> FactorizationModel {
        let c = configuration
        precondition(c.factors > 0 && c.epochs >= 0 && c.learningRate > 0 && c.regularization >= 0)
        let k = c.factors
        var rng = SeededGenerator(seed: context.seed)
        let users = RowBuffer(Matrix(rows: data.userCount, columns: k,
                                     storage: (0..<data.userCount * k).map { _ in Float(rng.nextGaussian()) * c.initScale }))
        let items = RowBuffer(Matrix(rows: data.itemCount, columns: k,
                                     storage: (0..<data.itemCount * k).map { _ in Float(rng.nextGaussian()) * c.initScale }))
        let bias = RowBuffer(Matrix(rows: data.itemCount, columns: 1))
        // Adagrad accumulators (unused with SGD).
        let userSquares = RowBuffer(Matrix(rows: c.optimizer == .adagrad ? data.userCount : 0, columns: k))
        let itemSquares = RowBuffer(Matrix(rows: c.optimizer == .adagrad ? data.itemCount : 0, columns: k + 1))
        guard data.interactionCount > 0, data.itemCount > 1 else {
            return FactorizationModel(algorithm: "bpr", userFactors: users.matrix, itemFactors: items.matrix,
                                      itemBias: bias.matrix.storage)
        }
        let negatives = c.negativeSampling == .popularity
            ? AliasSampler(weights: data.itemPopularity.map { pow(Double($0) + 1, c.popularityExponent) }) : nil
        let rows = data.byUser
        // Row of each observed pair, so a uniform pair is one draw.
        let pairUser = (0..<rows.rowCount).flatMap { u in [Int32](repeating: Int32(u), count: rows.count(of: u)) }
        let threads = max(1, min(context.threads, data.interactionCount))
        let stepsPerThread = (data.interactionCount + threads - 1) / threads
        let clock = Stopwatch()
        for epoch in 1...max(1, c.epochs) where c.epochs > 0 {
            let base = rng.split(stream: epoch)
            let results = Parallel.mapChunks(count: threads, chunkSize: 1, threads: threads) { range in
                var local = base.split(stream: range.lowerBound)
                var step = Stepper(k: k, c: c, users: users, items: items, bias: bias,
                                   userSquares: userSquares, itemSquares: itemSquares)
                var loss = 0.0, correct = 0, skipped = 0
                for _ in 0..<stepsPerThread {
                    let e = local.nextInt(below: pairUser.count)
                    let u = Int(pairUser[e]), i = Int(rows.columns[e])
                    var j = -1
                    for _ in 0..<8 {
                        let candidate = negatives?.sample(&local) ?? local.nextInt(below: data.itemCount)
                        if !rows.contains(row: u, column: Int32(candidate)) { j = candidate; break }
                    }
                    guard j >= 0 else { skipped += 1; continue }
                    let x = step.update(user: u, positive: i, negative: j)
                    loss += Double(x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x)))
                    if x > 0 { correct += 1 }
                }
                return (loss, correct, stepsPerThread - skipped)
            }
            let loss = results.reduce(0) { $0 + $1.0 }, correct = results.reduce(0) { $0 + $1.1 }
            let taken = max(1, results.reduce(0) { $0 + $1.2 })
            context.history.record(step: epoch, ["loss": loss / Double(taken), "correct": Double(correct) / Double(taken)])
            context.progress("bpr: epoch \(epoch)/\(c.epochs) loss=\(String(format6: loss / Double(taken))) "
                + "correct=\(String(format6: Double(correct) / Double(taken))) elapsed=\(String(format6: clock.elapsedSeconds))s")
        }
        return FactorizationModel(algorithm: "bpr", userFactors: users.matrix, itemFactors: items.matrix,
                                  itemBias: bias.matrix.storage)
    }
}

/// One BPR gradient step on shared buffers (Hogwild: no locks).
private struct Stepper {
    let k: Int
    let c: BPR.Configuration
    let users: RowBuffer, items: RowBuffer, bias: RowBuffer
    let userSquares: RowBuffer, itemSquares: RowBuffer

    init(k: Int, c: BPR.Configuration, users: RowBuffer, items: RowBuffer, bias: RowBuffer,
         userSquares: RowBuffer, itemSquares: RowBuffer) {
        self.k = k; self.c = c; self.users = users; self.items = items; self.bias = bias
        self.userSquares = userSquares; self.itemSquares = itemSquares
    }

    /// Updates x_u, y_i, y_j, b_i, b_j and returns the score margin before the step.
    @inline(__always)
    mutating func update(user u: Int, positive i: Int, negative j: Int) -> Float {
        let xu = users.row(u), yi = items.row(i), yj = items.row(j)
        let x = bias.base[i] - bias.base[j] + marginDot(xu, yi, yj, k: k)
        let z = 1 / (1 + exp(x))  // σ(−x): the gradient weight
        let lr = c.learningRate, reg = c.regularization
        switch c.optimizer {
        case .sgd:
            sgdStep(xu, yi, yj, k: k, z: z, lr: lr, reg: reg)
            bias.base[i] += lr * (z - reg * bias.base[i])
            bias.base[j] += lr * (-z - reg * bias.base[j])
        case .adagrad:
            let su = userSquares.row(u), si = itemSquares.row(i), sj = itemSquares.row(j)
            for f in 0..<k {
                let uf = xu[f], d = yi[f] - yj[f]
                let gu = z * d - reg * uf, gi = z * uf - reg * yi[f], gj = -z * uf - reg * yj[f]
                su[f] += gu * gu; si[f] += gi * gi; sj[f] += gj * gj
                xu[f] += lr * gu / (su[f].squareRoot() + 1e-8)
                yi[f] += lr * gi / (si[f].squareRoot() + 1e-8)
                yj[f] += lr * gj / (sj[f].squareRoot() + 1e-8)
            }
            let gbi = z - reg * bias.base[i], gbj = -z - reg * bias.base[j]
            si[k] += gbi * gbi; sj[k] += gbj * gbj
            bias.base[i] += lr * gbi / (si[k].squareRoot() + 1e-8)
            bias.base[j] += lr * gbj / (sj[k].squareRoot() + 1e-8)
        }
        return x
    }
}

// SIMD kernels for the BPR step (8 lanes, then a scalar tail). Written with explicit vectors because
// the compiler cannot prove that the three rows do not alias and would not vectorise the plain loops.
// Plain `a + b * c` (not `addProduct`), which stays fast at the default x86-64 target.

/// `Σ_f xu[f] · (yi[f] − yj[f])`.
@inline(__always)
func marginDot(_ xu: UnsafeMutablePointer<Float>, _ yi: UnsafeMutablePointer<Float>,
               _ yj: UnsafeMutablePointer<Float>, k: Int) -> Float {
    var acc = SIMD8<Float>()
    var f = 0
    while f + 8 <= k {
        let x = UnsafeRawPointer(xu + f).loadUnaligned(as: SIMD8<Float>.self)
        let a = UnsafeRawPointer(yi + f).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(yj + f).loadUnaligned(as: SIMD8<Float>.self)
        acc += x * (a - b)
        f += 8
    }
    var sum = acc.sum()
    while f < k {
        sum += xu[f] * (yi[f] - yj[f])
        f += 1
    }
    return sum
}

/// One SGD step on `xu`, `yi`, `yj` with gradient weight `z`.
@inline(__always)
func sgdStep(_ xu: UnsafeMutablePointer<Float>, _ yi: UnsafeMutablePointer<Float>, _ yj: UnsafeMutablePointer<Float>,
             k: Int, z: Float, lr: Float, reg: Float) {
    var f = 0
    let zv = SIMD8<Float>(repeating: z), lrv = SIMD8<Float>(repeating: lr), regv = SIMD8<Float>(repeating: reg)
    while f + 8 <= k {
        let u = UnsafeRawPointer(xu + f).loadUnaligned(as: SIMD8<Float>.self)
        let a = UnsafeRawPointer(yi + f).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(yj + f).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(xu + f).storeBytes(of: u + lrv * (zv * (a - b) - regv * u), as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(yi + f).storeBytes(of: a + lrv * (zv * u - regv * a), as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(yj + f).storeBytes(of: b - lrv * (zv * u + regv * b), as: SIMD8<Float>.self)
        f += 8
    }
    while f < k {
        let uf = xu[f], d = yi[f] - yj[f]
        xu[f] += lr * (z * d - reg * uf)
        yi[f] += lr * (z * uf - reg * yi[f])
        yj[f] += lr * (-z * uf - reg * yj[f])
        f += 1
    }
}
