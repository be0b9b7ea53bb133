import Foundation
import LinearAlgebra
import RummageCore
import Training

/// A model handed over between Rummage and another framework (a scientist's PyTorch), as a directory
/// with a contract (docs/scientists.md):
///
/// ```
/// handoff.json                what it is (`HandOffSpecification`): kind, tolerance, the towers' specification
/// user_ids.txt, item_ids.txt  one id per line; row r of every user (item) tensor belongs to the r-th id
/// embeddings.safetensors      "users" [U, d] and "items" [I, d], float32 (or users.npy and items.npy):
///                             the model for kind embeddings; for a two-tower, checked against its towers
/// weights.safetensors         the towers' weights (two-tower), named by `HandOff.weightNames`
/// golden.safetensors          golden inputs and the producer's outputs for them (two-tower)
/// ```
///
/// `read` checks the files against each other; `twoTowerModel` rebuilds the towers, refuses them unless
/// they reproduce the golden outputs (and the shipped embeddings) within the tolerance, and maps them onto
/// the data's users and items. `TwoTowerModel.writeHandOff` writes the other way.
public struct HandOff: Sendable {
    public static let specificationFile = "handoff.json"
    public static let userIDsFile = "user_ids.txt"
    public static let itemIDsFile = "item_ids.txt"
    public static let embeddingsFile = "embeddings.safetensors"
    public static let weightsFile = "weights.safetensors"
    public static let goldenFile = "golden.safetensors"
    /// The tolerance when `handoff.json` states none: largest absolute difference per value.
    public static let defaultTolerance = 1e-4

    public let directory: String
    public let specification: HandOffSpecification
    public let userIDs: [String]
    public let itemIDs: [String]
    /// `users × d` and `items × d`, rows in id order; nil when a two-tower ships none.
    public let embeddings: (users: Matrix, items: Matrix)?
    let weights: [String: Tensor]
    let golden: [String: Tensor]
    /// SHA-256 over every file of the hand-off (names and bytes, in name order).
    public let sha256: String

    public var tolerance: Double { specification.tolerance ?? Self.defaultTolerance }

    /// Reads and cross-checks a hand-off directory.
    public static func read(directory: String) throws(HandOffError) -> HandOff {
        func path(_ file: String) -> String { directory + "/" + file }
        let specification: HandOffSpecification
        do {
            guard let data = FileManager.default.contents(atPath: path(specificationFile)) else {
                throw HandOffError("\(path(specificationFile)): no such file; is \(directory) a hand-off directory?")
            }
            specification = try JSONDecoder().decode(HandOffSpecification.self, from: data)
        } catch let error as HandOffError {
            throw error
        } catch {
            throw HandOffError("\(path(specificationFile)): \(Self.describe(error))")
        }
        try specification.validate()
        let userIDs = try readIDs(path(userIDsFile)), itemIDs = try readIDs(path(itemIDsFile))
        let embeddings = try readEmbeddings(directory: directory, userCount: userIDs.count, itemCount: itemIDs.count,
                                            required: specification.kind == .embeddings)
        var weights: [String: Tensor] = [:], golden: [String: Tensor] = [:]
        if specification.kind == .twoTower {
            weights = try readTensors(path(weightsFile))
            golden = try readTensors(path(goldenFile))
        }
        var hasher = SHA256Hasher()
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        for file in files {
            guard let data = FileManager.default.contents(atPath: path(file)) else { continue }
            hasher.update("\(file) \(data.count)\n")
            data.withUnsafeBytes { hasher.update($0) }
        }
        let handOff = HandOff(directory: directory, specification: specification, userIDs: userIDs, itemIDs: itemIDs,
                              embeddings: embeddings, weights: weights, golden: golden, sha256: hasher.finalize())
        if let towers = specification.towers {
            try handOff.checkWeightNames(towers)
            if let embeddings, embeddings.users.columns != towers.user.dimension {
                throw HandOffError("\(embeddingsFile): width \(embeddings.users.columns), but the towers output \(towers.user.dimension)")
            }
        }
        return handOff
    }

