import Foundation
import LinearAlgebra
import RummageCore
import RummageTestSupport
import Testing
import Training
import TwoTower

@Suite struct TwoTowerTests {
    func configuration(epochs: Int = 30) -> TwoTowerConfiguration {
        var c = TwoTowerConfiguration()
        c.dimension = 8
        c.epochs = epochs
        c.batchSize = 16
        c.learningRate = 0.05
        c.temperature = 0.2
        c.validationUsers = 0
        c.useContent = true
        return c
    }

    @Test func checkerboardRecoversTheBlocks() {
        let data = Fixtures.checkerboard(size: 20, removing: [[0, 4]])
        let model = TwoTowerTrainer.fit(data, userFeatures: .none(entityCount: 20), itemFeatures: .none(entityCount: 20),
                                        configuration: configuration(), context: TrainingContext(threads: 1, seed: 3))
        let seen = data.items(of: UserIndex(0)).map { ItemIndex($0) }
        #expect(model.recommend(for: UserIndex(0), k: 1, excluding: seen).first?.index == 4)
        for u in 0..<20 {
            let scores = model.scores(for: UserIndex(u), items: (0..<20).map { ItemIndex($0) })
            let own = (0..<20).filter { ($0 + u) % 2 == 0 }.map { scores[$0] }
            let other = (0..<20).filter { ($0 + u) % 2 == 1 }.map { scores[$0] }
            #expect(own.min()! > other.max()!)
        }
        // Embeddings are unit vectors, so similar items are ranked by cosine: same parity first.
        #expect(model.similarItems(to: ItemIndex(2), k: 9).allSatisfy { $0.index % 2 == 0 })
    }

    @Test func sameSeedSameModelForAnyThreadCount() {
        let data = Fixtures.randomInteractions(users: 60, items: 40, density: 0.1, seed: 1)
        let none = CategoricalFeatures.none(entityCount: 60), items = CategoricalFeatures.none(entityCount: 40)
        let a = TwoTowerTrainer.fit(data, userFeatures: none, itemFeatures: items, configuration: configuration(epochs: 3),
                                    context: TrainingContext(threads: 1, seed: 5))
        let b = TwoTowerTrainer.fit(data, userFeatures: none, itemFeatures: items, configuration: configuration(epochs: 3),
                                    context: TrainingContext(threads: 1, seed: 5))
        let c = TwoTowerTrainer.fit(data, userFeatures: none, itemFeatures: items, configuration: configuration(epochs: 3),
                                    context: TrainingContext(threads: 2, seed: 5))
        #expect(a.userEmbeddings == b.userEmbeddings && a.itemEmbeddings == b.itemEmbeddings)
        #expect(a.itemEmbeddings == c.itemEmbeddings)
    }

    /// Two tastes, A and B: items 0–8 have genre A, 9–17 genre B. Item 8 (genre A) is never interacted
    /// with: the item tower must place it by content, so A-lovers score it above every B item and
    /// B-lovers below every B item.
    @Test func coldItemIsEmbeddedFromContent() {
        var users: [Int32] = [], items: [Int32] = []
        for u in 0..<30 {
            let lovesA = u % 2 == 0
            for i in 0..<18 where i != 8 && (i < 9) == lovesA { users.append(Int32(u)); items.append(Int32(i)) }
        }
        let data = InteractionMatrix(userCount: 30, itemCount: 18, users: users, items: items)
        let genre = CategoricalFeatures.Field(name: "genre", entityValues: (0..<18).map { [$0 < 9 ? "A" : "B"] })
        var c = configuration(epochs: 40)
        c.itemIDDropout = 0.5
        let model = TwoTowerTrainer.fit(data, userFeatures: .none(entityCount: 30),
                                        itemFeatures: CategoricalFeatures(entityCount: 18, fields: [genre]),
                                        configuration: c, context: TrainingContext(threads: 1, seed: 2))
        let scores = model.scores(for: UserIndex(0), items: (0..<18).map { ItemIndex($0) })
        #expect(scores[8] > scores[9...].max()!)
        let other = model.scores(for: UserIndex(1), items: (0..<18).map { ItemIndex($0) })
        #expect(other[8] < other[9...].min()!)
    }

