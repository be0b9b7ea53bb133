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

    /// Prediction in place (serving's) equals XGBoost's reference path through a DMatrix, missing values
    /// (NaN) included, on a booster loaded for serving (one thread).
    @Test func inPlacePredictionEqualsTheMatrixPath() throws {
        let train = Self.lists(100, seed: 5)
        var values = Self.lists(20, seed: 6).values
        for i in stride(from: 0, to: values.count, by: 7) { values[i] = .nan }
        let trained = try GradientBoostedTrees.train(train, parameters: parameters)
        let served = try GradientBoostedTrees(modelJSON: try trained.modelJSON(), threads: 1)
        let reference = try trained.predictThroughMatrix(values, columns: 3)
        #expect(try trained.predict(values, columns: 3) == reference && (try served.predict(values, columns: 3)) == reference)
        #expect(Set(reference).count > 10, "the scores vary")
        // Contributions (SHAP): three features and a bias per row, summing to the row's score.
        let contributions = try served.contributions(values, columns: 3)
        #expect(contributions.count == reference.count * 4)
        for (row, score) in reference.enumerated() {
            #expect(abs(contributions[(row * 4)..<(row * 4 + 4)].reduce(0, +) - score) < 1e-4, "row \(row)")
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
