/// The user × item feedback that models train on: for each user the items they interacted with
/// (sorted), with a weight per interaction, plus the item-major transpose.
///
/// Immutable, `Sendable`, and shared by every model and protocol that reads training data.
public struct InteractionMatrix: Sendable {
    /// Rows are users, columns items.
    public let byUser: SparseRows
    /// Rows are items, columns users (the transpose of `byUser`).
    public let byItem: SparseRows

    public var userCount: Int { byUser.rowCount }
    public var itemCount: Int { byUser.columnCount }
    public var interactionCount: Int { byUser.nonZeroCount }

    public init(byUser: SparseRows) {
        self.byUser = byUser
        self.byItem = byUser.transposed()
    }

    /// Builds from (user, item, weight) triples; repeated pairs are combined by `duplicates`.
    public init(userCount: Int, itemCount: Int, users: [Int32], items: [Int32], weights: [Float]? = nil,
                duplicates: SparseRows.DuplicatePolicy = .sum) {
        self.init(byUser: SparseRows(rowCount: userCount, columnCount: itemCount, rows: users, columns: items,
                                     values: weights, duplicates: duplicates))
    }

    /// Items of `user`, ascending.
    @inlinable public func items(of user: UserIndex) -> ArraySlice<Int32> { byUser.columns(of: user.int) }
    /// Users of `item`, ascending.
    @inlinable public func users(of item: ItemIndex) -> ArraySlice<Int32> { byItem.columns(of: item.int) }
    /// Whether `user` interacted with `item` in this matrix.
    public func contains(_ user: UserIndex, _ item: ItemIndex) -> Bool {
        byUser.contains(row: user.int, column: item.rawValue)
    }

    /// Number of users who interacted with each item.
    public var itemPopularity: [Int] { (0..<itemCount).map { byItem.count(of: $0) } }
}