    @Test func saveLoadRoundTrip() throws {
        let data = Fixtures.randomInteractions(users: 30, items: 20, density: 0.2, seed: 2)
        let genre = CategoricalFeatures.Field(name: "genre", entityValues: (0..<20).map { [["x", "y", "z"][$0 % 3]] })
        var c = configuration(epochs: 2)
        c.hiddenLayers = [12]
        c.historyLength = 5
        let model = TwoTowerTrainer.fit(data, userFeatures: .none(entityCount: 30),
                                        itemFeatures: CategoricalFeatures(entityCount: 20, fields: [genre]),
                                        configuration: c, context: TrainingContext(threads: 1))
        let path = Fixtures.temporaryDirectory() + "/two-tower.rmg"
        try model.save(to: path)
        let loaded = try TwoTowerModel.load(from: path)
        #expect(loaded.userEmbeddings == model.userEmbeddings)
        #expect(loaded.itemEmbeddings == model.itemEmbeddings)
        #expect(loaded.scores(for: UserIndex(3), items: [ItemIndex(1), ItemIndex(7)])
                == model.scores(for: UserIndex(3), items: [ItemIndex(1), ItemIndex(7)]))
    }

    /// Every user likes both halves of the catalogue, each example tagged with the user's "mood" at that
    /// time (0: items 0–9, 1: items 10–19), a time-varying field. Ids alone cannot separate the halves;
    /// the model must read the mood from the training rows, and rank by the serving-time mood.
    @Test func dynamicFeaturesAreReadPointInTimeAndAtServingTime() throws {
        var users: [Int32] = [], items: [Int32] = []
        for u in 0..<20 { for i in 0..<20 where (i + u) % 3 != 0 { users.append(Int32(u)); items.append(Int32(i)) } }
        let data = InteractionMatrix(userCount: 20, itemCount: 20, users: users, items: items)
        var offsets = [0], moods: [Int32] = []
        for u in 0..<20 {
            for e in data.byUser.range(of: u) {
                moods.append(data.byUser.columns[e] < 10 ? 0 : 1)
                offsets.append(moods.count)
            }
        }
        let training = SparseRows(rowCount: data.interactionCount, columnCount: 2, offsets: offsets, columns: moods,
                                  values: moods.map { _ in 1 })
        let serving = SparseRows(rowCount: 20, columnCount: 2, rows: (0..<20).map { Int32($0) },
                                 columns: (0..<20).map { Int32($0 % 2) })
        let mood = DynamicFeatures.Field(name: "mood", vocabularySize: 2, training: training, serving: serving)
        var c = configuration(epochs: 40)
        c.useContent = false
        let model = TwoTowerTrainer.fit(data, userFeatures: .none(entityCount: 20), itemFeatures: .none(entityCount: 20),
                                        dynamic: DynamicFeatures(user: [mood], item: []), configuration: c,
                                        context: TrainingContext(threads: 1, seed: 4))
        for u in 0..<20 {
            let scores = model.scores(for: UserIndex(Int32(u)), items: (0..<20).map { ItemIndex($0) })
            let wanted = u % 2 == 0 ? 0..<10 : 10..<20, other = u % 2 == 0 ? 10..<20 : 0..<10
            let mean = { (r: Range<Int>) in r.map { scores[$0] }.reduce(0, +) / Float(r.count) }
            #expect(mean(wanted) > mean(other) + 0.1, "user \(u)")
        }
        let path = Fixtures.temporaryDirectory() + "/two-tower-dynamic.rmg"
        try model.save(to: path)
        let loaded = try TwoTowerModel.load(from: path)
        #expect(loaded.userEmbeddings == model.userEmbeddings && loaded.itemEmbeddings == model.itemEmbeddings)
        // Serving runs the loaded user tower on the current bags: the serving-time bags reproduce the
        // stored embeddings, and a changed mood moves the user to the other half of the catalogue.
        #expect(loaded.userDynamicFields.map(\.name) == ["mood"])
        for u in 0..<20 {
            let again = loaded.embedUser(u, dynamicBags: [[Int32(u % 2)]])
            let stored = Array(model.userEmbeddings.row(u))
            #expect(zip(again, stored).allSatisfy { abs($0 - $1) < 1e-5 }, "user \(u)")
            let flipped = loaded.embedUser(u, dynamicBags: [[Int32(1 - u % 2)]])
            let score = { (v: [Float], r: Range<Int>) in r.map { i in zip(v, model.itemEmbeddings.row(i)).map(*).reduce(0, +) }.reduce(0, +) }
            let wanted = u % 2 == 0 ? 10..<20 : 0..<10, other = u % 2 == 0 ? 0..<10 : 10..<20
            #expect(score(flipped, wanted) > score(flipped, other), "user \(u) with the other mood")
        }
        // A user the model never saw is embedded from the unknown id and their bags.
        #expect(loaded.embedUser(nil, dynamicBags: [[0]]).count == model.dimension)
    }

    @Test func reportsProgressWithRateLossAndETA() {
        let lines = LineCollector()
        _ = TwoTowerTrainer.fit(Fixtures.checkerboard(size: 10), userFeatures: .none(entityCount: 10),
                                itemFeatures: .none(entityCount: 10), configuration: configuration(epochs: 2),
                                context: TrainingContext(threads: 1, progress: lines.add))
        #expect(lines.all.count == 2)
        let last = lines.all.last ?? ""
        #expect(last.hasPrefix("two-tower: epoch 2/2 [####################] 100% "))
        #expect(last.contains("examples/s loss=") && last.contains("eta="))
    }
}
