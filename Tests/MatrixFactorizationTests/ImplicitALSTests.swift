import LinearAlgebra
import MatrixFactorization
import RummageCore
import RummageTestSupport
import Testing
import Training

@Suite struct ImplicitALSTests {
    func configuration(_ solver: ImplicitALS.Solver = .conjugateGradient, iterations: Int = 10) -> ImplicitALS.Configuration {
        var c = ImplicitALS.Configuration()
        c.factors = 4
        c.iterations = iterations
        c.regularization = 0.1
        c.alpha = 5
        c.solver = solver
        // Hu et al.'s loss (the `revisited` configurations below are Rendle et al.'s).
        c.unobservedWeight = nil
        c.regularizationExponent = 0
        return c
    }

    @Test(arguments: [ImplicitALS.Solver.conjugateGradient, .cholesky])
    func checkerboardRecoversTheBlocks(solver: ImplicitALS.Solver) {
        // Hold out (user 0, item 4); the even block must still score it above every odd item.
        let data = Fixtures.checkerboard(size: 20, removing: [[0, 4]])
        let model = ImplicitALS.fit(data, configuration: configuration(solver), context: TrainingContext(threads: 2, seed: 1))
        let seen = data.items(of: UserIndex(0)).map { ItemIndex($0) }
        #expect(model.recommend(for: UserIndex(0), k: 1, excluding: seen).first?.index == 4)
        for u in 0..<20 {
            let scores = model.scores(for: UserIndex(u), items: (0..<20).map { ItemIndex($0) })
            let own = (0..<20).filter { ($0 + u) % 2 == 0 && !($0 == 4 && u == 0) }.map { scores[$0] }
            let other = (0..<20).filter { ($0 + u) % 2 == 1 }.map { scores[$0] }
            #expect(own.min()! > other.max()!)
        }
    }

    /// Rendle et al. 2022's formulation: unobserved weight 0.3, frequency-scaled regularisation (ν = 1).
    func revisited(_ solver: ImplicitALS.Solver = .conjugateGradient, iterations: Int = 10) -> ImplicitALS.Configuration {
        var c = configuration(solver, iterations: iterations)
        c.unobservedWeight = 0.3
        c.regularizationExponent = 1
        c.regularization = 0.01
        return c
    }

    @Test(arguments: [false, true])
    func exactSolvesNeverIncreaseTheLoss(revisitedLoss: Bool) {
        let data = Fixtures.randomInteractions(users: 60, items: 40, density: 0.1, seed: 2)
        let c = revisitedLoss ? revisited(.cholesky) : configuration(.cholesky)
        var losses: [Double] = []
        for iterations in 1...6 {
            var run = c
            run.iterations = iterations
            let model = ImplicitALS.fit(data, configuration: run, context: TrainingContext(threads: 1, seed: 3))
            losses.append(ImplicitALS.loss(model: model, data: data, configuration: c))
        }
        for (before, after) in zip(losses, losses.dropFirst()) { #expect(after <= before * (1 + 1e-5)) }
        #expect(losses.last! < losses.first!)
    }

    /// The reported loss of Rendle et al.'s formulation equals its objective computed here in double,
    /// Σ_observed (1 − s)² + α₀ Σ_all s² + λ Σ_u (n_u + α₀ I)‖x_u‖² + λ Σ_i (n_i + α₀ U)‖y_i‖², in the
    /// normal form (divided by α₀, over nnz / α₀ + unobserved pairs).
    @Test func revisitedLossIsRendleEtAlsObjective() {
        let data = Fixtures.randomInteractions(users: 30, items: 20, density: 0.2, seed: 6)
        let c = revisited(.cholesky, iterations: 2)
        let model = ImplicitALS.fit(data, configuration: c, context: TrainingContext(threads: 1, seed: 3))
        let (a0, lambda) = (Double(c.unobservedWeight!), Double(c.regularization))
        func vector(_ m: Matrix, _ r: Int) -> [Double] { (0..<m.columns).map { Double(m.storage[r * m.columns + $0]) } }
        var objective = 0.0
        for u in 0..<30 {
            let x = vector(model.userFactors, u)
            for i in 0..<20 {
                let y = vector(model.itemFactors, i), s = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }
                objective += a0 * s * s + (data.contains(UserIndex(u), ItemIndex(i)) ? (1 - s) * (1 - s) : 0)
            }
            objective += lambda * (Double(data.byUser.count(of: u)) + a0 * 20) * x.reduce(0) { $0 + $1 * $1 }
        }
        for i in 0..<20 {
            objective += lambda * (Double(data.byItem.count(of: i)) + a0 * 30) * vector(model.itemFactors, i).reduce(0) { $0 + $1 * $1 }
        }
        let nnz = Double(data.interactionCount), normalised = objective / a0 / (nnz / a0 + 30 * 20 - nnz)
        let reported = ImplicitALS.loss(model: model, data: data, configuration: c)
        #expect(abs(reported - normalised) < 1e-4 * normalised, "\(reported) against \(normalised)")
    }

    @Test(arguments: [false, true])
    func conjugateGradientConvergesToTheCholeskySolution(revisitedLoss: Bool) {
        let data = Fixtures.randomInteractions(users: 30, items: 25, density: 0.2, seed: 4)
        var cg = revisitedLoss ? revisited(.conjugateGradient, iterations: 3) : configuration(.conjugateGradient, iterations: 3)
        cg.cgSteps = 50  // more steps than factors: CG is exact up to rounding
        var exactConfiguration = cg
        exactConfiguration.solver = .cholesky
        let exact = ImplicitALS.fit(data, configuration: exactConfiguration, context: TrainingContext(threads: 1))
        let iterative = ImplicitALS.fit(data, configuration: cg, context: TrainingContext(threads: 1))
        for (a, b) in zip(exact.userFactors.storage, iterative.userFactors.storage) { #expect(abs(a - b) < 1e-3) }
    }

    @Test func resultDoesNotDependOnThreadCount() {
        let data = Fixtures.randomInteractions(users: 200, items: 90, density: 0.05, seed: 5)
        let one = ImplicitALS.fit(data, configuration: configuration(), context: TrainingContext(threads: 1, seed: 9))
        let four = ImplicitALS.fit(data, configuration: configuration(), context: TrainingContext(threads: 4, seed: 9))
        #expect(one.userFactors == four.userFactors)
        #expect(one.itemFactors == four.itemFactors)
    }

    @Test func reportsProgressPerIteration() {
        let lines = LineCollector()
        _ = ImplicitALS.fit(Fixtures.checkerboard(size: 6), configuration: configuration(iterations: 3),
                            context: TrainingContext(threads: 1, progress: lines.add))
        #expect(lines.all.count == 3)
        #expect(lines.all.first?.hasPrefix("ials: iteration 1/3 loss=") == true)
    }
}
