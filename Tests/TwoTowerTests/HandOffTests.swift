import Foundation
import LinearAlgebra
import RummageCore
import RummageTestSupport
import Testing
import Training
import TwoTower

@Suite struct HandOffTests {
    /// A trained two-tower with a content field and a hidden layer; item 19 is never interacted with, so
    /// it is embedded with the unknown id.
    static func trained() -> (model: TwoTowerModel, users: [String], items: [String], itemFeatures: CategoricalFeatures) {
        let random = Fixtures.randomInteractions(users: 30, items: 20, density: 0.2, seed: 4)
        var users: [Int32] = [], items: [Int32] = []
        for u in 0..<30 {
            for i in random.items(of: UserIndex(u)) where i != 19 { users.append(Int32(u)); items.append(i) }
        }
        let data = InteractionMatrix(userCount: 30, itemCount: 20, users: users, items: items)
        let genre = CategoricalFeatures.Field(name: "genre", entityValues: (0..<20).map { [["x", "y", "z"][$0 % 3]] })
        let features = CategoricalFeatures(entityCount: 20, fields: [genre])
        var c = TwoTowerConfiguration()
        c.dimension = 6
        c.hiddenLayers = [10]
        c.epochs = 2
        c.batchSize = 16
        c.validationUsers = 0
        c.useContent = true
        let model = TwoTowerTrainer.fit(data, userFeatures: .none(entityCount: 30), itemFeatures: features, configuration: c,
                                        context: TrainingContext(threads: 1, seed: 9))
        return (model, (0..<30).map { "u\($0)" }, (0..<20).map { "listing-\($0)" }, features)
    }

    static func exported() throws -> (directory: String, model: TwoTowerModel, users: [String], items: [String], features: CategoricalFeatures) {
        let (model, users, items, features) = trained()
        let directory = Fixtures.temporaryDirectory("handoff")
        try model.writeHandOff(to: directory, userIDs: users, itemIDs: items, producer: "test")
        return (directory, model, users, items, features)
    }

    @Test func exportThenImportGivesBitIdenticalEmbeddings() throws {
        let (directory, model, users, items, features) = try Self.exported()
        let handOff = try HandOff.read(directory: directory)
        #expect(!handOff.itemIDs.contains("listing-19"), "an item the model never trained with has no id row")
        let (imported, parity) = try handOff.twoTowerModel(userIDs: users, itemIDs: items, userFeatures: .none(entityCount: 30),
                                                          itemFeatures: features, threads: 2)
        #expect(imported.userEmbeddings == model.userEmbeddings)
        #expect(imported.itemEmbeddings == model.itemEmbeddings)
        #expect(parity.maxAbsError == 0 && parity.comparisons.count == 8 + 2)
        #expect(parity.itemsMatched == 19 && parity.items == 20)

        // The saved model keeps which entities it trained with, so its export is the same hand-off.
        let path = Fixtures.temporaryDirectory("handoff-artifact") + "/model.rmg"
        try model.save(to: path)
        let again = Fixtures.temporaryDirectory("handoff-again")
        try TwoTowerModel.load(from: path).writeHandOff(to: again, userIDs: users, itemIDs: items, producer: "test")
        for file in [HandOff.weightsFile, HandOff.goldenFile, HandOff.embeddingsFile, HandOff.itemIDsFile] {
            #expect(FileManager.default.contents(atPath: directory + "/" + file) == FileManager.default.contents(atPath: again + "/" + file))
        }
    }

