import Catalogue
import Foundation
import LinearAlgebra
import RummageCore
import Training
import VectorSearch

/// The deployable form of a registered version, and the one owner of its contract: which files a
/// version that serves holds, how the pipeline writes them, and the cross-checks a server runs before it
/// lets a version answer.
///
/// ```
/// model.rmg             the trained model (its kind's artifact; the manifest's `kind`)
/// user_embeddings.rmg   EmbeddingSet "users": one query vector per known user
/// item_embeddings.rmg   EmbeddingSet "items": one vector per listing the model was trained with
/// index.rmg             HNSW index over the live listings' rows of item_embeddings (ids are row numbers),
///                       stamped "model.rmg sha256 <hex>" with the model file it was built from
/// schema.json           optional: the catalogue schema the data was read with; listings created after
///                       training are embedded from its tokens, as in training
/// ```
///
/// `load` verifies every checksum (the registry's `verify`), then the parts against each other: the
/// stamp names this version's model, the embeddings are of the right entities with unique non-empty ids,
/// every width agrees, and every indexed id is a row of the item embeddings. A version that fails is
/// refused with a `ServingBundleError` naming the file and the problem; the caller keeps what it serves.
public struct ServingBundle: Sendable {
    /// The files of a serving version.
    public enum File: String, CaseIterable, Sendable {
        case model = "model.rmg"
        case userEmbeddings = "user_embeddings.rmg"
        case itemEmbeddings = "item_embeddings.rmg"
        case index = "index.rmg"
    }

    /// The catalogue schema's file (optional in a version).
    public static let schemaFile = "schema.json"

    /// The stamp an index built from the model file with this SHA-256 carries.
    public static func indexStamp(modelSHA256: String) -> String { "\(File.model.rawValue) sha256 \(modelSHA256)" }

    public let model: String
    public let version: Int
    public let manifest: Manifest
    /// Where the model artifact is (loaded by whoever knows its kind).
    public let modelPath: String
    public let users: EmbeddingSet
    public let items: EmbeddingSet
    public let index: HNSWIndex
    /// The catalogue schema, when the version carries one.
    public let schema: CatalogueSchema?

    /// Writes the embedding and index files of a bundle into `directory` (the pipeline's staging area)
    /// and returns them by registry file name, ready for `ModelRegistry.register`. The index's ids are
    /// row numbers of `items`.
    public static func write(users: EmbeddingSet, items: EmbeddingSet, index: HNSWIndex, modelSHA256: String,
                             schema: CatalogueSchema? = nil, to directory: String) throws(DataError) -> [String: String] {
        func path(_ file: File) -> String { directory + "/" + file.rawValue }
        try users.save(to: path(.userEmbeddings))
        try items.save(to: path(.itemEmbeddings))
        try index.save(to: path(.index), stamp: indexStamp(modelSHA256: modelSHA256))
        var files = Dictionary(uniqueKeysWithValues: [File.userEmbeddings, .itemEmbeddings, .index].map { ($0.rawValue, path($0)) })
        if let schema {
            try TextFile.write(Array(schema.json), to: directory + "/" + schemaFile)
            files[schemaFile] = directory + "/" + schemaFile
        }
        return files
    }

    /// Loads version `reference` (a number or an alias) of `model` and checks its parts against each other.
    public static func load(registry: ModelRegistry, model: String, reference: String) throws(ServingBundleError) -> ServingBundle {
        let version: Int, paths: [String: String], manifest: Manifest
        do {
            version = try registry.resolve(model, reference)
            paths = try registry.verify(model, version)
            manifest = try registry.manifest(model, version)
        } catch {
            throw ServingBundleError("\(model) \(reference): \(error)")
        }
        let name = "\(model) v\(version)"
        let missing = File.allCases.filter { paths[$0.rawValue] == nil }
        guard missing.isEmpty else {
            throw ServingBundleError("\(name) lacks \(missing.map(\.rawValue).joined(separator: ", ")): re-run its pipeline")
        }
        func path(_ file: File) -> String { paths[file.rawValue]! }
        let users: EmbeddingSet, items: EmbeddingSet, index: HNSWIndex, stamp: String, schema: CatalogueSchema?
        do {
            users = try EmbeddingSet.load(from: path(.userEmbeddings))
            items = try EmbeddingSet.load(from: path(.itemEmbeddings))
            (index, stamp) = try HNSWIndex.load(from: path(.index))
            schema = try paths[schemaFile].map { path throws(SchemaError) in try CatalogueSchema.load(path: path) }
        } catch {
            throw ServingBundleError("\(name): \(error)")
        }
        let bundle = ServingBundle(model: model, version: version, manifest: manifest, modelPath: path(.model), users: users,
                                   items: items, index: index, schema: schema)
        try bundle.check(stamp: stamp)
        return bundle
    }

    /// The cross-checks of `load`; `stamp` is the index file's.
    func check(stamp: String) throws(ServingBundleError) {
        let name = "\(model) v\(version)"
        guard stamp == Self.indexStamp(modelSHA256: manifest.artifacts[File.model.rawValue] ?? "") else {
            throw ServingBundleError("\(File.index.rawValue) of \(name) was built from another model (\(stamp)); refusing to serve it")
        }
        for (set, entity, file) in [(users, "users", File.userEmbeddings), (items, "items", File.itemEmbeddings)] {
            guard set.entity == entity else { throw ServingBundleError("\(file.rawValue) of \(name) holds '\(set.entity)', not \(entity)") }
            guard !set.ids.contains(where: \.isEmpty) else { throw ServingBundleError("\(file.rawValue) of \(name) has an empty id") }
            guard Set(set.ids).count == set.ids.count else {
                throw ServingBundleError("\(file.rawValue) of \(name) lists an id twice (\(Self.firstDuplicate(set.ids) ?? ""))")
            }
            guard set.vectors.storage.allSatisfy(\.isFinite) else {
                throw ServingBundleError("\(file.rawValue) of \(name) has a value that is not finite")
            }
        }
        let width = index.dimension
        guard users.vectors.columns == width, items.vectors.columns == width else {
            throw ServingBundleError("\(name): widths disagree (users \(users.vectors.columns), items \(items.vectors.columns), index \(width))")
        }
        let rows = Int64(items.ids.count)
        if let stray = index.allIDs.first(where: { $0 < 0 || $0 >= rows }) {
            throw ServingBundleError("\(File.index.rawValue) of \(name) holds id \(stray), not a row of the \(rows) item embeddings")
        }
    }

    static func firstDuplicate(_ ids: [String]) -> String? {
        var seen = Set<String>()
        return ids.first { !seen.insert($0).inserted }
    }
}

/// Why a version may not serve: a missing, corrupt or inconsistent file, named with the problem.
public struct ServingBundleError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
