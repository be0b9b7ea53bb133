import Foundation
import LinearAlgebra
import RummageCore
import Training

/// Implicit-feedback alternating least squares, in two formulations:
/// - Hu, Koren & Volinsky (ICDM 2008): minimises `Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ (Σ‖x_u‖² +
///   Σ‖y_i‖²)` over all user–item pairs, where `p_ui = 1` for observed pairs (else 0) and
///   `c_ui = 1 + alpha · r_ui` with `r_ui` the interaction weight;
/// - Rendle et al., "Revisiting the Performance of iALS on Item Recommendation Benchmarks" (RecSys 2022),
///   the default, with `unobservedWeight` α₀: `Σ_observed (1 − x_u·y_i)² + α₀ Σ_{u,i} (x_u·y_i)²`, binary.
/// Either way a row's penalty may be scaled by its frequency (Rendle et al.'s ν): λ (n_u + α₀ N)^ν for a user
/// with n_u interactions among N items (α₀ = 1 in Hu's), and likewise for items.
///
/// Both are solved in one normal form: divided by the unobserved weight w (1 or α₀), each row solves
/// `(YᵀY + λ_u I + Y_uᵀ A_u Y_u) x_u = Y_uᵀ t_u` with per-entry weights a (Hu: c − 1; Rendle: 1/α₀), targets
/// t (Hu: c; Rendle: 1/α₀) and λ_u = λ (n_u + w N)^ν / w, either by a few warm-started conjugate-gradient
/// steps (Takács et al. 2011, as in `implicit`) or exactly by Cholesky (LAPACKE `sposv`).
///
/// Rows are solved in parallel; each row's solution depends only on the fixed side, so the result is
/// identical for any thread count. OpenBLAS is single-threaded (see `BLAS`) while rows run in parallel.
///
/// Kernel names: `n` rows in the solved block, `k` factors, `G = YᵀY`, `λ` a row's penalty, `Yu` a row's
/// gathered fixed-side vectors, `a` and `t` their weights and targets.
public enum ImplicitALS {
    public enum Solver: String, Sendable, CaseIterable {
        /// Warm-started conjugate gradient with `cgSteps` steps (fast, approximate).
        case conjugateGradient = "cg"
        /// Exact solve by Cholesky factorisation (slower, for checking and small problems).
        case cholesky
    }

    /// The defaults are Rendle et al.'s formulation with the settings `rummage tune` chose on a validation
    /// split carved from NCF ML-1M's training part (docs/evaluation.md); `unobservedWeight = nil`,
    /// `regularizationExponent = 0` give Hu et al.'s (with `alpha`).
    public struct Configuration: Sendable, Equatable {
        /// Width of the user and item vectors.
        public var factors: Int = 256
        /// Full iterations (users then items).
        public var iterations: Int = 15
        /// λ, the L2 penalty on every vector (scaled per row when `regularizationExponent` > 0).
        public var regularization: Float = 0.01
        /// Confidence slope in Hu et al.'s loss: `c_ui = 1 + alpha · r_ui`.
        public var alpha: Float = 2
        public var solver: Solver = .conjugateGradient
        /// Conjugate-gradient steps per row and half-iteration.
        public var cgSteps: Int = 3
        /// Initial vectors are uniform in `[0, initScale)` (as in `implicit`).
        public var initScale: Float = 0.01
        /// Report the training loss every this many iterations (0: never; it costs about one CG step).
        public var lossEvery: Int = 1
        /// α₀: when set, Rendle et al.'s loss (observed pairs weight 1, every pair α₀ on its square; `alpha`
        /// unused); nil: Hu et al.'s.
        public var unobservedWeight: Float? = 0.1
        /// ν: each row's λ scaled by (its interactions + w × the other side's count)^ν; 0: plain λ.
        public var regularizationExponent: Float = 1

        public init() {}

        /// The weight of an unobserved pair, w (1 in Hu et al.'s loss).
        var unobserved: Float { unobservedWeight ?? 1 }

