import LinearAlgebra
import RummageCore
import Training

/// A trained two-tower retrieval model: L2-normalised user and item embeddings whose dot product is the
/// score, plus the towers themselves so that new users and listings can be embedded from content.
public struct TwoTowerModel: SimilarItemsRecommender, PersistentRecommender, ContentEmbeddingModel, RequestTimeUserModel, @unchecked Sendable {
    // @unchecked because: the towers hold reference-typed parameters, which are never mutated after
    // training (only `Tower.apply` reads them), so sharing the model between threads is safe.
    public static let artifactKind = "two-tower"

    public let configuration: TwoTowerConfiguration
    /// `users × dimension`, unit rows.
    public let userEmbeddings: Matrix
    /// `items × dimension`, unit rows.
    public let itemEmbeddings: Matrix
    let userTower: Tower
    let itemTower: Tower
    let userInput: TowerInput
    let itemInput: TowerInput
    /// Which users and items the model was trained with (their own id rows); the others are embedded
    /// with the unknown id. Artifacts written before this was saved read as all known.
    let knownUsers: [Bool]
    let knownItems: [Bool]

    public var userCount: Int { userEmbeddings.rows }
    public var itemCount: Int { itemEmbeddings.rows }
    public var dimension: Int { itemEmbeddings.columns }

    init(configuration: TwoTowerConfiguration, userTower: Tower, itemTower: Tower, userInput: TowerInput,
         itemInput: TowerInput, knownUsers: [Bool], knownItems: [Bool], threads: Int) {
        self.configuration = configuration
        self.userTower = userTower
        self.itemTower = itemTower
        self.userInput = userInput
        self.itemInput = itemInput
        self.knownUsers = knownUsers
        self.knownItems = knownItems
        userEmbeddings = Self.embed(tower: userTower, input: userInput, known: knownUsers, threads: threads)
        itemEmbeddings = Self.embed(tower: itemTower, input: itemInput, known: knownItems, threads: threads)
    }

    private init(configuration: TwoTowerConfiguration, userTower: Tower, itemTower: Tower, userInput: TowerInput,
                 itemInput: TowerInput, knownUsers: [Bool], knownItems: [Bool], userEmbeddings: Matrix, itemEmbeddings: Matrix) {
        self.configuration = configuration
        self.userTower = userTower
        self.itemTower = itemTower
        self.userInput = userInput
        self.itemInput = itemInput
        self.knownUsers = knownUsers
        self.knownItems = knownItems
        self.userEmbeddings = userEmbeddings
        self.itemEmbeddings = itemEmbeddings
    }

    /// Embeds every entity in batches; entities not `known` (no training data) use the unknown id.
    static func embed(tower: Tower, input: TowerInput, known: [Bool], threads: Int) -> Matrix {
        let n = input.idCount, d = tower.tables[0].dimension
        let chunks = Parallel.mapChunks(count: n, chunkSize: 2048, threads: threads) { range in
            let entities = range.map { Int32($0) }
            return tower.apply(input.bags(for: entities) { known[range.lowerBound + $0] }).storage
        }
        return Matrix(rows: n, columns: d, storage: chunks.flatMap { $0 })
    }

