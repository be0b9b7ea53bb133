import Foundation
import LinearAlgebra
import RummageCore
import Training

/// What an import compared, tensor by tensor, and how the hand-off's entities met the data's.
public struct ParityReport: Sendable {
    /// Each golden tensor (and each side of the shipped embeddings) compared, in order, with the largest
    /// absolute difference between Rummage's values and the hand-off's.
    public var comparisons: [(tensor: String, maxAbsError: Double)] = []
    /// Users and items of the data that the hand-off has rows for, and the data's totals.
    public var usersMatched = 0, users = 0, itemsMatched = 0, items = 0

    public var maxAbsError: Double { comparisons.map(\.maxAbsError).max() ?? 0 }

    /// One line for a person: what was compared, the worst difference, the coverage.
    public var summary: String {
        "\(comparisons.count) tensors reproduce within \(String(format: "%.1e", maxAbsError)) (max abs); "
            + "\(usersMatched) of \(users) users and \(itemsMatched) of \(items) items matched by id"
    }
}

extension HandOff {
    /// The hand-off's rows of `matrix` (one per id of `handOffIDs`) in the order of `dataIDs`: rows of ids
    /// the hand-off lacks are zeros. Returns the rows and which data entities were found.
    public static func rows(of matrix: Matrix, ids handOffIDs: [String], onto dataIDs: [String]) -> (rows: Matrix, found: [Bool]) {
        let position = Dictionary(uniqueKeysWithValues: handOffIDs.enumerated().map { ($1, $0) })
        var rows = Matrix(rows: dataIDs.count, columns: matrix.columns)
        var found = [Bool](repeating: false, count: dataIDs.count)
        for (e, id) in dataIDs.enumerated() {
            guard let r = position[id] else { continue }
            found[e] = true
            rows.storage.replaceSubrange(e * matrix.columns..<(e + 1) * matrix.columns, with: matrix.row(r))
        }
        return (rows, found)
    }

    /// The embeddings of an embeddings hand-off on the data's entities (`rows(of:ids:onto:)`), refused when
    /// no id of either side is one of the data's.
    public func embeddingMatrices(userIDs dataUsers: [String], itemIDs dataItems: [String]) throws(HandOffError)
        -> (users: Matrix, items: Matrix, report: ParityReport) {
        guard let embeddings else { throw HandOffError("\(directory): no embeddings") }
        let users = Self.rows(of: embeddings.users, ids: userIDs, onto: dataUsers)
        let items = Self.rows(of: embeddings.items, ids: itemIDs, onto: dataItems)
        let report = ParityReport(usersMatched: users.found.count { $0 }, users: dataUsers.count,
                                  itemsMatched: items.found.count { $0 }, items: dataItems.count)
        try checkCoverage(report, dataUsers: dataUsers, dataItems: dataItems)
        return (users.rows, items.rows, report)
    }

    func checkCoverage(_ report: ParityReport, dataUsers: [String], dataItems: [String]) throws(HandOffError) {
        for (matched, ids, data, file) in [(report.usersMatched, userIDs, dataUsers, Self.userIDsFile),
                                           (report.itemsMatched, itemIDs, dataItems, Self.itemIDsFile)] where matched == 0 {
            throw HandOffError("none of the \(ids.count) ids of \(file) (first: \(ids.prefix(3).joined(separator: ", "))) is one of the "
                               + "data's \(data.count) (first: \(data.prefix(3).joined(separator: ", "))): write the ids as the data names them")
        }
    }