        /// An entry's weight a and target t in the normal form (see the type's description).
        @inline(__always) func entry(_ value: Float) -> (weight: Float, target: Float) {
            if let a0 = unobservedWeight { return (1 / a0, 1 / a0) }
            return (alpha * value, 1 + alpha * value)
        }

        /// λ for a row with `count` interactions against `others` rows on the fixed side, in the normal form.
        func rowRegularization(count: Int, others: Int) -> Float {
            let w = unobserved
            guard regularizationExponent != 0 else { return regularization / w }
            return regularization * Float(pow(Double(count) + Double(w) * Double(others), Double(regularizationExponent))) / w
        }
    }

    /// Trains on `data` (rows users, columns items, values `r_ui`).
    public static func fit(_ data: InteractionMatrix, configuration: Configuration = .init(),
                           context: TrainingContext = .init()) -> FactorizationModel {
        let c = configuration
        precondition(c.factors > 0 && c.iterations >= 0 && c.regularization >= 0 && c.alpha >= 0 && c.cgSteps > 0)
        precondition(c.unobservedWeight.map { $0 > 0 } ?? true && c.regularizationExponent >= 0)

        var rng = SeededGenerator(seed: context.seed)
        let users = RowBuffer(Matrix(rows: data.userCount, columns: c.factors,
                                     storage: (0..<data.userCount * c.factors).map { _ in rng.nextFloat() * c.initScale }))
        let items = RowBuffer(Matrix(rows: data.itemCount, columns: c.factors,
                                     storage: (0..<data.itemCount * c.factors).map { _ in rng.nextFloat() * c.initScale }))
        let clock = Stopwatch()
        for iteration in 1...max(1, c.iterations) where c.iterations > 0 {
            solve(users, fixed: items, rows: data.byUser, c, threads: context.threads)
            solve(items, fixed: users, rows: data.byItem, c, threads: context.threads)
            var line = "ials: iteration \(iteration)/\(c.iterations)"
            if c.lossEvery > 0 && (iteration % c.lossEvery == 0 || iteration == c.iterations) {
                let value = loss(users: users, items: items, data: data, c, threads: context.threads)
                line += " loss=\(String(format6: value))"
                context.history.record(step: iteration, ["loss": value])
            }
            context.progress(line + " elapsed=\(String(format6: clock.elapsedSeconds))s")
        }
        return FactorizationModel(algorithm: "ials", userFactors: users.matrix, itemFactors: items.matrix)
    }

    /// `G = FᵀF` for the fixed side `F` (each row's λ is added where it is solved).
    static func gram(_ fixed: RowBuffer) -> [Float] {
        let k = fixed.columns
        var g = [Float](repeating: 0, count: k * k)
        g.withUnsafeMutableBufferPointer { BLAS.syrkTransposedUpper(rows: fixed.rows, columns: k, fixed.base, $0.baseAddress!) }
        for i in 0..<k {
            for j in 0..<i { g[i * k + j] = g[j * k + i] }  // mirror the upper triangle
        }
        return g
    }

    /// Re-solves every row of `target` against `fixed`, in parallel.
    static func solve(_ target: RowBuffer, fixed: RowBuffer, rows: SparseRows, _ c: Configuration, threads: Int) {
        let k = c.factors
        let g = gram(fixed)
        let longest = (0..<rows.rowCount).reduce(0) { max($0, rows.count(of: $1)) }
        Parallel.forEachChunk(count: rows.rowCount, chunkSize: 64, threads: threads) { range in
            var workspace = RowWorkspace(k: k, capacity: longest)
            g.withUnsafeBufferPointer { g in
                for u in range {
                    let n = rows.count(of: u)
                    let x = target.row(u)
                    if n == 0 {
                        x.update(repeating: 0, count: k)
                        continue
                    }
                    workspace.gather(rows, row: u, from: fixed, c)
                    let lambda = c.rowRegularization(count: n, others: fixed.rows)
                    switch c.solver {
                    case .conjugateGradient: workspace.conjugateGradient(n: n, g: g.baseAddress!, lambda: lambda, x: x, steps: c.cgSteps)
                    case .cholesky: workspace.cholesky(n: n, g: g.baseAddress!, lambda: lambda, x: x)
                    }
                }
            }
        }
    }

