import LinearAlgebra
import RummageCore

/// A model that can list the items most like a given item ("similar items" surfaces).
public protocol SimilarItemsRecommender: Recommender {
    /// The `k` items most similar to `item`, best first, never `item` itself.
    func similarItems(to item: ItemIndex, k: Int) -> [ScoredIndex]
}

/// A model that saves to and loads from a versioned binary artifact (see `ArtifactWriter`).
public protocol PersistentRecommender: Recommender {
    /// The artifact kind this model writes and accepts.
    static var artifactKind: String { get }
    /// Appends the model's fields.
    func write(to writer: inout ArtifactWriter)
    /// Reads the fields `write(to:)` wrote, validating shapes.
    init(reading reader: inout ArtifactReader) throws(DataError)
}

extension PersistentRecommender {
    /// Writes the model to `path` atomically.
    public func save(to path: String) throws(DataError) {
        var writer = ArtifactWriter(kind: Self.artifactKind)
        write(to: &writer)
        try writer.write(to: path)
    }

    /// Loads a model saved by `save(to:)`; corrupt, truncated or foreign files throw `DataError`.
    public static func load(from path: String) throws(DataError) -> Self {
        var reader = try ArtifactReader(path: path, expectedKind: artifactKind)
        let model = try Self(reading: &reader)
        try reader.finish()
        return model
    }
}
