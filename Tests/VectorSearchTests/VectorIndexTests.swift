import Foundation
import LinearAlgebra
import RummageCore
import Testing
import VectorSearch

@Suite struct VectorIndexTests {
    /// Unit vectors in `clusters` groups (like item embeddings): a cluster centre plus noise.
    static func vectors(_ n: Int, d: Int, clusters: Int = 20, seed: UInt64) -> Matrix {
        var rng = SeededGenerator(seed: seed)
        let centres = (0..<clusters * d).map { _ in Float(rng.nextGaussian()) }
        var storage: [Float] = []
        for _ in 0..<n {
            let c = rng.nextInt(below: clusters)
            var v = (0..<d).map { centres[c * d + $0] + 0.6 * Float(rng.nextGaussian()) }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / norm }
            storage += v
        }
        return Matrix(rows: n, columns: d, storage: storage)
    }

    enum Kind: String, CaseIterable { case flat, hnsw }

    static func make(_ kind: Kind, d: Int) -> any VectorIndex {
        kind == .flat ? FlatIndex(dimension: d) : HNSWIndex(dimension: d)
    }

    /// Recall@k of `index` against the flat oracle over `queries`.
    static func recall(_ index: any VectorIndex, _ oracle: FlatIndex, _ queries: Matrix, k: Int,
                       filter: (@Sendable (Int64) -> Bool)? = nil) -> Double {
        let got = index.search(queries, k: k, filter: filter), truth = oracle.search(queries, k: k, filter: filter)
        var hits = 0, total = 0
        for (g, t) in zip(got, truth) {
            hits += Set(g.map(\.id)).intersection(t.map(\.id)).count
            total += t.count
        }
        return Double(hits) / Double(max(total, 1))
    }

    @Test func flatIndexIsExactAgainstBruteForce() {
        let data = Self.vectors(300, d: 16, seed: 1), queries = Self.vectors(10, d: 16, seed: 2)
        let index = FlatIndex(dimension: 16)
        index.add(ids: (0..<300).map { Int64($0 * 3) }, vectors: data)
        for (q, hits) in index.search(queries, k: 5, filter: nil).enumerated() {
            let scores = (0..<300).map { r in (0..<16).reduce(Float(0)) { $0 + data[r, $1] * queries[q, $1] } }
            let best = scores.enumerated().sorted { $0.element > $1.element }.prefix(5).map { Int64($0.offset * 3) }
            #expect(hits.map(\.id) == best)
        }
    }

    /// Issues [6/8] and [11/19]: the index chooses the search width that reaches recall@20 0.96 on 500
    /// sample queries (unfiltered and filtered); at that width queries it was not chosen on reach 0.95,
    /// also after live removes and with a filter.
    @Test func hnswRecallAtTwentyAtTheCalibratedWidth() {
        let d = 32, n = 5_000
        let data = Self.vectors(n, d: d, seed: 3), queries = Self.vectors(200, d: d, seed: 4)
        let ids = (0..<n).map { Int64($0) }
        let hnsw = HNSWIndex(dimension: d), oracle = FlatIndex(dimension: d)
        hnsw.add(ids: ids, vectors: data)
        oracle.add(ids: ids, vectors: data)
        let filter: @Sendable (Int64) -> Bool = { $0 % 3 != 0 }
        let calibration = hnsw.calibrateSearchWidth(queries: Self.vectors(500, d: d, seed: 13), k: 20, target: 0.96, filters: [filter])
        #expect(calibration.met && calibration.recall.lowerBound >= 0.96 && calibration.filteredRecall!.lowerBound >= 0.96)
        let served = hnsw.withSearchWidth(calibration.searchWidth)
        #expect(Self.recall(served, oracle, queries, k: 20) >= 0.95)
        // Remove a fifth (sold listings) and filter out every third id (e.g. another category).
        let removed = ids.filter { $0 % 5 == 0 }
        hnsw.remove(ids: removed)
        oracle.remove(ids: removed)
        #expect(Self.recall(served, oracle, queries, k: 20, filter: filter) >= 0.95)
        for hits in served.search(queries, k: 20, filter: filter) {
            #expect(hits.count == 20)
            #expect(hits.allSatisfy { $0.id % 5 != 0 && $0.id % 3 != 0 })
        }
        // A width that cannot grow far enough does not meet the target, and says so.
        let capped = hnsw.calibrateSearchWidth(queries: queries, k: 20, target: 1, maxWidth: 20)
        #expect(!capped.met && capped.searchWidth == 20 && capped.summary.hasSuffix("NOT MET"))
    }

    /// The cause of [11/19]: the graph depended on the order of adds. A catalogue added grouped by
    /// cluster (as a category or a seller's listings arrive together) and queries that mix several
    /// clusters (users' tastes, away from any one listing), as with real two-tower embeddings. Adding in
    /// the caller's order, and filling link lists back up with pruned candidates, gave recall@20 0.83 at
    /// ef 64 and 0.92 at ef 128 here (M 16, the old default); linking highest layer first in a seeded
    /// random order within a layer (as faiss does) gives 0.93 and 0.99 at M 16, 0.94 and 0.99 at M 24.
    @Test func recallHoldsWhenAddedInClusterOrderWithQueriesBetweenClusters() {
        let d = 32, n = 20_000, clusters = 200
        var rng = SeededGenerator(seed: 1)
        func unit(_ v: [Float]) -> [Float] {
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
        let centres = (0..<clusters).map { _ in (0..<d).map { _ in Float(rng.nextGaussian()) } }
        var rows = (0..<n).map { _ in
            let c = rng.nextInt(below: clusters)
            return (cluster: c, vector: unit((0..<d).map { centres[c][$0] + 0.3 * Float(rng.nextGaussian()) }))
        }
        let queries = Matrix(rows: 300, columns: d, storage: (0..<300).flatMap { _ in
            let mix = (0..<3).map { _ in rng.nextInt(below: clusters) }
            return unit((0..<d).map { f in mix.reduce(Float(rng.nextGaussian())) { $0 + centres[$1][f] } })
        })
        rows = rows.enumerated().sorted { ($0.element.cluster, $0.offset) < ($1.element.cluster, $1.offset) }.map(\.element)
        let ids = (0..<n).map { Int64($0) }, vectors = Matrix(rows: n, columns: d, storage: rows.flatMap(\.vector))
        let hnsw = HNSWIndex(dimension: d), oracle = FlatIndex(dimension: d)
        hnsw.add(ids: ids, vectors: vectors)
        oracle.add(ids: ids, vectors: vectors)
        #expect(Self.recall(hnsw.withSearchWidth(64), oracle, queries, k: 20) >= 0.9)
        #expect(Self.recall(hnsw.withSearchWidth(128), oracle, queries, k: 20) >= 0.97)
    }

    /// Linking a batch on several threads gives the very same graph as on one.
    @Test func buildThreadsDoNotChangeTheGraph() throws {
        let d = 16
        let data = Self.vectors(4_000, d: d, seed: 15), queries = Self.vectors(50, d: d, seed: 16)
        var configuration = HNSWIndex.Configuration()
        configuration.buildThreads = 2
        let one = HNSWIndex(dimension: d), two = HNSWIndex(dimension: d, configuration: configuration)
        for index in [one, two] { index.add(ids: (0..<4_000).map { Int64($0) }, vectors: data) }
        #expect(one.search(queries, k: 20, filter: nil) == two.search(queries, k: 20, filter: nil))
        let directory = NSTemporaryDirectory() + "rummage-hnsw-threads-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try one.save(to: directory + "/one.rmg", stamp: "s")
        try two.save(to: directory + "/two.rmg", stamp: "s")
        #expect(FileManager.default.contents(atPath: directory + "/one.rmg") == FileManager.default.contents(atPath: directory + "/two.rmg"))
    }

    @Test(arguments: Kind.allCases)
    func liveAddsReplaceAndRemovesHideAtOnce(kind: Kind) {
        let d = 8
        let index = Self.make(kind, d: d)
        let data = Self.vectors(200, d: d, seed: 5)
        index.add(ids: (0..<200).map { Int64($0) }, vectors: data)
        #expect(index.count == 200)
        // Query with item 7's own vector: it is its own best hit, until removed.
        let query = Matrix(rows: 1, columns: d, storage: Array(data.row(7)))
        #expect(index.search(query, k: 1, filter: nil)[0].first?.id == 7)
        index.remove(ids: [7, 999])
        #expect(index.count == 199 && !index.contains(7))
        #expect(!index.search(query, k: 50, filter: nil)[0].contains { $0.id == 7 })
        // Re-adding 7 with item 8's vector: searching for 8's vector finds both.
        index.add(ids: [7], vectors: Matrix(rows: 1, columns: d, storage: Array(data.row(8))))
        let eight = Matrix(rows: 1, columns: d, storage: Array(data.row(8)))
        #expect(Set(index.search(eight, k: 2, filter: nil)[0].map(\.id)) == [7, 8])
        #expect(index.count == 200)
        // A filter that accepts nothing returns nothing; one that accepts one id returns it.
        #expect(index.search(eight, k: 5, filter: { _ in false })[0].isEmpty)
        #expect(index.search(eight, k: 5, filter: { $0 == 150 })[0].map(\.id) == [150])
    }

    @Test func hnswIsDeterministicBySeed() {
        let data = Self.vectors(1_000, d: 16, seed: 6), queries = Self.vectors(20, d: 16, seed: 7)
        let a = HNSWIndex(dimension: 16), b = HNSWIndex(dimension: 16)
        a.add(ids: (0..<1_000).map { Int64($0) }, vectors: data)
        b.add(ids: (0..<1_000).map { Int64($0) }, vectors: data)
        #expect(a.search(queries, k: 10, filter: nil) == b.search(queries, k: 10, filter: nil))
    }

    @Test func manyRemovesTriggerARebuildThatKeepsRecall() {
        let d = 16, n = 2_000
        let data = Self.vectors(n, d: d, seed: 8), queries = Self.vectors(100, d: d, seed: 9)
        let hnsw = HNSWIndex(dimension: d), oracle = FlatIndex(dimension: d)
        hnsw.add(ids: (0..<n).map { Int64($0) }, vectors: data)
        oracle.add(ids: (0..<n).map { Int64($0) }, vectors: data)
        let removed = (0..<n).filter { $0 % 2 == 0 }.map { Int64($0) }  // half: past the rebuild threshold
        hnsw.remove(ids: removed)
        oracle.remove(ids: removed)
        #expect(hnsw.count == n / 2)
        hnsw.finishMaintenance()
        #expect(hnsw.count == n / 2 && hnsw.tombstones == 0)
        #expect(Self.recall(hnsw, oracle, queries, k: 20) >= 0.95)
    }

    /// Rows `range` of `m`.
    static func rows(_ m: Matrix, _ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, columns: m.columns, storage: Array(m.storage[range.lowerBound * m.columns..<range.upperBound * m.columns]))
    }

    /// [13/19]: the rebuild runs aside while searches, adds and removes go on against the current graph;
    /// the changes made meanwhile are replayed on the new graph before it is swapped in (it was rebuilt
    /// inside the write lock, so a PATCH and every concurrent search waited for it).
    @Test func changesDuringABackgroundRebuildAreKept() {
        let d = 16, n = 6_000
        let data = Self.vectors(n + 500, d: d, seed: 21), queries = Self.vectors(100, d: d, seed: 22)
        let hnsw = HNSWIndex(dimension: d).withSearchWidth(128), oracle = FlatIndex(dimension: d)
        let ids = (0..<n).map { Int64($0) }
        hnsw.add(ids: ids, vectors: Self.rows(data, 0..<n))
        oracle.add(ids: ids, vectors: Self.rows(data, 0..<n))
        let removed = ids.filter { $0 % 5 < 2 }  // 40 %: a rebuild starts in the background
        hnsw.remove(ids: removed)
        oracle.remove(ids: removed)
        // While it runs (through the view, as serving changes its index): searches answer, new listings
        // come in, others leave.
        let added = (n..<n + 500).map { Int64($0) }
        for chunk in stride(from: 0, to: 500, by: 50) {
            let batch = Array(added[chunk..<chunk + 50])
            hnsw.add(ids: batch, vectors: Self.rows(data, n + chunk..<n + chunk + 50))
            oracle.add(ids: batch, vectors: Self.rows(data, n + chunk..<n + chunk + 50))
            let gone = [Int64(chunk * 2 + 1), Int64(chunk * 2 + 2)]
            hnsw.remove(ids: gone)
            oracle.remove(ids: gone)
            #expect(hnsw.search(Self.rows(queries, 0..<5), k: 10, filter: nil).allSatisfy { $0.count == 10 })
        }
        hnsw.finishMaintenance()
        #expect(hnsw.count == oracle.count && hnsw.tombstones < n / 10)
        let all = Set(hnsw.allIDs)
        #expect(all.isSuperset(of: added) && all.isDisjoint(with: removed) && !all.contains(2) && !all.contains(102))
        #expect(Self.recall(hnsw, oracle, queries, k: 20) >= 0.95)
    }
}

