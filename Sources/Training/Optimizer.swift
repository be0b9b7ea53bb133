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
        let rule = UpdateRule(self, learningRate: learningRate)
        for p in parameters {
            prepare(&p.firstMoment, &p.secondMoment, count: p.value.count)
            p.value.withUnsafeMutableBufferPointer { w in
                p.gradient.withUnsafeBufferPointer { g in
                    p.firstMoment.withUnsafeMutableBufferPointer { m in
                        p.secondMoment.withUnsafeMutableBufferPointer { v in
                            rule.update(w.baseAddress!, g.baseAddress!, m.baseAddress!, v.baseAddress!, count: w.count)
                        }
                    }
                }
            }
        }
        for t in tables {
            prepare(&t.firstMoment, &t.secondMoment, count: t.weights.count)
            let d = t.dimension
            t.weights.withUnsafeMutableBufferPointer { w in
                t.gradients.withUnsafeBufferPointer { g in
                    t.firstMoment.withUnsafeMutableBufferPointer { m in
                        t.secondMoment.withUnsafeMutableBufferPointer { v in
                            nonisolated(unsafe) let w = w.baseAddress!, m = m.baseAddress!, v = v.baseAddress!
                            nonisolated(unsafe) let g = g.baseAddress
                            if lazyTables {
                                for (slot, row) in t.touchedRows.enumerated() {
                                    let offset = Int(row) * d
                                    rule.update(w + offset, g! + slot * d, m + offset, v + offset, count: d)
                                }
                                return
                            }
                            // Every row moves: touched rows by their gradient, the others by a zero gradient.
                            t.withSlots { slots in
                                nonisolated(unsafe) let slots = slots
                                Parallel.forEachChunk(count: t.rows, chunkSize: 4_096, threads: threads) { rows in
                                    for row in rows {
                                        let offset = row * d, slot = Int(slots[row])
                                        if slot >= 0 {
                                            rule.update(w + offset, g! + slot * d, m + offset, v + offset, count: d)
                                        } else {
                                            rule.updateWithoutGradient(w + offset, m + offset, v + offset, count: d)
                                        }
                                    }
                                }
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

    /// One step's update of a parameter slice, with the step's constants worked out once.
    private struct UpdateRule: Sendable {
        let kind: Kind
        let beta1: Float, beta2: Float
        /// Adam: learning rate × bias corrections; Adagrad: the learning rate.
        let stepSize: Float
        /// Adam: ε scaled by the second-moment bias correction; Adagrad: ε.
        let epsilon: Float

        init(_ optimizer: Optimizer, learningRate: Float) {
            kind = optimizer.kind
            beta1 = optimizer.beta1
            beta2 = optimizer.beta2
            switch kind {
            case .adam:
                let correction1 = 1 - pow(beta1, Float(optimizer.steps)), correction2 = 1 - pow(beta2, Float(optimizer.steps))
                stepSize = learningRate * correction2.squareRoot() / correction1
                epsilon = optimizer.epsilon * correction2.squareRoot()
            case .adagrad:
                stepSize = learningRate
                epsilon = optimizer.epsilon
            }
        }

        // Eight lanes at a time by hand: the compiler does not vectorise these loops over four pointers.
        @inline(__always)
        func update(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                    _ v: UnsafeMutablePointer<Float>, count: Int) {
            var i = 0
            while i + 8 <= count {
                var w8 = load(w + i), m8 = load(m + i), v8 = load(v + i)
                let g8 = load(g + i)
                switch kind {
                case .adam:
                    m8 = beta1 * m8 + (1 - beta1) * g8
                    v8 = beta2 * v8 + (1 - beta2) * g8 * g8
                    w8 -= stepSize * m8 / (v8.squareRoot() + epsilon)
                case .adagrad:
                    v8 += g8 * g8
                    w8 -= stepSize * g8 / (v8.squareRoot() + epsilon)
                }
                store(w8, w + i); store(m8, m + i); store(v8, v + i)
                i += 8
            }
            for i in i..<count {
                switch kind {
                case .adam:
                    m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                    w[i] -= stepSize * m[i] / (v[i].squareRoot() + epsilon)
                case .adagrad:
                    v[i] += g[i] * g[i]
                    w[i] -= stepSize * g[i] / (v[i].squareRoot() + epsilon)
                }
            }
        }

        /// `update` with a zero gradient: Adam's moments decay and the weights keep moving; Adagrad stays.
        @inline(__always)
        func updateWithoutGradient(_ w: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                                   _ v: UnsafeMutablePointer<Float>, count: Int) {
            guard kind == .adam else { return }
            var i = 0
            while i + 8 <= count {
                let m8 = beta1 * load(m + i), v8 = beta2 * load(v + i)
                store(load(w + i) - stepSize * m8 / (v8.squareRoot() + epsilon), w + i)
                store(m8, m + i); store(v8, v + i)
                i += 8
            }
            for i in i..<count {
                m[i] *= beta1
                v[i] *= beta2
                w[i] -= stepSize * m[i] / (v[i].squareRoot() + epsilon)
            }
        }

        @inline(__always)
        private func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
        @inline(__always)
        private func load(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { load(UnsafePointer(p)) }
        @inline(__always)
        private func store(_ x: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(p).storeBytes(of: x, as: SIMD8<Float>.self)
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
