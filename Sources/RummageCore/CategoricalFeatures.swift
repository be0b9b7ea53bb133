/// Categorical content features of one kind of entity (users or items), as model input.
///
/// Each field (genre, brand, title token…) has its own vocabulary; an entity has zero, one or several
/// values per field, stored as `SparseRows` (rows = entities, columns = value ids). Vocabularies keep
/// the value names so that a saved model can map raw content of a new entity to the same ids.
public struct CategoricalFeatures: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: String
        /// Value names; column `v` of `values` is `vocabulary[v]`.
        public var vocabulary: [String]
        /// Entities × vocabulary.
        public var values: SparseRows

        public init(name: String, vocabulary: [String], values: SparseRows) {
            precondition(values.columnCount == vocabulary.count, "field \(name): \(values.columnCount) columns, \(vocabulary.count) names")
            self.name = name
            self.vocabulary = vocabulary
            self.values = values
        }

        /// Builds a field from each entity's value names; names are added to the vocabulary in first-seen order.
        public init(name: String, entityValues: [[String]]) {
            var vocabulary = IDMap<String>()
            var rows: [Int32] = [], columns: [Int32] = []
            for (entity, names) in entityValues.enumerated() {
                for value in names {
                    rows.append(Int32(entity))
                    columns.append(vocabulary.insert(value))
                }
            }
            self.init(name: name, vocabulary: vocabulary.ids,
                      values: SparseRows(rowCount: entityValues.count, columnCount: vocabulary.count, rows: rows,
                                         columns: columns, duplicates: .keepFirst))
        }
    }

    public var entityCount: Int
    public var fields: [Field]

    public init(entityCount: Int, fields: [Field]) {
        precondition(fields.allSatisfy { $0.values.rowCount == entityCount })
        self.entityCount = entityCount
        self.fields = fields
    }

    /// No fields.
    public static func none(entityCount: Int) -> CategoricalFeatures { CategoricalFeatures(entityCount: entityCount, fields: []) }
}