    /// Embeds listings the model has never seen from their content alone (the unknown id plus their
    /// features): `content[e][f]` are entity `e`'s value names for field `fieldNames[f]`. Fields the
    /// model does not read and values outside its vocabularies are ignored.
    public func embedNewItems(fieldNames: [String], content: [[[String]]]) -> Matrix {
        let fields = itemInput.features.fields.map { field -> CategoricalFeatures.Field in
            let index = Dictionary(uniqueKeysWithValues: field.vocabulary.enumerated().map { ($1, Int32($0)) })
            let f = fieldNames.firstIndex(of: field.name)
            var rows: [Int32] = [], columns: [Int32] = []
            for (e, entity) in content.enumerated() {
                for name in f.map({ entity[$0] }) ?? [] {
                    if let v = index[name] { rows.append(Int32(e)); columns.append(v) }
                }
            }
            return CategoricalFeatures.Field(name: field.name, vocabulary: field.vocabulary,
                                             values: SparseRows(rowCount: content.count, columnCount: field.vocabulary.count,
                                                                rows: rows, columns: columns, duplicates: .keepFirst))
        }
        // Dynamic fields (e.g. popularity) are empty bags for listings the model has never seen.
        let input = TowerInput(idCount: itemInput.idCount, features: CategoricalFeatures(entityCount: content.count, fields: fields),
                               dynamic: itemInput.dynamic.map { DynamicFeatures.Field(name: $0.name, vocabularySize: $0.vocabularySize,
                                   vocabulary: $0.vocabulary,
                                   training: $0.training, serving: SparseRows(rowCount: 0, columnCount: $0.vocabularySize,
                                                                              offsets: [0], columns: [], values: [])) })
        // Entity indices are placeholders: every id is replaced by the unknown id.
        return itemTower.apply(input.bags(for: content.indices.map { Int32($0) }) { _ in false })
    }

    /// The item tower's content fields.
    public var contentFieldNames: [String] { itemInput.features.fields.map(\.name) }

    /// The user tower's time-varying fields (empty unless trained with `features=true`): their names and
    /// id vocabularies, in the order `embedUser` takes their bags.
    public var userDynamicFields: [(name: String, vocabulary: [String])] { userInput.dynamic.map { ($0.name, $0.vocabulary) } }

    /// Runs the user tower for one user now: `user` is the model's index for a user it was trained on (nil
    /// for a new user, who gets the unknown id), `dynamicBags` the current bags of `userDynamicFields`.
    /// With the bags the serving rows held at training time this reproduces `userEmbeddings`' row.
    public func embedUser(_ user: Int?, dynamicBags: [[Int32]]) -> [Float] {
        precondition(dynamicBags.count == userInput.dynamic.count)
        func bag(_ ids: [Int32]) -> Bags { Bags(offsets: [0, ids.count], ids: ids) }
        func stored(_ rows: SparseRows) -> Bags { bag(user.map { $0 < rows.rowCount ? Array(rows.columns(of: $0)) : [] } ?? []) }
        var bags = [Bags(single: [Int32(user ?? userInput.idCount)])]
        bags += userInput.features.fields.map { stored($0.values) }
        if let history = userInput.history { bags.append(stored(history)) }
        bags += zip(dynamicBags, userInput.dynamic).map { ids, field in bag(ids.filter { $0 >= 0 && Int($0) < field.vocabularySize }) }
        return Array(userTower.apply(bags).row(0))
    }

