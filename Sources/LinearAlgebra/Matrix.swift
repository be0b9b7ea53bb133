/// A dense row-major matrix of `Float` with value semantics.
///
/// Element (r, c) is `storage[r * columns + c]`. Row-major matches how embeddings are stored and
/// served (one contiguous vector per user or item).
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public var storage: [Float]

    public init(rows: Int, columns: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && columns >= 0)
        self.rows = rows
        self.columns = columns
        storage = [Float](repeating: value, count: rows * columns)
    }

    /// Precondition: `storage.count == rows * columns`.
    public init(rows: Int, columns: Int, storage: [Float]) {
        precondition(storage.count == rows * columns, "storage has \(storage.count) elements, expected \(rows * columns)")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    @inlinable
    public subscript(row: Int, column: Int) -> Float {
        get { storage[row * columns + column] }
        set { storage[row * columns + column] = newValue }
    }

    /// Row `r` as a contiguous slice.
    @inlinable
    public func row(_ r: Int) -> ArraySlice<Float> { storage[r * columns..<(r + 1) * columns] }
}