    /// What the registry keeps about the hand-off (the manifest's `source`).
    public var provenance: [String: String] {
        var notes = ["handoff": directory, "handoff_sha256": sha256, "handoff_kind": specification.kind.rawValue,
                     "parity_tolerance": String(tolerance)]
        if let producer = specification.producer { notes["producer"] = producer }
        return notes
    }

    /// Writes an embeddings hand-off into `directory` (created if needed): `users` and `items` with one row
    /// per id, float32 in `embeddings.safetensors`, the ids beside them.
    public static func writeEmbeddings(to directory: String, userIDs: [String], users: Matrix, itemIDs: [String], items: Matrix,
                                       producer: String) throws(HandOffError) {
        precondition(userIDs.count == users.rows && itemIDs.count == items.rows)
        try write(HandOffSpecification(kind: .embeddings, producer: producer), userIDs: userIDs, itemIDs: itemIDs,
                  tensors: [embeddingsFile: ["users": Tensor(shape: [users.rows, users.columns], floats: users.storage),
                                             "items": Tensor(shape: [items.rows, items.columns], floats: items.storage)]],
                  to: directory)
    }

    /// Writes `handoff.json`, the ids files and each safetensors file of `tensors` (file name → tensors).
    static func write(_ specification: HandOffSpecification, userIDs: [String], itemIDs: [String], tensors: [String: [String: Tensor]],
                      to directory: String) throws(HandOffError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try TextFile.write(Array(try encoder.encode(specification)) + [10], to: directory + "/" + specificationFile)
            try TextFile.write(userIDs.joined(separator: "\n") + "\n", to: directory + "/" + userIDsFile)
            try TextFile.write(itemIDs.joined(separator: "\n") + "\n", to: directory + "/" + itemIDsFile)
            for (file, content) in tensors {
                try Safetensors.write(content, metadata: specification.producer.map { ["producer": $0] } ?? [:], to: directory + "/" + file)
            }
        } catch {
            throw HandOffError("\(directory): cannot write the hand-off: \(error)")
        }
    }

    // MARK: Files

    static func readIDs(_ path: String) throws(HandOffError) -> [String] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw HandOffError("\(path): no such file or not UTF-8 (one id per line)")
        }
        var ids = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.hasSuffix("\r") ? $0.dropLast() : $0) }
        if ids.last == "" { ids.removeLast() }
        if let blank = ids.firstIndex(of: "") { throw HandOffError("\(path):\(blank + 1): empty id") }
        guard !ids.isEmpty else { throw HandOffError("\(path): no ids") }
        var seen = Set<String>()
        if let twice = ids.firstIndex(where: { !seen.insert($0).inserted }) {
            throw HandOffError("\(path):\(twice + 1): id '\(ids[twice])' appears twice")
        }
        return ids
    }

    static func readTensors(_ path: String) throws(HandOffError) -> [String: Tensor] {
        do { return try Safetensors.read(path: path).tensors } catch { throw HandOffError("\(error)") }
    }

    /// `embeddings.safetensors` ("users", "items") or `users.npy` + `items.npy`: float32, one row per id.
    static func readEmbeddings(directory: String, userCount: Int, itemCount: Int, required: Bool) throws(HandOffError)
        -> (users: Matrix, items: Matrix)? {
        let safetensors = directory + "/" + embeddingsFile
        var tensors: [String: Tensor] = [:]
        var source = safetensors
        if FileManager.default.fileExists(atPath: safetensors) {
            tensors = try readTensors(safetensors)
        } else if FileManager.default.fileExists(atPath: directory + "/users.npy") {
            source = directory + "/{users,items}.npy"
            do {
                tensors["users"] = try NumPyArray.read(path: directory + "/users.npy")
                tensors["items"] = try NumPyArray.read(path: directory + "/items.npy")
            } catch { throw HandOffError("\(error)") }
        } else if required {
            throw HandOffError("\(directory): no \(embeddingsFile) (or users.npy and items.npy): an embeddings hand-off needs them")
        } else {
            return nil
        }
        func matrix(_ name: String, rows: Int, idsFile: String) throws(HandOffError) -> Matrix {
            guard let tensor = tensors[name] else { throw HandOffError("\(source): no tensor '\(name)'") }
            guard let values = tensor.floats, tensor.shape.count == 2 else {
                throw HandOffError("\(source): tensor '\(name)' must be float32 of rank 2, not \(tensor.dtypeName) \(tensor.shape)")
            }
            guard tensor.shape[0] == rows else {
                throw HandOffError("\(source): tensor '\(name)' has \(tensor.shape[0]) rows for the \(rows) ids of \(idsFile)")
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw HandOffError("\(source): tensor '\(name)' row \(bad / max(1, tensor.shape[1])) has a value that is not finite")
            }
            return Matrix(rows: rows, columns: tensor.shape[1], storage: values)
        }
        let users = try matrix("users", rows: userCount, idsFile: userIDsFile)
        let items = try matrix("items", rows: itemCount, idsFile: itemIDsFile)
        guard users.columns == items.columns, users.columns > 0 else {
            throw HandOffError("\(source): users are \(users.columns) wide and items \(items.columns); they must agree")
        }
        return (users, items)
    }

    // MARK: Tensor names

    /// The tower sides as the tensor names spell them.
    static let sides = ["user", "item"]

    /// Every weight tensor a tower reads, with its shape, in forward order: each field's embedding table
    /// (`SIDE.embeddings.FIELD`, `[rows, dimension]`; the id field has one row per id plus a last "unknown"
    /// row), then each hidden layer's and the projection's `weight` (`[outputs, inputs]`, as
    /// `torch.nn.Linear` stores it) and `bias` (`[outputs]`).
    public static func weightNames(side: String, tower: TowerSpecification, idCount: Int) -> [(name: String, shape: [Int])] {
        var names: [(String, [Int])] = tower.fields.enumerated().map { f, field in
            ("\(side).embeddings.\(field.name)", [f == 0 ? idCount + 1 : max(1, field.vocabulary?.count ?? 0), tower.dimension])
        }
        var width = tower.dimension * tower.fields.count
        for (k, h) in tower.hidden.enumerated() {
            names += [("\(side).hidden.\(k).weight", [h, width]), ("\(side).hidden.\(k).bias", [h])]
            width = h
        }
        if tower.projection { names += [("\(side).projection.weight", [tower.dimension, width]), ("\(side).projection.bias", [tower.dimension])] }
        return names
    }

    func checkWeightNames(_ towers: HandOffSpecification.Towers) throws(HandOffError) {
        var expected: [String: [Int]] = [:]
        for (side, tower, count) in [("user", towers.user, userIDs.count), ("item", towers.item, itemIDs.count)] {
            for (name, shape) in Self.weightNames(side: side, tower: tower, idCount: count) {
                expected[name] = shape
                guard let tensor = weights[name] else {
                    throw HandOffError("\(Self.weightsFile): tensor \(name) is missing (shape \(shape))", tensor: name)
                }
                guard tensor.floats != nil else { throw HandOffError("\(Self.weightsFile): tensor \(name) must be float32", tensor: name) }
                guard tensor.shape == shape else {
                    throw HandOffError("\(Self.weightsFile): tensor \(name) has shape \(tensor.shape), the specification needs \(shape)",
                                       tensor: name)
                }
            }
        }
        if let stray = weights.keys.sorted().first(where: { expected[$0] == nil }) {
            throw HandOffError("\(Self.weightsFile): tensor \(stray) is not part of the towers the specification describes", tensor: stray)
        }
    }

    /// The tower of `side` in the hand-off's own row order (the id table's row r is the r-th id).
    func tower(_ side: String, _ specification: TowerSpecification, idCount: Int) -> Tower {
        let names = Self.weightNames(side: side, tower: specification, idCount: idCount)
        func floats(_ name: String) -> [Float] { weights[name]!.floats! }
        let tables = names.prefix(specification.fields.count).map { name, shape in
            EmbeddingTable(rows: shape[0], dimension: shape[1], weights: floats(name))
        }
        func dense(_ prefix: String) -> DenseLayer {
            let w = weights[prefix + ".weight"]!, b = floats(prefix + ".bias")
            let (outputs, inputs) = (w.shape[0], w.shape[1])
            // torch.nn.Linear keeps [outputs, inputs]; Rummage's dense layers compute x·W with W [inputs, outputs].
            return DenseLayer(weight: DenseParameter(shape: [inputs, outputs], value: Self.transposed(w.floats!, rows: outputs, columns: inputs)),
                              bias: DenseParameter(shape: [outputs], value: b))
        }
        return Tower(tables: Array(tables), hidden: specification.hidden.indices.map { dense("\(side).hidden.\($0)") },
                     projection: specification.projection ? dense("\(side).projection") : nil)
    }

    /// A row-major `rows × columns` matrix's values, transposed (how `torch.nn.Linear`'s `[outputs, inputs]`
    /// weight and Rummage's `[inputs, outputs]` one convert into each other).
    static func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        for r in 0..<rows { for c in 0..<columns { result[c * rows + r] = values[r * columns + c] } }
        return result
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "'\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            context.codingPath.isEmpty ? "not valid JSON" : "'\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        default: "\(error)"
        }
    }
}