    public func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(scores.count == itemCount)
        itemEmbeddings.storage.withUnsafeBufferPointer { items in
            userEmbeddings.storage.withUnsafeBufferPointer { users in
                BLAS.gemv(rows: itemCount, columns: dimension, items.baseAddress!,
                          users.baseAddress! + user.int * dimension, scores.baseAddress!)
            }
        }
    }

    public func scores(for user: UserIndex, items: [ItemIndex]) -> [Float] {
        let d = dimension
        let u = userEmbeddings.row(user.int)
        return items.map { item in
            var s: Float = 0
            let v = itemEmbeddings.row(item.int)
            for f in 0..<d { s += u[u.startIndex + f] * v[v.startIndex + f] }
            return s
        }
    }

    /// Items ranked by cosine similarity of their embeddings (rows are unit length).
    public func similarItems(to item: ItemIndex, k: Int) -> [ScoredIndex] {
        var scores = [Float](repeating: 0, count: itemCount)
        itemEmbeddings.storage.withUnsafeBufferPointer { y in
            scores.withUnsafeMutableBufferPointer { s in
                BLAS.gemv(rows: itemCount, columns: dimension, y.baseAddress!, y.baseAddress! + item.int * dimension, s.baseAddress!)
            }
        }
        scores[item.int] = -.infinity
        return TopK.select(scores, k: k)
    }

    // MARK: Persistence

    public func write(to writer: inout ArtifactWriter) {
        writer.append(UInt32(configuration.dimension))
        writer.append(Double(configuration.temperature))
        for (tower, input) in [(userTower, userInput), (itemTower, itemInput)] {
            writer.append(UInt32(input.idCount))
            writer.append(UInt32(input.features.fields.count))
            for field in input.features.fields {
                writer.append(field.name)
                writer.append(UInt32(field.vocabulary.count))
                for name in field.vocabulary { writer.append(name) }
            }
            writer.append(UInt32(input.history?.columnCount ?? 0))
            writer.append(UInt32(input.dynamic.count))
            for field in input.dynamic {
                writer.append(field.name)
                writer.append(UInt32(field.vocabularySize))
                writer.append(UInt32(field.vocabulary.count))
                for name in field.vocabulary { writer.append(name) }
            }
            // A tower with time-varying fields is run again at request time: keep each entity's static bags.
            if !input.dynamic.isEmpty {
                for rows in input.features.fields.map(\.values) + (input.history.map { [$0] } ?? []) { Self.write(rows, to: &writer) }
            }
            for table in tower.tables { writer.append(floats: table.weights, shape: [table.rows, table.dimension]) }
            writer.append(UInt32(tower.hidden.count))
            writer.append(UInt8(tower.projection == nil ? 0 : 1))
            for layer in tower.hidden + (tower.projection.map { [$0] } ?? []) {
                writer.append(floats: layer.weight.value, shape: layer.weight.shape)
                writer.append(floats: layer.bias.value, shape: layer.bias.shape)
            }
        }
        writer.append(floats: userEmbeddings.storage, shape: [userEmbeddings.rows, userEmbeddings.columns])
        writer.append(floats: itemEmbeddings.storage, shape: [itemEmbeddings.rows, itemEmbeddings.columns])
        // Added later, at the end so that older artifacts still read: which entities had their own id rows.
        for known in [knownUsers, knownItems] { writer.append(byteArray: known.map { $0 ? 1 : 0 }) }
    }

    public init(reading reader: inout ArtifactReader) throws(DataError) {
        var configuration = TwoTowerConfiguration()
        configuration.dimension = Int(try reader.integer(UInt32.self))
        configuration.temperature = Float(try reader.double())
        var towers: [(Tower, TowerInput)] = []
        for _ in 0..<2 {
            let idCount = Int(try reader.integer(UInt32.self))
            let fieldCount = Int(try reader.integer(UInt32.self))
            var fields: [CategoricalFeatures.Field] = []
            for _ in 0..<fieldCount {
                let name = try reader.string()
                let size = Int(try reader.integer(UInt32.self))
                var vocabulary: [String] = []
                for _ in 0..<size { vocabulary.append(try reader.string()) }
                // Per-entity values are not stored: embeddings are. New entities bring their own values.
                fields.append(CategoricalFeatures.Field(name: name, vocabulary: vocabulary, values: Self.empty(size)))
            }
            let historyItems = Int(try reader.integer(UInt32.self))
            // Histories are not stored (embeddings are); only the field's vocabulary size matters.
            var history = historyItems > 0 ? Self.empty(historyItems) : nil
            // Dynamic fields' values change over time and are not stored either: names, sizes and vocabularies are.
            var dynamic: [DynamicFeatures.Field] = []
            for _ in 0..<Int(try reader.integer(UInt32.self)) {
                let name = try reader.string()
                let size = Int(try reader.integer(UInt32.self))
                var vocabulary: [String] = []
                for _ in 0..<Int(try reader.integer(UInt32.self)) { vocabulary.append(try reader.string()) }
                guard vocabulary.isEmpty || vocabulary.count == size else {
                    throw DataError(.corrupt, "field \(name): \(vocabulary.count) names for \(size) ids", path: reader.path)
                }
                dynamic.append(DynamicFeatures.Field(name: name, vocabularySize: size, vocabulary: vocabulary, training: Self.empty(size),
                                                     serving: Self.empty(size)))
            }
            // …except that a tower with dynamic fields keeps each entity's static bags (see `write`).
            if !dynamic.isEmpty {
                for f in fields.indices { fields[f].values = try Self.readRows(columns: fields[f].vocabulary.count, &reader) }
                if historyItems > 0 { history = try Self.readRows(columns: historyItems, &reader) }
            }
            var tables: [EmbeddingTable] = []
            for _ in 0..<(1 + fieldCount + (history == nil ? 0 : 1) + dynamic.count) {
                let t = try reader.floats(rank: 2)
                tables.append(EmbeddingTable(rows: t.shape[0], dimension: t.shape[1], weights: t.values))
            }
            let hiddenCount = Int(try reader.integer(UInt32.self))
            let hasProjection = try reader.integer(UInt8.self) == 1
            var hidden: [DenseLayer] = []
            for _ in 0..<hiddenCount { hidden.append(try Self.readDense(&reader)) }
            let projection = hasProjection ? try Self.readDense(&reader) : nil
            let tower = Tower(tables: tables, hidden: hidden, projection: projection)
            towers.append((tower, TowerInput(idCount: idCount, features: CategoricalFeatures(entityCount: fields.first?.values.rowCount ?? 0,
                                                                                            fields: fields),
                                             history: history, dynamic: dynamic)))
        }
        let users = try reader.floats(rank: 2)
        let items = try reader.floats(rank: 2)
        var known = [[Bool](repeating: true, count: users.shape[0]), [Bool](repeating: true, count: items.shape[0])]
        if !reader.isAtEnd {
            for side in 0..<2 {
                let flags = try reader.byteArray()
                guard flags.count == known[side].count else {
                    throw DataError(.corrupt, "\(flags.count) known-entity flags for \(known[side].count) embeddings", path: reader.path)
                }
                known[side] = flags.map { $0 != 0 }
            }
        }
        self.init(configuration: configuration, userTower: towers[0].0, itemTower: towers[1].0, userInput: towers[0].1,
                  itemInput: towers[1].1, knownUsers: known[0], knownItems: known[1],
                  userEmbeddings: Matrix(rows: users.shape[0], columns: users.shape[1], storage: users.values),
                  itemEmbeddings: Matrix(rows: items.shape[0], columns: items.shape[1], storage: items.values))
    }

    private static func empty(_ columns: Int) -> SparseRows {
        SparseRows(rowCount: 0, columnCount: columns, offsets: [0], columns: [], values: [])
    }

    private static func write(_ rows: SparseRows, to writer: inout ArtifactWriter) {
        writer.append(UInt64(rows.rowCount))
        for r in 0..<rows.rowCount {
            let ids = rows.columns(of: r)
            writer.append(UInt32(ids.count))
            for id in ids { writer.append(id) }
        }
    }

    private static func readRows(columns: Int, _ reader: inout ArtifactReader) throws(DataError) -> SparseRows {
        let count = Int(try reader.integer(UInt64.self))
        var offsets = [0], ids: [Int32] = []
        for _ in 0..<count {
            for _ in 0..<Int(try reader.integer(UInt32.self)) {
                let id = try reader.integer(Int32.self)
                guard id >= 0 && Int(id) < columns else { throw DataError(.corrupt, "id \(id) outside a field of \(columns)", path: reader.path) }
                ids.append(id)
            }
            offsets.append(ids.count)
        }
        return SparseRows(rowCount: count, columnCount: columns, offsets: offsets, columns: ids,
                          values: [Float](repeating: 1, count: ids.count))
    }

    private static func readDense(_ reader: inout ArtifactReader) throws(DataError) -> DenseLayer {
        let w = try reader.floats(rank: 2)
        let b = try reader.floats(rank: 1)
        guard b.shape[0] == w.shape[1] else { throw DataError(.corrupt, "dense layer shapes \(w.shape) and \(b.shape) differ", path: reader.path) }
        return DenseLayer(weight: DenseParameter(shape: w.shape, value: w.values), bias: DenseParameter(shape: b.shape, value: b.values))
    }
}
