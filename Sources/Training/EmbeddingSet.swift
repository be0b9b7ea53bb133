import LinearAlgebra
import RummageCore

/// Embeddings of a set of entities, with their ids: what `rummage embed` writes and what nearest-
/// neighbour indexes and batch serving read. Row `r` of `vectors` belongs to `ids[r]`.
public struct EmbeddingSet: Sendable, Equatable {
    public static let artifactKind = "embeddings"

    /// `users` or `items`.
    public var entity: String
    public var ids: [String]
    public var vectors: Matrix

    public init(entity: String, ids: [String], vectors: Matrix) {
        precondition(ids.count == vectors.rows, "\(ids.count) ids for \(vectors.rows) vectors")
        self.entity = entity
        self.ids = ids
        self.vectors = vectors
    }

    public func save(to path: String) throws(DataError) {
        var writer = ArtifactWriter(kind: Self.artifactKind)
        writer.append(entity)
        writer.append(UInt64(ids.count))
        for id in ids { writer.append(id) }
        writer.append(floats: vectors.storage, shape: [vectors.rows, vectors.columns])
        try writer.write(to: path)
    }

    public static func load(from path: String) throws(DataError) -> EmbeddingSet {
        var reader = try ArtifactReader(path: path, expectedKind: artifactKind)
        let entity = try reader.string()
        let count = try reader.count(ofElementsOfAtLeast: 4, what: "ids")  // a length prefix each, at least
        var ids: [String] = []
        for _ in 0..<count { ids.append(try reader.string()) }
        let vectors = try reader.floats(rank: 2)
        guard vectors.shape[0] == ids.count else {
            throw DataError(.corrupt, "\(ids.count) ids but \(vectors.shape[0]) vectors", path: path)
        }
        try reader.finish()
        return EmbeddingSet(entity: entity, ids: ids,
                            vectors: Matrix(rows: vectors.shape[0], columns: vectors.shape[1], storage: vectors.values))
    }
}