    @Test func aTamperedWeightIsRefusedNamingIt() throws {
        let (directory, _, users, items, features) = try Self.exported()
        let path = directory + "/" + HandOff.weightsFile
        var (weights, metadata) = try Safetensors.read(path: path)
        var genre = weights["item.embeddings.genre"]!.floats!
        genre[4] += 0.25
        weights["item.embeddings.genre"] = Tensor(shape: weights["item.embeddings.genre"]!.shape, floats: genre)
        try Safetensors.write(weights, metadata: metadata, to: path)
        let error = #expect(throws: HandOffError.self) {
            _ = try HandOff.read(directory: directory).twoTowerModel(userIDs: users, itemIDs: items, userFeatures: .none(entityCount: 30),
                                                                     itemFeatures: features, threads: 1)
        }
        #expect(error?.tensor == "item.pooled")
        #expect(error?.message.contains("item.embeddings.genre") == true)
    }

    @Test func aWrongGoldenVectorIsRefusedNamingTheTensor() throws {
        let (directory, _, users, items, features) = try Self.exported()
        let path = directory + "/" + HandOff.goldenFile
        var golden = try Safetensors.read(path: path).tensors
        var output = golden["user.output"]!.floats!
        output[3] -= 0.001
        golden["user.output"] = Tensor(shape: golden["user.output"]!.shape, floats: output)
        try Safetensors.write(golden, to: path)
        let error = #expect(throws: HandOffError.self) {
            _ = try HandOff.read(directory: directory).twoTowerModel(userIDs: users, itemIDs: items, userFeatures: .none(entityCount: 30),
                                                                     itemFeatures: features, threads: 1)
        }
        #expect(error?.tensor == "user.output")
        #expect(error?.message.contains("row 0, column 3") == true)
    }

    @Test func missingMisshapedOrStrayWeightsAreRefusedByName() throws {
        let (directory, _, _, _, _) = try Self.exported()
        let path = directory + "/" + HandOff.weightsFile
        let weights = try Safetensors.read(path: path).tensors
        for (change, name) in [({ (w: inout [String: Tensor]) in w["user.hidden.0.bias"] = nil }, "user.hidden.0.bias"),
                               ({ w in w["item.projection.weight"] = Tensor(shape: [10, 6], floats: .init(repeating: 0, count: 60)) },
                                "item.projection.weight"),
                               ({ w in w["item.hidden.1.weight"] = Tensor(shape: [1], floats: [0]) }, "item.hidden.1.weight")] {
            var changed = weights
            change(&changed)
            try Safetensors.write(changed, to: path)
            let error = #expect(throws: HandOffError.self) { _ = try HandOff.read(directory: directory) }
            #expect(error?.tensor == name)
        }
    }

    /// A hand-written hand-off: an id-only tower of width 2 with a projection whose weight is in
    /// `torch.nn.Linear`'s `[outputs, inputs]` layout. Id 1's row is (0, 2); W·x = (2, 2), normalised
    /// (0.7071, 0.7071). Read transposed it would give (0, 1): the golden output tells the layouts apart.
    @Test func readsTorchLinearLayout() throws {
        let directory = Fixtures.temporaryDirectory("handoff-manual")
        let tower = #"{"fields": [{"name": "id"}], "dimension": 2, "hidden": [], "projection": true}"#
        try TextFile.write(#"{"format": "rummage-handoff", "version": 1, "kind": "two-tower", "towers": {"user": \#(tower), "item": \#(tower)}}"#,
                           to: directory + "/handoff.json")
        try TextFile.write("a\nb\n", to: directory + "/user_ids.txt")
        try TextFile.write("a\nb\n", to: directory + "/item_ids.txt")
        var weights: [String: Tensor] = [:], golden: [String: Tensor] = [:]
        for side in ["user", "item"] {
            weights["\(side).embeddings.id"] = Tensor(shape: [3, 2], floats: [1, 0, 0, 2, 0, 0])
            weights["\(side).projection.weight"] = Tensor(shape: [2, 2], floats: [1, 1, 0, 1])
            weights["\(side).projection.bias"] = Tensor(shape: [2], floats: [0, 0])
            golden["\(side).input.id.ids"] = Tensor(shape: [1], integers: [1])
            golden["\(side).input.id.offsets"] = Tensor(shape: [2], integers: [0, 1])
            golden["\(side).projection"] = Tensor(shape: [1, 2], floats: [2, 2])
            golden["\(side).output"] = Tensor(shape: [1, 2], floats: [0.70710677, 0.70710677])
        }
        try Safetensors.write(weights, to: directory + "/" + HandOff.weightsFile)
        try Safetensors.write(golden, to: directory + "/" + HandOff.goldenFile)
        let (model, parity) = try HandOff.read(directory: directory).twoTowerModel(
            userIDs: ["b", "c"], itemIDs: ["a", "b"], userFeatures: .none(entityCount: 2), itemFeatures: .none(entityCount: 2), threads: 1)
        #expect(parity.maxAbsError < 1e-6)
        #expect(parity.usersMatched == 1)
        // User "b" is the hand-off's id 1; "c" is unknown: the unknown row (0, 0) projects to zeros.
        #expect(abs(model.userEmbeddings.row(0).first! - 0.70710677) < 1e-6)
        #expect(model.userEmbeddings.row(1).allSatisfy { $0 == 0 })
    }

    @Test func refusesSpecificationsItCannotRun() throws {
        let directory = Fixtures.temporaryDirectory("handoff-spec")
        try TextFile.write("a\n", to: directory + "/user_ids.txt")
        try TextFile.write("a\n", to: directory + "/item_ids.txt")
        for (json, expected) in [
            (#"{"format": "other", "version": 1, "kind": "embeddings"}"#, "format"),
            (#"{"format": "rummage-handoff", "version": 2, "kind": "embeddings"}"#, "newer"),
            (#"{"format": "rummage-handoff", "version": 1, "kind": "two-tower"}"#, "towers"),
            (#"{"format": "rummage-handoff", "version": 1, "kind": "two-tower", "towers": {"user": {"fields": [{"name": "id"}], "dimension": 4, "hidden": [], "projection": false, "activation": "gelu"}, "item": {"fields": [{"name": "id"}], "dimension": 4, "hidden": [], "projection": false}}}"#, "gelu"),
            (#"{"format": "rummage-handoff", "version": 1, "kind": "two-tower", "towers": {"user": {"fields": [{"name": "id"}], "dimension": 4, "hidden": [8], "projection": false}, "item": {"fields": [{"name": "id"}], "dimension": 4, "hidden": [], "projection": false}}}"#, "add a projection"),
            (#"{"format": "rummage-handoff", "version": 1, "kind": "embeddings"}"#, "embeddings.safetensors"),
        ] {
            try TextFile.write(json, to: directory + "/handoff.json")
            let error = #expect(throws: HandOffError.self) { _ = try HandOff.read(directory: directory) }
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
        }
    }
}