/// `handoff.json`: what a hand-off holds.
public struct HandOffSpecification: Codable, Sendable, Equatable {
    public static let formatName = "rummage-handoff"
    public static let latestVersion = 1

    public enum Kind: String, Codable, Sendable {
        /// Trained user and item embeddings only: served from the vectors, new users from their recent listings.
        case embeddings
        /// The towers themselves: new listings and users are embedded at serving time.
        case twoTower = "two-tower"
    }

    /// The two towers of a two-tower hand-off.
    public struct Towers: Codable, Sendable, Equatable {
        public var user: TowerSpecification
        public var item: TowerSpecification
        public init(user: TowerSpecification, item: TowerSpecification) {
            self.user = user
            self.item = item
        }
    }

    /// Always "rummage-handoff".
    public var format: String
    /// The contract's version (1).
    public var version: Int
    public var kind: Kind
    /// Largest absolute difference allowed between Rummage's outputs and the golden ones (default 1e-4).
    public var tolerance: Double?
    /// The softmax temperature the towers were trained with (kept in the model; scores are cosines).
    public var temperature: Double?
    /// The towers (kind two-tower).
    public var towers: Towers?
    /// Free text: who or what made it (framework, script, commit); kept in the registry's manifest.
    public var producer: String?

    public init(kind: Kind, tolerance: Double? = nil, temperature: Double? = nil, towers: Towers? = nil, producer: String? = nil) {
        format = Self.formatName
        version = Self.latestVersion
        self.kind = kind
        self.tolerance = tolerance
        self.temperature = temperature
        self.towers = towers
        self.producer = producer
    }