@Suite struct HNSWSerializationTests {
    @Test func saveLoadKeepsTheGraphAndStampAndRefusesDamage() throws {
        let d = 16
        let data = VectorIndexTests.vectors(800, d: d, seed: 10), queries = VectorIndexTests.vectors(20, d: d, seed: 11)
        let index = HNSWIndex(dimension: d)
        index.add(ids: (0..<800).map { Int64($0) }, vectors: data)
        index.remove(ids: [3, 4, 5])
        let path = NSTemporaryDirectory() + "rummage-hnsw-\(UUID().uuidString).rmg"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try index.save(to: path, stamp: "model sha abc")
        let (loaded, stamp) = try HNSWIndex.load(from: path)
        #expect(stamp == "model sha abc" && loaded.count == 797 && !loaded.contains(4))
        #expect(loaded.search(queries, k: 10, filter: nil) == index.search(queries, k: 10, filter: nil))
        // Adds after loading continue the same random stream as the original.
        let more = VectorIndexTests.vectors(50, d: d, seed: 12)
        index.add(ids: (800..<850).map { Int64($0) }, vectors: more)
        loaded.add(ids: (800..<850).map { Int64($0) }, vectors: more)
        #expect(loaded.search(queries, k: 10, filter: nil) == index.search(queries, k: 10, filter: nil))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(throws: DataError.self) { try HNSWIndex.load(from: path) }
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: path))
        #expect(throws: DataError.self) { try HNSWIndex.load(from: path) }
    }
}

