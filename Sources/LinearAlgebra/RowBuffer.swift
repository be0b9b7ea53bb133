/// Row-major `Float` storage that parallel workers update in place.
///
/// Contract: while workers run concurrently, each row is written by at most one worker, or the
/// algorithm tolerates racing updates by design (Hogwild SGD) and says so where it relies on it.
/// Read `matrix` only after the workers have finished.
public final class RowBuffer: @unchecked Sendable {
    // @unchecked because: the buffer is shared mutable memory by design; the contract above (disjoint
    // rows, or documented Hogwild races) is what keeps concurrent use sound.
    public let rows: Int
    public let columns: Int
    public let base: UnsafeMutablePointer<Float>

    public init(_ matrix: Matrix) {
        rows = matrix.rows
        columns = matrix.columns
        base = .allocate(capacity: max(1, matrix.storage.count))
        matrix.storage.withUnsafeBufferPointer { base.initialize(from: $0.baseAddress!, count: $0.count) }
    }

    deinit { base.deallocate() }

    /// Pointer to the first element of row `r`.
    @inlinable public func row(_ r: Int) -> UnsafeMutablePointer<Float> { base + r * columns }

    /// A copy of the current contents.
    public var matrix: Matrix {
        Matrix(rows: rows, columns: columns, storage: Array(UnsafeBufferPointer(start: base, count: rows * columns)))
    }
}