    func validate() throws(HandOffError) {
        let file = HandOff.specificationFile
        guard format == Self.formatName else { throw HandOffError("\(file): format is '\(format)', not '\(Self.formatName)'") }
        guard (1...Self.latestVersion).contains(version) else {
            throw HandOffError("\(file): version \(version) is newer than this Rummage reads (\(Self.latestVersion))")
        }
        if let tolerance, !(tolerance >= 0 && tolerance <= 1) { throw HandOffError("\(file): tolerance \(tolerance) outside 0…1") }
        if let temperature, !(temperature > 0) { throw HandOffError("\(file): temperature must be positive") }
        switch (kind, towers) {
        case (.twoTower, nil): throw HandOffError("\(file): kind two-tower needs 'towers' (user and item)")
        case (.embeddings, _?): throw HandOffError("\(file): kind embeddings takes no 'towers'; use kind two-tower")
        case (.twoTower, let towers?):
            try towers.user.validate(side: "user")
            try towers.item.validate(side: "item")
            guard towers.user.dimension == towers.item.dimension else {
                throw HandOffError("\(file): the user tower outputs \(towers.user.dimension) values and the item tower \(towers.item.dimension)")
            }
        case (.embeddings, nil): break
        }
    }
}

/// One tower of a hand-off: input fields, each pooled by mean over its embedding bag and concatenated,
/// then dense + activation layers, an optional linear projection, and L2 normalisation, which is how
/// Rummage's own towers compute (`Tower`).
public struct TowerSpecification: Codable, Sendable, Equatable {
    /// An input field. The first is the entity's own id (its vocabulary is the ids file); every other
    /// field lists its vocabulary, whose position is the embedding table's row.
    public struct Field: Codable, Sendable, Equatable {
        public var name: String
        public var vocabulary: [String]?
        public init(name: String, vocabulary: [String]? = nil) {
            self.name = name
            self.vocabulary = vocabulary
        }
    }

