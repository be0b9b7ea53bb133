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

    @Test func exactSolvesNeverIncreaseTheLoss() {
        let data = Fixtures.randomInteractions(users: 60, items: 40, density: 0.1, seed: 2)
        var losses: [Double] = []
        for iterations in 1...6 {
            let model = ImplicitALS.fit(data, configuration: configuration(.cholesky, iterations: iterations),
                                        context: TrainingContext(threads: 1, seed: 3))
            losses.append(ImplicitALS.loss(model: model, data: data, configuration: configuration(.cholesky)))
        }
        for (before, after) in zip(losses, losses.dropFirst()) { #expect(after <= before * (1 + 1e-5)) }
        #expect(losses.last! < losses.first!)
    }

    @Test func conjugateGradientConvergesToTheCholeskySolution() {
        let data = Fixtures.randomInteractions(users: 30, items: 25, density: 0.2, seed: 4)
        var cg = configuration(.conjugateGradient, iterations: 3)
        cg.cgSteps = 50  // more steps than factors: CG is exact up to rounding
        let exact = ImplicitALS.fit(data, configuration: configuration(.cholesky, iterations: 3), context: TrainingContext(threads: 1))
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
