import RummageCore

/// Features whose value changes over time (recent items, category affinity, listing popularity), given
/// as bags of ids: at each training interaction's own time (point-in-time, so a training example never
/// sees its future), and at serving time for the final embeddings. The caller computes them, e.g. from
/// the feature store's offline path; the towers embed each field as one more embedding bag.
public struct DynamicFeatures: Sendable {
    public struct Field: Sendable {
        public var name: String
        /// Ids in the bags are below this.
        public var vocabularySize: Int
        /// The names of the ids, where they are not the model's own items or numbers (e.g. the categories
        /// of an affinity); stored with the model so serving can make the same bags.
        public var vocabulary: [String]
        /// One row per training interaction, in the order of the training matrix's `byUser` entries.
        public var training: SparseRows
        /// One row per user (or item): the bag at serving time. Rows past the end are empty bags.
        public var serving: SparseRows

        public init(name: String, vocabularySize: Int, vocabulary: [String] = [], training: SparseRows, serving: SparseRows) {
            precondition(training.columnCount == vocabularySize && serving.columnCount == vocabularySize)
            precondition(vocabulary.isEmpty || vocabulary.count == vocabularySize)
            self.name = name
            self.vocabularySize = vocabularySize
            self.vocabulary = vocabulary
            self.training = training
            self.serving = serving
        }
    }

    public var user: [Field]
    public var item: [Field]

    public init(user: [Field], item: [Field]) {
        self.user = user
        self.item = item
    }
}