    /// The objective in the normal form (divided by the unobserved weight), over `Σ t_ui + (users × items −
    /// nnz)` (as `implicit` reports Hu et al.'s).
    public static func loss(model: FactorizationModel, data: InteractionMatrix, configuration: Configuration,
                            threads: Int = 1) -> Double {
        loss(users: RowBuffer(model.userFactors), items: RowBuffer(model.itemFactors), data: data, configuration, threads: threads)
    }

    static func loss(users: RowBuffer, items: RowBuffer, data: InteractionMatrix, _ c: Configuration, threads: Int) -> Double {
        let k = c.factors
        let yty = gram(items)
        let rows = data.byUser
        let parts = Parallel.mapChunks(count: rows.rowCount, chunkSize: 256, threads: threads) { range in
            var total = 0.0, confidence = 0.0, userPenalty = 0.0
            var gx = [Float](repeating: 0, count: k)
            for u in range {
                let x = users.row(u)
                // Σ_all_i s_ui² = xᵀ (YᵀY) x; observed pairs add a s² − 2 t s + t (Hu: c (1 − s)² − s²).
                yty.withUnsafeBufferPointer { BLAS.gemv(rows: k, columns: k, $0.baseAddress!, x, gx.withUnsafeMutableBufferPointer { $0.baseAddress! }) }
                var all: Float = 0, norm: Float = 0
                for f in 0..<k { all += x[f] * gx[f]; norm += x[f] * x[f] }
                var observed = 0.0
                for e in rows.range(of: u) {
                    let y = items.row(Int(rows.columns[e]))
                    var s: Float = 0
                    for f in 0..<k { s += x[f] * y[f] }
                    let (a, t) = c.entry(rows.values[e])
                    observed += Double(a * s * s - 2 * t * s + t)
                    confidence += Double(t)
                }
                total += Double(all) + observed
                userPenalty += Double(c.rowRegularization(count: rows.count(of: u), others: data.itemCount) * norm)
            }
            return (total, confidence, userPenalty)
        }
        var total = 0.0, confidence = 0.0
        for p in parts { total += p.0 + p.2; confidence += p.1 }
        for i in 0..<items.rows {
            let y = items.row(i)
            var norm: Float = 0
            for f in 0..<k { norm += y[f] * y[f] }
            total += Double(c.rowRegularization(count: data.byItem.count(of: i), others: data.userCount) * norm)
        }
        let pairs = Double(data.userCount) * Double(data.itemCount) - Double(data.interactionCount)
        return total / (confidence + pairs)
    }
}

/// Per-thread scratch space for solving one row: the gathered fixed-side vectors and CG vectors.
struct RowWorkspace {
    let k: Int
    /// `n × k` gathered vectors `Yu`.
    var gathered: [Float]
    /// The row's entries' weights a (Hu: c − 1) and targets t (Hu: c).
    var weight: [Float], target: [Float]
    /// Length-`n` temporary.
    var t: [Float]
    var r: [Float], p: [Float], ap: [Float]
    /// `k × k` system for the Cholesky solver.
    var system: [Float]

    init(k: Int, capacity: Int) {
        self.k = k
        gathered = [Float](repeating: 0, count: max(1, capacity) * k)
        weight = [Float](repeating: 0, count: max(1, capacity))
        target = weight
        t = weight
        r = [Float](repeating: 0, count: k); p = r; ap = r
        system = [Float](repeating: 0, count: k * k)
    }

    /// Copies the fixed-side vectors of `row`'s entries into `gathered`, with their weights and targets.
    mutating func gather(_ rows: SparseRows, row: Int, from fixed: RowBuffer, _ c: ImplicitALS.Configuration) {
        let k = self.k
        gathered.withUnsafeMutableBufferPointer { dst in
            var offset = 0
            for e in rows.range(of: row) {
                (dst.baseAddress! + offset * k).update(from: fixed.row(Int(rows.columns[e])), count: k)
                (weight[offset], target[offset]) = c.entry(rows.values[e])
                offset += 1
            }
        }
    }

