import Dispatch
import Foundation
import Ranking
import RummageCore
import Synchronization
import Testing

@Suite struct GradientBoostedTreesTests {
    /// `lists` lists of `size` rows: feature 0 decides the graded label (0…3), features 1 and 2 are noise.
    static func lists(_ lists: Int, size: Int = 20, seed: UInt64) -> GradientBoostedTrees.Rows {
        var rng = SeededGenerator(seed: seed)
        var values: [Float] = [], labels: [Float] = []
        for _ in 0..<(lists * size) {
            let signal = rng.nextFloat()
            values += [signal, rng.nextFloat(), rng.nextFloat()]
            labels.append(Float(min(3, Int(signal * 4))))
        }
        return GradientBoostedTrees.Rows(values: values, columns: 3, labels: labels, groups: Array(repeating: size, count: lists))
    }

    var parameters: GradientBoostedTrees.Parameters {
        var p = GradientBoostedTrees.Parameters()
        p.rounds = 30
        p.maxDepth = 3
        return p
    }

    @Test func lambdaMARTLearnsTheGradedOrder() throws {
        let train = Self.lists(150, seed: 1), test = Self.lists(50, seed: 2)
        var reported: [Double] = []
        let model = try GradientBoostedTrees.train(train, parameters: parameters, validation: test) { _, value in
            if let value { reported.append(value) }
        }
        #expect(model.featureCount == 3)
        let scores = try model.predict(test.values, columns: 3)
        let learned = test.meanNDCG(scores: scores, cutoff: 10)
        let noise = test.meanNDCG(scores: test.values.enumerated().filter { $0.offset % 3 == 1 }.map(\.element), cutoff: 10)
        #expect(learned > 0.97 && learned > noise + 0.2, "NDCG@10 learned \(learned), noise feature \(noise)")
        #expect(reported.count == 30 && reported.last! > 0.95, "validation ndcg@10 per round: \(reported.suffix(3))")
    }

    /// Serving's prediction equals XGBoost's reference path through a DMatrix, missing values (NaN)
    /// included, trained and loaded for serving (one thread): through the complete-tree layout for
    /// LambdaMART and logistic models, and through XGBoost's in-place prediction for a forest deeper than
    /// that layout takes.
    @Test(arguments: [(GradientBoostedTrees.Parameters.Objective.lambdaMART, 3, true), (.logistic, 4, true), (.lambdaMART, 6, true), (.lambdaMART, 12, false)])
    func predictionEqualsTheMatrixPath(objective: GradientBoostedTrees.Parameters.Objective, depth: Int, completeTrees: Bool) throws {
        var train = Self.lists(100, seed: 5)
        let row = { (k: Int) in train.values[(k * 3)..<(k * 3 + 3)].map { $0 } }
        switch (objective, completeTrees) {
        case (.logistic, _):   // a click when features 0 and 1 together are high: many distinct scores
            (train.labels, train.groups) = ((0..<train.count).map { row($0)[0] + 0.5 * row($0)[1] > 0.75 ? 1 : 0 }, [])
        case (_, false):       // labels in fine teeth of feature 0: only deep trees fit them
            train.labels = (0..<train.count).map { Float(Int(row($0)[0] * 4096) % 4) }
        default:
            break
        }
        // 399 rows: sixteen-row blocks (the AVX-512 kernel, where the CPU has it) and a tail of 15.
        var values = Self.lists(21, size: 19, seed: 6).values
        for i in stride(from: 0, to: values.count, by: 7) { values[i] = .nan }
        var parameters = parameters
        (parameters.objective, parameters.maxDepth, parameters.minChildWeight) = (objective, depth, 0)
        let trained = try GradientBoostedTrees.train(train, parameters: parameters)
        let served = try GradientBoostedTrees(modelJSON: try trained.modelJSON(), threads: 1)
        #expect(trained.usesCompleteTrees == completeTrees && served.usesCompleteTrees == completeTrees)
        let reference = try trained.predictThroughMatrix(values, columns: 3)
        for scores in [try trained.predict(values, columns: 3), try served.predict(values, columns: 3)] {
            #expect(scores.count == reference.count)
            // Equal leaves added in the same order: equal scores (logistic: up to the last bits of exp).
            let worst = zip(scores, reference).map { abs($0 - $1) }.max() ?? 0
            #expect(objective == .logistic ? worst <= 1e-6 : scores == reference, "largest difference \(worst)")
        }
        #expect(Set(reference).count > 10, "the scores vary")
        // Contributions (SHAP): three features and a bias per row, summing to the row's margin.
        let contributions = try served.contributions(values, columns: 3)
        #expect(contributions.count == reference.count * 4)
        if objective == .lambdaMART {
            for (row, score) in reference.enumerated() {
                #expect(abs(contributions[(row * 4)..<(row * 4 + 4)].reduce(0, +) - score) < 1e-4, "row \(row)")
            }
        }
    }

    @Test func theSameSeedGivesTheSameModelAndItsJSONLoadsBackExactly() throws {
        let train = Self.lists(60, seed: 3)
        let a = try GradientBoostedTrees.train(train, parameters: parameters), b = try GradientBoostedTrees.train(train, parameters: parameters)
        let json = try a.modelJSON()
        #expect(json == (try b.modelJSON()) && !json.isEmpty)
        let loaded = try GradientBoostedTrees(modelJSON: json)
        #expect(try loaded.predict(train.values, columns: 3) == (try a.predict(train.values, columns: 3)))
    }

    @Test func predictionsFromManyThreadsAgree() throws {
        let train = Self.lists(60, seed: 4)
        let model = try GradientBoostedTrees.train(train, parameters: parameters)
        let expected = try model.predict(train.values, columns: 3)
        let results = Mutex([[Float]](repeating: [], count: 16))
        DispatchQueue.concurrentPerform(iterations: 16) { k in
            let scores = (try? model.predict(train.values, columns: 3)) ?? []
            results.withLock { $0[k] = scores }
        }
        #expect(results.withLock { $0 }.allSatisfy { $0 == expected })
    }

    /// Labels 0, 1, 2 ranked worst first: DCG = 1/log2(3) + 3/log2(4), ideal = 3 + 1/log2(3); a group
    /// without a positive label is left out of the mean.
    @Test func meanNDCGKnownAnswer() {
        let rows = GradientBoostedTrees.Rows(values: [0, 0, 0, 0, 0], columns: 1, labels: [0, 1, 2, 0, 0], groups: [3, 2])
        let expected = (1 / log2(3.0) + 1.5) / (3 + 1 / log2(3.0))
        #expect(abs(rows.meanNDCG(scores: [3, 2, 1, 5, 4], cutoff: 10) - expected) < 1e-12)
        #expect(abs(rows.meanNDCG(scores: [1, 2, 3, 0, 0], cutoff: 10) - 1) < 1e-12)
        #expect(abs(rows.meanNDCG(scores: [3, 2, 1, 0, 0], cutoff: 1) - 0) < 1e-12)
    }

    @Test func refusesRowsThatDoNotAddUp() {
        var rows = Self.lists(5, seed: 5)
        rows.groups = [20, 20]
        #expect(throws: RankingError.self) { _ = try GradientBoostedTrees.train(rows, parameters: parameters) }
        rows.groups = Array(repeating: 20, count: 5)
        rows.labels.removeLast()
        #expect(throws: RankingError.self) { _ = try GradientBoostedTrees.train(rows, parameters: parameters) }
        #expect(throws: RankingError.self) { _ = try GradientBoostedTrees(modelJSON: Array("not a model".utf8)) }
    }
}
