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

    /// Mean NDCG@10 of each list ordered by `scores` (gains 2^label − 1).
    static func ndcg(_ rows: GradientBoostedTrees.Rows, _ scores: [Float]) -> Double {
        var total = 0.0, start = 0
        for size in rows.groups {
            let labels = Array(rows.labels[start..<start + size]), ranked = Array(scores[start..<start + size])
            func dcg(_ order: [Int]) -> Double {
                order.prefix(10).enumerated().reduce(0) { $0 + (pow(2, Double(labels[$1.element])) - 1) / log2(Double($1.offset) + 2) }
            }
            let ideal = dcg(labels.indices.sorted { labels[$0] > labels[$1] })
            total += ideal == 0 ? 1 : dcg(ranked.indices.sorted { (ranked[$0], -$0) > (ranked[$1], -$1) }) / ideal
            start += size
        }
        return total / Double(rows.groups.count)
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
        let learned = Self.ndcg(test, scores), noise = Self.ndcg(test, test.values.enumerated().filter { $0.offset % 3 == 1 }.map(\.element))
        #expect(learned > 0.97 && learned > noise + 0.2, "NDCG@10 learned \(learned), noise feature \(noise)")
        #expect(reported.count == 30 && reported.last! > 0.95, "validation ndcg@10 per round: \(reported.suffix(3))")
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
