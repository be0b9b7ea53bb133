import Foundation
import RummageCore

/// First-order optimisers for dense parameters and sparse embedding tables.
///
/// Embedding tables are updated lazily: only rows the batch touched move, and their moments too
/// (TensorFlow's LazyAdam / sparse Adagrad), so a step costs O(touched rows), not O(table).
public struct Optimizer: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Adam (Kingma & Ba 2015) with bias correction.
        case adam
        /// Adagrad (Duchi et al. 2011).
        case adagrad
    }

    public var kind: Kind
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// Initial Adagrad accumulator value.
    public var adagradInitial: Float = 0.1
    /// Update only the embedding rows a batch touched (true), or every row every step like a dense
    /// optimiser (`torch.optim.Adam` on an `nn.Embedding`), where untouched rows keep moving by their
    /// decaying momentum.
    public var lazyTables = true
    /// Number of `step` calls so far (Adam's bias correction).
    public private(set) var steps = 0

    /// Threads for updates of whole tables (non-lazy mode).
    public var threads = 1

    public init(kind: Kind, lazyTables: Bool = true, threads: Int = 1) {
        self.kind = kind
        self.lazyTables = lazyTables
        self.threads = threads
    }

    /// Applies one update with `learningRate` to every parameter and table from its gradient.
    /// Gradients are left in place (the caller zeroes them).
    public mutating func step(parameters: [DenseParameter], tables: [EmbeddingTable], learningRate: Float) {
        steps += 1
        for p in parameters {
            prepare(&p.firstMoment, &p.secondMoment, count: p.value.count)
            p.value.withUnsafeMutableBufferPointer { w in
                p.gradient.withUnsafeBufferPointer { g in
                    p.firstMoment.withUnsafeMutableBufferPointer { m in
                        p.secondMoment.withUnsafeMutableBufferPointer { v in
                            update(w.baseAddress!, g.baseAddress!, m.baseAddress!, v.baseAddress!, count: w.count, learningRate)
                        }
                    }
                }
            }
        }
        for t in tables {
            prepare(&t.firstMoment, &t.secondMoment, count: t.weights.count)
            let d = t.dimension
            if !lazyTables {
                // Scatter the touched rows into the table's reusable full-size gradient.
                if t.denseGradient.count != t.weights.count {
                    t.denseGradient = [Float](repeating: 0, count: t.weights.count)
                } else {
                    t.denseGradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                }
                for (slot, row) in t.touchedRows.enumerated() {
                    t.denseGradient.replaceSubrange(Int(row) * d..<(Int(row) + 1) * d, with: t.gradients[slot * d..<(slot + 1) * d])
                }
                let optimizer = self, count = t.weights.count
                t.weights.withUnsafeMutableBufferPointer { w in
                    t.denseGradient.withUnsafeBufferPointer { g in
                        t.firstMoment.withUnsafeMutableBufferPointer { m in
                            t.secondMoment.withUnsafeMutableBufferPointer { v in
                                // Disjoint ranges per worker.
                                nonisolated(unsafe) let w = w.baseAddress!, m = m.baseAddress!, v = v.baseAddress!
                                nonisolated(unsafe) let g = g.baseAddress!
                                Parallel.forEachChunk(count: count, chunkSize: 1 << 16, threads: threads) { r in
                                    optimizer.update(w + r.lowerBound, g + r.lowerBound, m + r.lowerBound, v + r.lowerBound,
                                                     count: r.count, learningRate)
                                }
                            }
                        }
                    }
                }
                continue
            }
            t.weights.withUnsafeMutableBufferPointer { w in
                t.gradients.withUnsafeBufferPointer { g in
                    t.firstMoment.withUnsafeMutableBufferPointer { m in
                        t.secondMoment.withUnsafeMutableBufferPointer { v in
                            for (slot, row) in t.touchedRows.enumerated() {
                                let offset = Int(row) * d
                                update(w.baseAddress! + offset, g.baseAddress! + slot * d, m.baseAddress! + offset,
                                       v.baseAddress! + offset, count: d, learningRate)
                            }
                        }
                    }
                }
            }
        }
    }

    private func prepare(_ m: inout [Float], _ v: inout [Float], count: Int) {
        guard v.count != count else { return }
        switch kind {
        case .adam:
            m = [Float](repeating: 0, count: count)
            v = [Float](repeating: 0, count: count)
        case .adagrad:
            v = [Float](repeating: adagradInitial, count: count)
        }
    }

    @inline(__always)
    private func update(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                        _ v: UnsafeMutablePointer<Float>, count: Int, _ learningRate: Float) {
        switch kind {
        case .adam:
            let correction1 = 1 - pow(beta1, Float(steps)), correction2 = 1 - pow(beta2, Float(steps))
            let stepSize = learningRate * correction2.squareRoot() / correction1
            let epsilonHat = epsilon * correction2.squareRoot()
            for i in 0..<count {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                w[i] -= stepSize * m[i] / (v[i].squareRoot() + epsilonHat)
            }
        case .adagrad:
            for i in 0..<count {
                v[i] += g[i] * g[i]
                w[i] -= learningRate * g[i] / (v[i].squareRoot() + epsilon)
            }
        }
    }
}

/// Scales all gradients down so that their global L2 norm is at most `maxNorm`; returns the norm
/// before clipping.
@discardableResult
public func clipGradients(parameters: [DenseParameter], tables: [EmbeddingTable], maxNorm: Float) -> Float {
    var squares: Double = 0
    for p in parameters { for g in p.gradient { squares += Double(g * g) } }
    for t in tables { for g in t.gradients { squares += Double(g * g) } }
    let norm = Float(squares.squareRoot())
    if norm > maxNorm && norm > 0 {
        let factor = maxNorm / norm
        for p in parameters { for i in p.gradient.indices { p.gradient[i] *= factor } }
        for t in tables { t.scaleGradients(by: factor) }
    }
    return norm
}

/// Learning rate as a function of the step: optional linear warm-up, then constant, linear or cosine decay.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Decay: String, Sendable, CaseIterable { case constant, linear, cosine }

    public var base: Float
    public var decay: Decay
    public var warmupSteps: Int
    /// Rate reached at the last step, as a fraction of `base` (linear and cosine decay).
    public var finalFraction: Float

    public init(base: Float, decay: Decay = .constant, warmupSteps: Int = 0, finalFraction: Float = 0.1) {
        self.base = base
        self.decay = decay
        self.warmupSteps = warmupSteps
        self.finalFraction = finalFraction
    }

    /// The rate for 0-based `step` of `totalSteps`.
    public func rate(step: Int, totalSteps: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps - 1)
        let progress = min(1, Float(step - warmupSteps) / Float(span))
        switch decay {
        case .constant: return base
        case .linear: return base * (1 - (1 - finalFraction) * progress)
        case .cosine: return base * (finalFraction + (1 - finalFraction) * 0.5 * (1 + cos(Float.pi * progress)))
        }
    }
}