    /// `steps` conjugate-gradient steps on `A x = b`, starting from the current `x`, where
    /// `A = G + λI + Yuᵀ diag(a) Yu` and `b = Yuᵀ t`. Never forms `A`.
    mutating func conjugateGradient(n: Int, g: UnsafePointer<Float>, lambda: Float, x: UnsafeMutablePointer<Float>, steps: Int) {
        let k = self.k
        gathered.withUnsafeBufferPointer { yu in
        weight.withUnsafeBufferPointer { a in
        target.withUnsafeBufferPointer { b in
        t.withUnsafeMutableBufferPointer { t in
        r.withUnsafeMutableBufferPointer { r in
        p.withUnsafeMutableBufferPointer { p in
        ap.withUnsafeMutableBufferPointer { ap in
            let yu = yu.baseAddress!, t = t.baseAddress!, r = r.baseAddress!, p = p.baseAddress!, ap = ap.baseAddress!
            // r = b − A x = Yuᵀ (t − a ∘ (Yu x)) − G x − λ x
            BLAS.gemv(rows: n, columns: k, yu, x, t)
            for i in 0..<n { t[i] = b[i] - a[i] * t[i] }
            BLAS.gemv(transpose: true, rows: n, columns: k, yu, t, r)
            BLAS.gemv(rows: k, columns: k, alpha: -1, g, x, beta: 1, r)
            for f in 0..<k { r[f] -= lambda * x[f] }
            p.update(from: r, count: k)
            var rsOld: Float = 0
            for f in 0..<k { rsOld += r[f] * r[f] }
            for _ in 0..<steps {
                if rsOld < 1e-20 { break }
                // ap = A p = G p + λ p + Yuᵀ (a ∘ (Yu p))
                BLAS.gemv(rows: n, columns: k, yu, p, t)
                for i in 0..<n { t[i] *= a[i] }
                BLAS.gemv(transpose: true, rows: n, columns: k, yu, t, ap)
                BLAS.gemv(rows: k, columns: k, g, p, beta: 1, ap)
                for f in 0..<k { ap[f] += lambda * p[f] }
                var pap: Float = 0
                for f in 0..<k { pap += p[f] * ap[f] }
                guard pap > 0 else { break }
                let step = rsOld / pap
                var rsNew: Float = 0
                for f in 0..<k {
                    x[f] += step * p[f]
                    r[f] -= step * ap[f]
                    rsNew += r[f] * r[f]
                }
                let beta = rsNew / rsOld
                for f in 0..<k { p[f] = r[f] + beta * p[f] }
                rsOld = rsNew
            }
        }}}}}}}
    }

    /// Exact solve: forms `A = G + λI + Yuᵀ diag(a) Yu` and `b = Yuᵀ t`, then Cholesky.
    mutating func cholesky(n: Int, g: UnsafePointer<Float>, lambda: Float, x: UnsafeMutablePointer<Float>) {
        let k = self.k
        // Scale gathered rows by sqrt(a) so that one syrk adds Yuᵀ diag(a) Yu; b uses unscaled rows.
        weight.withUnsafeBufferPointer { w in
        target.withUnsafeBufferPointer { b in
        gathered.withUnsafeMutableBufferPointer { yu in
        system.withUnsafeMutableBufferPointer { a in
            let yu = yu.baseAddress!, a = a.baseAddress!
            BLAS.gemv(transpose: true, rows: n, columns: k, yu, b.baseAddress!, x)
            a.update(from: g, count: k * k)
            for f in 0..<k { a[f * k + f] += lambda }
            for i in 0..<n {
                let s = w[i].squareRoot()
                for f in 0..<k { yu[i * k + f] *= s }
            }
            BLAS.syrkTransposedUpper(rows: n, columns: k, yu, a)
            let solved = BLAS.solvePositiveDefinite(n: k, a, x)
            precondition(solved, "ALS normal equations are not positive definite (regularization must be > 0)")
        }}}}
    }
}

extension String {
    /// Six significant decimals without Foundation formatting.
    init(format6 value: Double) {
        self = value.isFinite ? "\((value * 1e6).rounded() / 1e6)" : "\(value)"
    }
}
