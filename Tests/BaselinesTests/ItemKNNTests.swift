import Baselines
import Foundation
import RummageCore
import RummageTestSupport
import Testing
import Training

@Suite struct ItemKNNTests {
    @Test func checkerboardNeighboursAreTheSameParity() {
        // 10 × 10 checkerboard: items of equal parity share all 5 users, so s = 5 / (5 + shrink).
        let data = Fixtures.checkerboard(size: 10)
        let model = ItemKNNRecommender(training: data, configuration: .init(neighbours: 10, shrink: 1))
        for i in 0..<10 {
            let neighbours = model.similarity.columns(of: i)
            #expect(Set(neighbours) == Set((0..<10).filter { $0 != i && $0 % 2 == i % 2 }.map { Int32($0) }))
            for s in model.similarity.values(of: i) { #expect(abs(s - 5.0 / 6.0) < 1e-5) }
        }
    }

    @Test func similarItemsShareParity() {
        let model = ItemKNNRecommender(training: Fixtures.checkerboard(size: 10), configuration: .init(neighbours: 10, shrink: 1))
        let similar = model.similarItems(to: ItemIndex(3), k: 3)
        #expect(similar.map(\.index) == [1, 5, 7])  // all odd items tie; lower index first
        #expect(similar.allSatisfy { abs($0.score - 5.0 / 6.0) < 1e-5 })
    }

    @Test func checkerboardRecoversAHeldOutPair() {
        // Hold out (user 0, item 4): it must be user 0's top recommendation among unseen items.
        let data = Fixtures.checkerboard(size: 20, removing: [[0, 4]])
        let model = ItemKNNRecommender(training: data, configuration: .init(neighbours: 5, shrink: 0))
        let seen = data.items(of: UserIndex(0)).map { ItemIndex($0) }
        let top = model.recommend(for: UserIndex(0), k: 3, excluding: seen)
        #expect(top.first?.index == 4)
        #expect(top.dropFirst().allSatisfy { $0.score == 0 })  // odd items share no user with user 0's items
    }

    @Test func keepsAtMostKNeighboursPerItemAndMatchesBruteForce() {
        let data = Fixtures.randomInteractions(users: 60, items: 40, density: 0.15, seed: 8)
        let k = 5, shrink: Float = 2
        let model = ItemKNNRecommender(training: data, configuration: .init(neighbours: k, shrink: shrink))
        // Brute force: dense cosine with shrink, top-k per column j (ties: lower i).
        let columnsOfSimilarity = model.similarity.transposed()
        for j in 0..<40 {
            let uj = Set(data.users(of: ItemIndex(j)))
            var scores = [Float](repeating: -.infinity, count: 40)
            for i in 0..<40 where i != j {
                let ui = Set(data.users(of: ItemIndex(i)))
                let common = Float(ui.intersection(uj).count)
                if common > 0 {
                    scores[i] = common / (Float(ui.count).squareRoot() * Float(uj.count).squareRoot() + shrink + 1e-6)
                }
            }
            let expected = Array(scores.enumerated().filter { $0.element > -.infinity }
                .sorted { ($0.element, -$0.offset) > ($1.element, -$1.offset) }.prefix(k))
            let kept = columnsOfSimilarity.columns(of: j)
            #expect(kept.count == expected.count)
            #expect(Set(kept.map { Int($0) }) == Set(expected.map(\.offset)))
            for (i, s) in zip(kept, columnsOfSimilarity.values(of: j)) { #expect(abs(s - scores[Int(i)]) < 1e-5) }
        }
    }

    @Test func scoresAreTheSumOfNeighbourSimilaritiesAndThreadIndependent() {
        let data = Fixtures.randomInteractions(users: 80, items: 50, density: 0.1, seed: 4)
        let one = ItemKNNRecommender(training: data, context: TrainingContext(threads: 1))
        let three = ItemKNNRecommender(training: data, context: TrainingContext(threads: 3))
        #expect(one.similarity == three.similarity)
        let user = UserIndex(7)
        var expected = [Float](repeating: 0, count: 50)
        for i in data.items(of: user) {
            for k in one.similarity.range(of: Int(i)) { expected[Int(one.similarity.columns[k])] += one.similarity.values[k] }
        }
        #expect(one.scores(for: user, items: (0..<50).map { ItemIndex($0) }) == expected)
    }
}

@Suite struct SimpleBaselinesTests {
    @Test func popularityRanksByDistinctUsers() {
        // Item 2: 3 users; item 0: 2 users; item 1: 1 user; item 3: 0.
        let data = InteractionMatrix(userCount: 3, itemCount: 4, users: [0, 1, 2, 0, 1, 0, 0], items: [2, 2, 2, 0, 0, 1, 1])
        let model = PopularityRecommender(training: data)
        #expect(model.recommend(for: UserIndex(2), k: 4).map(\.index) == [2, 0, 1, 3])
        #expect(model.recommend(for: UserIndex(2), k: 2, excluding: [ItemIndex(2)]).map(\.index) == [0, 1])
        #expect(model.scores(for: UserIndex(0), items: [ItemIndex(1), ItemIndex(2)]) == [1, 3])
    }

    @Test func randomIsReproducibleAndUniform() {
        let a = RandomRecommender(userCount: 10, itemCount: 1000, seed: 1)
        let b = RandomRecommender(userCount: 10, itemCount: 1000, seed: 1)
        let c = RandomRecommender(userCount: 10, itemCount: 1000, seed: 2)
        let items = (0..<1000).map { ItemIndex($0) }
        let scores = a.scores(for: UserIndex(3), items: items)
        #expect(scores == b.scores(for: UserIndex(3), items: items))
        #expect(scores != c.scores(for: UserIndex(3), items: items))
        #expect(scores != a.scores(for: UserIndex(4), items: items))
        #expect(scores.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(scores.reduce(0, +) / 1000 - 0.5) < 0.05)
    }
}