    public var fields: [Field]
    /// Width of every embedding table and of the tower's output.
    public var dimension: Int
    /// Widths of the hidden dense layers, in order.
    public var hidden: [Int]
    /// Whether a final linear layer maps to `dimension` (required when the last width differs).
    public var projection: Bool
    /// "relu" (the default and the only activation Rummage's layers have).
    public var activation: String?
    /// "mean" (the default; `torch.nn.EmbeddingBag(mode="mean")`, an empty bag gives zeros).
    public var pooling: String?
    /// "l2" (the default; outputs are unit vectors, scores are cosines).
    public var normalization: String?

    public init(fields: [Field], dimension: Int, hidden: [Int], projection: Bool) {
        self.fields = fields
        self.dimension = dimension
        self.hidden = hidden
        self.projection = projection
        activation = "relu"
        pooling = "mean"
        normalization = "l2"
    }

    func validate(side: String) throws(HandOffError) {
        let at = "\(HandOff.specificationFile): towers.\(side)"
        guard (activation ?? "relu") == "relu" else { throw HandOffError("\(at): activation '\(activation!)' is not supported (relu)") }
        guard (pooling ?? "mean") == "mean" else { throw HandOffError("\(at): pooling '\(pooling!)' is not supported (mean)") }
        guard (normalization ?? "l2") == "l2" else { throw HandOffError("\(at): normalization '\(normalization!)' is not supported (l2)") }
        guard (1...4096).contains(dimension) else { throw HandOffError("\(at): dimension \(dimension) outside 1…4096") }
        guard let id = fields.first, id.vocabulary == nil else {
            throw HandOffError("\(at): the first field must be the entity's id, without a vocabulary (the ids file is its vocabulary)")
        }
        for field in fields.dropFirst() where (field.vocabulary ?? []).isEmpty {
            throw HandOffError("\(at): field '\(field.name)' needs its vocabulary")
        }
        guard Set(fields.map(\.name)).count == fields.count else { throw HandOffError("\(at): a field name appears twice") }
        guard hidden.allSatisfy({ $0 > 0 }) else { throw HandOffError("\(at): hidden widths must be positive") }
        let outputWidth = projection ? dimension : (hidden.last ?? dimension * fields.count)
        guard outputWidth == dimension else {
            throw HandOffError("\(at): the tower outputs \(outputWidth) values but its dimension is \(dimension); add a projection")
        }
    }
}

/// Why a hand-off is refused: a missing or malformed file, or outputs that do not reproduce. `tensor`
/// names the first tensor at fault when there is one.
public struct HandOffError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var tensor: String?
    public init(_ message: String, tensor: String? = nil) {
        self.message = message
        self.tensor = tensor
    }
    public var description: String { message }
}