@Suite struct HNSWConcurrencyTests {
    /// Searches run while other threads add and remove: no crash, every answer holds only ids that were
    /// added, and once the writers finish, removed ids are never returned.
    @Test func searchesRunAlongsideAddsAndRemoves() {
        let d = 16
        let data = VectorIndexTests.vectors(3_000, d: d, seed: 20), queries = VectorIndexTests.vectors(50, d: d, seed: 21)
        let index = HNSWIndex(dimension: d)
        index.add(ids: (0..<2_000).map { Int64($0) }, vectors: Matrix(rows: 2_000, columns: d, storage: Array(data.storage.prefix(2_000 * d))))
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            switch worker {
            case 0:
                for i in 2_000..<3_000 {
                    index.add(ids: [Int64(i)], vectors: Matrix(rows: 1, columns: d, storage: Array(data.row(i))))
                }
            case 1:
                for i in stride(from: 0, to: 2_000, by: 4) { index.remove(ids: [Int64(i)]) }
            default:
                for _ in 0..<40 {
                    for hits in index.search(queries, k: 10, filter: nil) {
                        #expect(hits.allSatisfy { $0.id >= 0 && $0.id < 3_000 })
                    }
                }
            }
        }
        #expect(index.count == 3_000 - 500)
        for hits in index.search(queries, k: 20, filter: nil) {
            #expect(hits.count == 20 && hits.allSatisfy { $0.id >= 2_000 || $0.id % 4 != 0 })
        }
    }
}
