import RummageCore
import RummageTestSupport
import Testing

@Suite struct SparseStructureTests {
    @Test func idMapAssignsFirstSeenIndices() {
        var map = IDMap<UserID>()
        #expect(map.insert("b") == 0)
        #expect(map.insert("a") == 1)
        #expect(map.insert("b") == 0)
        #expect(map.count == 2)
        #expect(map.index(of: "a") == 1)
        #expect(map.index(of: "zzz") == nil)
        #expect(map[1] == "a")
        #expect(IDMap<ItemID>(["x", "y"]).index(of: "y") == 1)
    }

    /// `DenseIndex` answers as a `Dictionary` does (the oracle) through growth, overwrites and misses,
    /// with keys long enough to live on the heap and short ones.
    @Test func denseIndexAgreesWithADictionary() {
        var index = DenseIndex<String>(), oracle: [String: Int32] = [:]
        var rng = SeededGenerator(seed: 9)
        for step in 0..<20_000 {
            let key = rng.nextInt(below: 2) == 0 ? "l\(rng.nextInt(below: 5_000))" : "listing-with-a-long-id-\(rng.nextInt(below: 5_000))"
            index.set(key, to: Int32(step))
            oracle[key] = Int32(step)
        }
        #expect(index.count == oracle.count && Set(index.keys) == Set(oracle.keys) && index.keys.count == oracle.count)
        for probe in 0..<6_000 {
            for key in ["l\(probe)", "listing-with-a-long-id-\(probe)"] { #expect(index[key] == oracle[key], "\(key)") }
        }
    }

    @Test func buildsRowsSortedAndMergesDuplicates() {
        let rows: [Int32] = [1, 0, 1, 1, 0], columns: [Int32] = [3, 2, 0, 3, 2]
        let values: [Float] = [1, 2, 5, 4, 7]
        let sum = SparseRows(rowCount: 3, columnCount: 4, rows: rows, columns: columns, values: values, duplicates: .sum)
        #expect(sum.offsets == [0, 1, 3, 3])
        #expect(sum.columns == [2, 0, 3])
        #expect(sum.values == [9, 5, 5])
        let maximum = SparseRows(rowCount: 3, columnCount: 4, rows: rows, columns: columns, values: values, duplicates: .maximum)
        #expect(maximum.values == [7, 5, 4])
        let first = SparseRows(rowCount: 3, columnCount: 4, rows: rows, columns: columns, values: values, duplicates: .keepFirst)
        #expect(first.values == [2, 5, 1])
        #expect(sum.contains(row: 1, column: 3))
        #expect(!sum.contains(row: 1, column: 2))
        #expect(!sum.contains(row: 2, column: 0))
    }

    @Test func transposeTwiceIsIdentity() {
        let m = Fixtures.randomInteractions(users: 37, items: 23, density: 0.2, seed: 5)
        #expect(m.byUser.transposed() == m.byItem)
        #expect(m.byItem.transposed() == m.byUser)
        for i in 0..<m.itemCount {
            for u in m.users(of: ItemIndex(i)) { #expect(m.contains(UserIndex(u), ItemIndex(i))) }
        }
        #expect(m.itemPopularity.reduce(0, +) == m.interactionCount)
    }

    @Test func longRowsKeepFirstOccurrenceOrder() {
        // More than 64 entries in one row exercises the sort path for long rows.
        var rows: [Int32] = [], columns: [Int32] = [], values: [Float] = []
        for k in 0..<200 { rows.append(0); columns.append(Int32(199 - k % 100)); values.append(Float(k)) }
        let m = SparseRows(rowCount: 1, columnCount: 200, rows: rows, columns: columns, values: values, duplicates: .keepFirst)
        #expect(m.columns == (100...199).map { Int32($0) })
        #expect(m.values == (0..<100).reversed().map { Float($0) })
    }
}