    /// The two-tower model of this hand-off on the data's users and items. First the towers are rebuilt
    /// from the weights and run on the golden inputs: each golden tensor present is compared in forward
    /// order, and the first that differs by more than the tolerance refuses the import, naming it and the
    /// weights between it and the last stage that matched. Then the towers are mapped onto the data (ids
    /// by name; content fields by name and value; entities the hand-off lacks get the unknown id) and
    /// every entity is embedded; shipped embeddings, when present, must match those within the tolerance.
    public func twoTowerModel(userIDs dataUsers: [String], itemIDs dataItems: [String], userFeatures: CategoricalFeatures,
                              itemFeatures: CategoricalFeatures, threads: Int) throws(HandOffError) -> (model: TwoTowerModel, parity: ParityReport) {
        guard let towers = specification.towers else { throw HandOffError("\(directory): not a two-tower hand-off") }
        var report = ParityReport()
        let userTower = tower("user", towers.user, idCount: userIDs.count)
        let itemTower = tower("item", towers.item, idCount: itemIDs.count)
        try checkGolden("user", towers.user, userTower, report: &report)
        try checkGolden("item", towers.item, itemTower, report: &report)

        let user = try mapped("user", towers.user, userTower, ids: userIDs, onto: dataUsers, features: userFeatures)
        let item = try mapped("item", towers.item, itemTower, ids: itemIDs, onto: dataItems, features: itemFeatures)
        report.users = dataUsers.count
        report.usersMatched = user.known.count { $0 }
        report.items = dataItems.count
        report.itemsMatched = item.known.count { $0 }
        try checkCoverage(report, dataUsers: dataUsers, dataItems: dataItems)
        var configuration = TwoTowerConfiguration()
        configuration.dimension = towers.user.dimension
        configuration.temperature = Float(specification.temperature ?? Double(configuration.temperature))
        configuration.hiddenLayers = towers.user.hidden
        configuration.useContent = towers.item.fields.count > 1
        let model = TwoTowerModel(configuration: configuration, userTower: user.tower, itemTower: item.tower, userInput: user.input,
                                  itemInput: item.input, knownUsers: user.known, knownItems: item.known, threads: threads)
        if let embeddings {
            for (side, shipped, ids, computed, data) in [("users", embeddings.users, userIDs, model.userEmbeddings, dataUsers),
                                                         ("items", embeddings.items, itemIDs, model.itemEmbeddings, dataItems)] {
                let position = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
                var worst = (error: 0.0, id: "")
                for (e, id) in data.enumerated() {
                    guard let r = position[id] else { continue }
                    let error = zip(computed.row(e), shipped.row(r)).map { Double(abs($0 - $1)) }.max() ?? 0
                    if !(error <= worst.error) { worst = (error.isNaN ? .infinity : error, id) }
                }
                report.comparisons.append(("\(Self.embeddingsFile) \(side)", worst.error))
                guard worst.error <= tolerance else {
                    throw HandOffError("\(Self.embeddingsFile): Rummage's embedding of \(side.dropLast()) '\(worst.id)' differs from the "
                                       + "shipped one by \(worst.error) (max abs; tolerance \(tolerance)): the towers do not produce the "
                                       + "embeddings they were shipped with (content fields of the data differ from training's?)",
                                       tensor: "\(Self.embeddingsFile):\(side)")
                }
            }
        }
        return (model, report)
    }

