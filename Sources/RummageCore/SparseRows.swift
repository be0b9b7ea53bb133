/// Compressed sparse rows: row `r` holds `columns[offsets[r]..<offsets[r+1]]`, sorted ascending,
/// with matching `values`. Immutable and cheap to share between threads.
public struct SparseRows: Sendable, Equatable {
    public let rowCount: Int
    public let columnCount: Int
    public let offsets: [Int]
    public let columns: [Int32]
    public let values: [Float]

    /// Precondition: `offsets` has `rowCount + 1` non-decreasing entries ending at `columns.count`,
    /// and each row's columns are sorted, unique and below `columnCount`.
    public init(rowCount: Int, columnCount: Int, offsets: [Int], columns: [Int32], values: [Float]) {
        precondition(offsets.count == rowCount + 1 && offsets.last == columns.count && values.count == columns.count)
        self.rowCount = rowCount
        self.columnCount = columnCount
        self.offsets = offsets
        self.columns = columns
        self.values = values
    }

    public var nonZeroCount: Int { columns.count }

    @inlinable public func range(of row: Int) -> Range<Int> { offsets[row]..<offsets[row + 1] }
    @inlinable public func count(of row: Int) -> Int { offsets[row + 1] - offsets[row] }
    @inlinable public func columns(of row: Int) -> ArraySlice<Int32> { columns[range(of: row)] }
    @inlinable public func values(of row: Int) -> ArraySlice<Float> { values[range(of: row)] }

    /// True when `column` is stored in `row` (binary search).
    @inlinable
    public func contains(row: Int, column: Int32) -> Bool {
        var lo = offsets[row], hi = offsets[row + 1]
        while lo < hi {
            let mid = (lo + hi) >> 1
            let c = columns[mid]
            if c == column { return true }
            if c < column { lo = mid + 1 } else { hi = mid }
        }
        return false
    }

    /// The same entries with rows and columns swapped (columns stay sorted, as a counting sort keeps order).
    public func transposed() -> SparseRows {
        var counts = [Int](repeating: 0, count: columnCount + 1)
        for c in columns { counts[Int(c) + 1] += 1 }
        for i in 0..<columnCount { counts[i + 1] += counts[i] }
        let newOffsets = counts
        var next = counts
        var newColumns = [Int32](repeating: 0, count: columns.count)
        var newValues = [Float](repeating: 0, count: columns.count)
        for r in 0..<rowCount {
            for k in range(of: r) {
                let c = Int(columns[k])
                newColumns[next[c]] = Int32(r)
                newValues[next[c]] = values[k]
                next[c] += 1
            }
        }
        return SparseRows(rowCount: columnCount, columnCount: rowCount, offsets: newOffsets,
                          columns: newColumns, values: newValues)
    }

    /// How duplicate (row, column) entries are combined when building from coordinates.
    public enum DuplicatePolicy: Sendable { case sum, maximum, keepFirst }

    /// Builds from unordered coordinates. Entries must be in range (precondition).
    public init(rowCount: Int, columnCount: Int, rows: [Int32], columns: [Int32], values: [Float]? = nil,
                duplicates: DuplicatePolicy = .sum) {
        precondition(rows.count == columns.count && (values == nil || values!.count == rows.count))
        // Counting sort by row, stable, then sort each row by column and merge duplicates.
        var counts = [Int](repeating: 0, count: rowCount + 1)
        for r in rows {
            precondition(r >= 0 && Int(r) < rowCount, "row \(r) out of range 0..<\(rowCount)")
            counts[Int(r) + 1] += 1
        }
        for i in 0..<rowCount { counts[i + 1] += counts[i] }
        var next = counts
        var sortedColumns = [Int32](repeating: 0, count: rows.count)
        var sortedValues = [Float](repeating: 1, count: rows.count)
        for k in 0..<rows.count {
            let r = Int(rows[k]), c = columns[k]
            precondition(c >= 0 && Int(c) < columnCount, "column \(c) out of range 0..<\(columnCount)")
            sortedColumns[next[r]] = c
            if let values { sortedValues[next[r]] = values[k] }
            next[r] += 1
        }
        var outOffsets = [Int](repeating: 0, count: rowCount + 1)
        var outColumns = [Int32](); outColumns.reserveCapacity(rows.count)
        var outValues = [Float](); outValues.reserveCapacity(rows.count)
        var scratch: [(Int32, Float)] = []
        for r in 0..<rowCount {
            scratch.removeAll(keepingCapacity: true)
            for k in counts[r]..<counts[r + 1] { scratch.append((sortedColumns[k], sortedValues[k])) }
            // Stable so that `.keepFirst` keeps the first occurrence in input order.
            if !scratch.isEmpty { stableSortByColumn(&scratch) }
            var i = 0
            while i < scratch.count {
                let c = scratch[i].0
                var v = scratch[i].1
                var j = i + 1
                while j < scratch.count && scratch[j].0 == c {
                    switch duplicates {
                    case .sum: v += scratch[j].1
                    case .maximum: v = max(v, scratch[j].1)
                    case .keepFirst: break
                    }
                    j += 1
                }
                outColumns.append(c); outValues.append(v)
                i = j
            }
            outOffsets[r + 1] = outColumns.count
        }
        self.init(rowCount: rowCount, columnCount: columnCount, offsets: outOffsets, columns: outColumns,
                  values: outValues)
    }
}

private func stableSortByColumn(_ a: inout [(Int32, Float)]) {
    // Rows are short; insertion sort is stable and fast when input is mostly ordered.
    if a.count > 64 {
        let sorted = a.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }
        a = sorted.map(\.element)
        return
    }
    for i in 1..<a.count {
        let x = a[i]
        var j = i - 1
        while j >= 0 && a[j].0 > x.0 { a[j + 1] = a[j]; j -= 1 }
        a[j + 1] = x
    }
}
