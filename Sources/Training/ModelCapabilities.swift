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

/// A model that scores by the inner product of a user vector and an item vector: what retrieval indexes
/// (the item rows) and queries (the user rows). Serving and the pipeline reach embeddings through this
/// capability, never through a concrete model type.
public protocol EmbeddingModel: Recommender {
    /// One row per user the model was trained with.
    var userEmbeddings: Matrix { get }
    /// One row per item the model was trained with.
    var itemEmbeddings: Matrix { get }
}

/// A model that embeds listings it was never trained on from their content (cold start).
public protocol ContentEmbeddingModel: EmbeddingModel {
    /// The content fields the model reads; others are ignored.
    var contentFieldNames: [String] { get }
    /// Vectors for listings the model has never seen: `content[e][f]` are entity `e`'s value names for
    /// field `fieldNames[f]`. Values outside the model's vocabularies are ignored.
    func embedNewItems(fieldNames: [String], content: [[[String]]]) -> Matrix
}

/// A model whose user side runs at request time on the user's current online features.
public protocol RequestTimeUserModel: EmbeddingModel {
    /// The online features the user side reads (empty: it reads none, and the stored rows are final),
    /// with the id vocabulary of each, in the order `embedUser` takes their bags.
    var userDynamicFields: [(name: String, vocabulary: [String])] { get }
    /// The user's vector now: `user` is the model's index for a user it was trained on (nil for a new
    /// one), `dynamicBags` the current bags of `userDynamicFields`.
    func embedUser(_ user: Int?, dynamicBags: [[Int32]]) -> [Float]
}