    /// Runs the golden inputs of `side` and compares each golden stage present (`Tower.stages`).
    func checkGolden(_ side: String, _ specification: TowerSpecification, _ tower: Tower, report: inout ParityReport) throws(HandOffError) {
        let file = Self.goldenFile
        var bags: [Bags] = []
        for (f, field) in specification.fields.enumerated() {
            let idsName = "\(side).input.\(field.name).ids", offsetsName = "\(side).input.\(field.name).offsets"
            guard let ids = golden[idsName]?.integers, let offsets = golden[offsetsName]?.integers else {
                throw HandOffError("\(file): golden input \(idsName) and \(offsetsName) (int64) are missing", tensor: idsName)
            }
            guard offsets.first == 0, offsets.last == Int64(ids.count), zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw HandOffError("\(file): \(offsetsName) must start at 0, never decrease and end at the \(ids.count) ids", tensor: offsetsName)
            }
            let rows = tower.tables[f].rows
            if let bad = ids.first(where: { $0 < 0 || $0 >= Int64(rows) }) {
                throw HandOffError("\(file): \(idsName) holds \(bad), outside the \(rows) rows of \(side).embeddings.\(field.name)", tensor: idsName)
            }
            bags.append(Bags(offsets: offsets.map(Int.init), ids: ids.map { Int32($0) }))
        }
        let count = bags[0].count
        if let uneven = specification.fields.indices.first(where: { bags[$0].count != count }) {
            throw HandOffError("\(file): \(side) golden inputs disagree on the number of rows (\(specification.fields[uneven].name): "
                               + "\(bags[uneven].count), \(specification.fields[0].name): \(count))")
        }
        guard golden["\(side).output"] != nil else {
            throw HandOffError("\(file): golden output \(side).output is missing", tensor: "\(side).output")
        }
        var lastMatched: String? = nil
        for (stage, value) in tower.stages(bags) {
            let name = "\(side).\(stage)"
            guard let expected = golden[name] else { continue }
            guard let values = expected.floats, expected.shape == [value.rows, value.columns] else {
                throw HandOffError("\(file): \(name) must be float32 of shape [\(value.rows), \(value.columns)], not \(expected.dtypeName) "
                                   + "\(expected.shape)", tensor: name)
            }
            var worst = (error: 0.0, at: 0)
            for (k, (a, b)) in zip(value.storage, values).enumerated() {
                let error = Double(abs(a - b))
                if !(error <= worst.error) { worst = (error.isNaN ? .infinity : error, k) }
            }
            report.comparisons.append((name, worst.error))
            if worst.error > tolerance {
                let (row, column) = worst.at.quotientAndRemainder(dividingBy: value.columns)
                let suspects = Self.suspects(side: side, stage: stage, column: column, after: lastMatched, specification: specification)
                throw HandOffError(
                    "golden tensor \(name) differs from Rummage's by \(worst.error) (max abs; tolerance \(tolerance)) at row \(row), column "
                    + "\(column): Rummage \(value.storage[worst.at]), golden \(values[worst.at]). "
                    + (lastMatched.map { "Everything up to \(side).\($0) matched, so " } ?? "")
                    + "the fault is in \(suspects.joined(separator: ", ")) or in the golden tensor itself", tensor: name)
            }
            lastMatched = stage
        }
    }

    /// The weights that feed `stage` since the last stage that matched (all before it when none did).
    /// A pooled mismatch is pinned to the field whose slice of the columns differs.
    static func suspects(side: String, stage: String, column: Int, after lastMatched: String?, specification: TowerSpecification) -> [String] {
        var order = ["pooled"] + specification.hidden.indices.map { "hidden.\($0)" } + (specification.projection ? ["projection"] : [])
        order.append("output")
        let from = lastMatched.flatMap { order.firstIndex(of: $0) }.map { $0 + 1 } ?? 0
        let to = order.firstIndex(of: stage) ?? order.count - 1
        var names: [String] = []
        for s in order[from...to] {
            switch s {
            case "pooled":
                if stage == "pooled" {
                    names.append("\(side).embeddings.\(specification.fields[min(column / specification.dimension, specification.fields.count - 1)].name)")
                } else {
                    names += specification.fields.map { "\(side).embeddings.\($0.name)" }
                }
            case "output": if from == to { names.append("the L2 normalisation") }
            default: names += ["\(side).\(s).weight", "\(side).\(s).bias"]
            }
        }
        return names
    }

    /// The tower on the data's entities: the id table reordered to the data's users (items) with the
    /// unknown row last, content fields read from the data's features by name and value.
    func mapped(_ side: String, _ specification: TowerSpecification, _ tower: Tower, ids: [String], onto dataIDs: [String],
                features: CategoricalFeatures) throws(HandOffError) -> (tower: Tower, input: TowerInput, known: [Bool]) {
        let position = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let source = tower.tables[0], d = source.dimension, unknown = ids.count
        var weights = [Float](repeating: 0, count: (dataIDs.count + 1) * d)
        var known = [Bool](repeating: false, count: dataIDs.count)
        source.weights.withUnsafeBufferPointer { w in
            for e in 0...dataIDs.count {
                let r = e < dataIDs.count ? (position[dataIDs[e]] ?? unknown) : unknown
                if e < dataIDs.count { known[e] = r != unknown }
                for f in 0..<d { weights[e * d + f] = w[r * d + f] }
            }
        }
        var fields: [CategoricalFeatures.Field] = []
        for field in specification.fields.dropFirst() {
            guard let data = features.fields.first(where: { $0.name == field.name }) else {
                throw HandOffError("the \(side) tower reads field '\(field.name)', which the data's \(side)s do not have (fields: "
                                   + "\(features.fields.map(\.name).joined(separator: ", ")))")
            }
            let vocabulary = field.vocabulary ?? []
            let index = Dictionary(vocabulary.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { first, _ in first })
            var rows: [Int32] = [], columns: [Int32] = []
            for e in 0..<data.values.rowCount {
                for v in data.values.columns(of: e) {
                    if let mappedValue = index[data.vocabulary[Int(v)]] { rows.append(Int32(e)); columns.append(mappedValue) }
                }
            }
            fields.append(CategoricalFeatures.Field(name: field.name, vocabulary: vocabulary,
                                                    values: SparseRows(rowCount: dataIDs.count, columnCount: vocabulary.count, rows: rows,
                                                                       columns: columns, duplicates: .keepFirst)))
        }
        let table = EmbeddingTable(rows: dataIDs.count + 1, dimension: d, weights: weights)
        let input = TowerInput(idCount: dataIDs.count, features: CategoricalFeatures(entityCount: dataIDs.count, fields: fields))
        return (Tower(tables: [table] + tower.tables.dropFirst(), hidden: tower.hidden, projection: tower.projection), input, known)
    }
}

