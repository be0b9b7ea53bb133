import MatrixFactorization
import RummageCore
import RummageTestSupport
import Testing
import Training

@Suite struct BPRTests {
    func configuration(_ optimizer: BPR.Optimizer = .sgd, sampling: BPR.NegativeSampling = .uniform) -> BPR.Configuration {
        var c = BPR.Configuration()
        c.factors = 8
        c.epochs = 60
        c.learningRate = optimizer == .sgd ? 0.1 : 0.05
        c.regularization = 0.001
        c.optimizer = optimizer
        c.negativeSampling = sampling
        return c
    }

    @Test(arguments: [(BPR.Optimizer.sgd, BPR.NegativeSampling.uniform), (.adagrad, .popularity)])
    func checkerboardRecoversTheBlocks(options: (BPR.Optimizer, BPR.NegativeSampling)) {
        let data = Fixtures.checkerboard(size: 20, removing: [[0, 4]])
        let model = BPR.fit(data, configuration: configuration(options.0, sampling: options.1),
                            context: TrainingContext(threads: 1, seed: 2))
        let seen = data.items(of: UserIndex(0)).map { ItemIndex($0) }
        #expect(model.recommend(for: UserIndex(0), k: 1, excluding: seen).first?.index == 4)
        var ordered = 0
        for u in 0..<20 {
            let scores = model.scores(for: UserIndex(u), items: (0..<20).map { ItemIndex($0) })
            let own = (0..<20).filter { ($0 + u) % 2 == 0 }.map { scores[$0] }
            let other = (0..<20).filter { ($0 + u) % 2 == 1 }.map { scores[$0] }
            if own.min()! > other.max()! { ordered += 1 }
        }
        #expect(ordered == 20)
    }

    @Test func lossDecreases() {
        let lines = LineCollector()
        let data = Fixtures.randomInteractions(users: 100, items: 60, density: 0.1, seed: 3)
        _ = BPR.fit(data, configuration: configuration(), context: TrainingContext(threads: 1, seed: 1, progress: lines.add))
        let losses = lines.all.map { line in Double(line.split(separator: " ")[3].dropFirst("loss=".count))! }
        #expect(losses.count == 60)
        #expect(losses.last! < 0.7 * losses.first!)
    }

    @Test func singleThreadIsDeterministicBySeed() {
        let data = Fixtures.randomInteractions(users: 50, items: 30, density: 0.15, seed: 4)
        let a = BPR.fit(data, configuration: configuration(), context: TrainingContext(threads: 1, seed: 7))
        let b = BPR.fit(data, configuration: configuration(), context: TrainingContext(threads: 1, seed: 7))
        let c = BPR.fit(data, configuration: configuration(), context: TrainingContext(threads: 1, seed: 8))
        #expect(a.userFactors == b.userFactors && a.itemFactors == b.itemFactors && a.itemBias == b.itemBias)
        #expect(a.itemFactors != c.itemFactors)
    }
}