extension TwoTowerModel {
    /// Writes this model as a two-tower hand-off into `directory` (created if needed): the ids of the
    /// users and items it was trained with (`userIDs`/`itemIDs` name every entity by index), their id
    /// rows with the unknown row last, the content vocabularies, the weights in `torch.nn` layout, golden
    /// inputs (`goldenRows` entities plus the unknown id, each with one value per content field) with every
    /// stage's output, and the stored embeddings. Importing it onto the same data gives these embeddings
    /// bit for bit. Models with a history field or time-varying fields are outside the contract.
    public func writeHandOff(to directory: String, userIDs: [String], itemIDs: [String], producer: String,
                             goldenRows: Int = 16) throws(HandOffError) {
        guard userInput.history == nil, userInput.dynamic.isEmpty, itemInput.dynamic.isEmpty else {
            throw HandOffError("this two-tower reads its users' histories or time-varying features, which the hand-off contract "
                               + "(version \(HandOffSpecification.latestVersion)) does not carry; train it without history= and features=")
        }
        guard userIDs.count == userCount, itemIDs.count == itemCount else {
            throw HandOffError("the model has \(userCount) users and \(itemCount) items, the data \(userIDs.count) and \(itemIDs.count): "
                               + "export it with the data it was trained on")
        }
        var weights: [String: Tensor] = [:], golden: [String: Tensor] = [:], embeddings: [String: Tensor] = [:]
        var specifications: [TowerSpecification] = [], keptIDs: [[String]] = []
        for (side, tower, input, known, ids, stored) in [("user", userTower, userInput, knownUsers, userIDs, userEmbeddings),
                                                         ("item", itemTower, itemInput, knownItems, itemIDs, itemEmbeddings)] {
            let kept = known.indices.filter { known[$0] }
            let d = tower.embeddingWidth
            let specification = TowerSpecification(
                fields: [.init(name: "id")] + input.features.fields.map { .init(name: $0.name, vocabulary: $0.vocabulary) },
                dimension: d, hidden: tower.hidden.map(\.outputs), projection: tower.projection != nil)
            specifications.append(specification)
            // The id table: the kept entities' rows, then the unknown row.
            let idRows = (kept + [input.idCount]).flatMap { tower.tables[0].weights[$0 * d..<($0 + 1) * d] }
            weights["\(side).embeddings.id"] = Tensor(shape: [kept.count + 1, d], floats: idRows)
            for (field, table) in zip(specification.fields.dropFirst(), tower.tables.dropFirst()) {
                weights["\(side).embeddings.\(field.name)"] = Tensor(shape: [table.rows, table.dimension], floats: table.weights)
            }
            for (name, layer) in tower.hidden.enumerated().map({ ("hidden.\($0)", $1) }) + (tower.projection.map { [("projection", $0)] } ?? []) {
                weights["\(side).\(name).weight"] = Tensor(shape: [layer.outputs, layer.inputs],
                                                           floats: HandOff.transposed(layer.weight.value, rows: layer.inputs, columns: layer.outputs))
                weights["\(side).\(name).bias"] = Tensor(shape: [layer.outputs], floats: layer.bias.value)
            }
            // Golden inputs: the first kept entities and the unknown id, each with one value per content field.
            let rows = Array(0..<min(goldenRows, kept.count)) + [kept.count]
            var exported: [Bags] = [Bags(single: rows.map { Int32($0) })]
            var native: [Bags] = [Bags(single: rows.map { $0 < kept.count ? Int32(kept[$0]) : Int32(input.idCount) })]
            for (f, field) in input.features.fields.enumerated() {
                let values = rows.indices.map { Int32(($0 * 7 + f) % max(1, field.vocabulary.count)) }
                exported.append(Bags(single: values))
                native.append(Bags(single: values))
            }
            for (field, bags) in zip(specification.fields, exported) {
                golden["\(side).input.\(field.name).ids"] = Tensor(shape: [bags.ids.count], integers: bags.ids.map(Int64.init))
                golden["\(side).input.\(field.name).offsets"] = Tensor(shape: [bags.offsets.count], integers: bags.offsets.map(Int64.init))
            }
            for (stage, value) in tower.stages(native) {
                golden["\(side).\(stage)"] = Tensor(shape: [value.rows, value.columns], floats: value.storage)
            }
            embeddings[side + "s"] = Tensor(shape: [kept.count, stored.columns], floats: kept.flatMap { stored.row($0) })
            keptIDs.append(kept.map { ids[$0] })
        }
        let specification = HandOffSpecification(kind: .twoTower, temperature: Double(configuration.temperature),
                                                 towers: .init(user: specifications[0], item: specifications[1]), producer: producer)
        try HandOff.write(specification, userIDs: keptIDs[0], itemIDs: keptIDs[1],
                          tensors: [HandOff.weightsFile: weights, HandOff.goldenFile: golden, HandOff.embeddingsFile: embeddings],
                          to: directory)
    }
}
