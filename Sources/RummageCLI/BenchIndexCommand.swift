import ArgumentParsing
import Foundation
import LinearAlgebra
import Registry
import RummageCore
import Training
import Synchronization
import VectorSearch

/// `rummage bench index`: HNSW build time, recall@k against exact search and queries per second.
struct BenchIndexCommand: Command {
    static let configuration = CommandConfiguration(
        name: "bench index",
        abstract: "Benchmark the HNSW index: build time, recall@k against exact search, and QPS.",
        discussion: """
        Makes `--n` clustered unit vectors (like item embeddings) and `--queries` queries, or with `--real
        VERSION_DIR` takes a registered version's item embeddings as the base and `--queries` of its user
        embeddings (evenly spaced) as queries. Builds the HNSW index on `--threads` threads, prints the
        search width the pipeline would choose for `--target` on these queries, and for each `--ef`
        measures recall@k against the exact FlatIndex and queries per second with `--threads` concurrent
        searchers (median of 3 passes after a warm-up pass). `--write DIR` also stores the vectors and
        queries as raw float32 files (base.f32, queries.f32, and their width in `dimension`) so a peer
        (faiss-cpu) can run on the same data.

        `--churn FRACTION` then measures search latency under listing churn, as serving sees it: one thread
        searches (k = --k, the first --ef) one query at a time and records each latency, while another
        removes FRACTION of the listings one by one (reservations) and adds them back one by one
        (unreservations), --churn-cycles times. Prints the searches' p50, p99 and maximum, the slowest
        single remove or add, and the rebuilds that compacted the tombstones meanwhile.
        """,
        options: [
            .value("n", "N", help: "Indexed vectors.", default: "100000"),
            .value("d", "D", help: "Dimension.", default: "64"),
            .value("queries", "Q", help: "Queries.", default: "2000"),
            .value("k", "K", help: "Neighbours per query.", default: "20"),
            .value("m", "M", help: "HNSW neighbours per node (16 as in hnswlib and faiss; the pipeline's index uses 24).", default: "16"),
            .value("ef-construction", "E", help: "HNSW beam width while building.", default: "200"),
            .value("ef", "E,E,...", help: "Search beam widths to measure.", default: "32,64,128"),
            .value("threads", "N", help: "Concurrent searchers, and threads that build the index.", default: "2"),
            .value("write", "DIR", help: "Also write base.f32 and queries.f32 here."),
            .value("target", "RECALL", help: "Also choose the search width for this recall@k target as the pipeline does (0 skips it).", default: "0.95"),
            .value("real", "VERSION_DIR", help: "Use this registered version's item and user embeddings instead of generated vectors."),
            .value("churn", "FRACTION", help: "Also measure search latency while this fraction of the listings is removed and added back (0 skips it).", default: "0"),
            .value("churn-cycles", "N", help: "Remove-and-add cycles of the churn measurement.", default: "2"),
        ])

    let n: Int, d: Int, queries: Int, k: Int, m: Int, efConstruction: Int, efs: [Int], threads: Int
    let write: String?
    let real: String?
    let target: Double
    let churn: Double, churnCycles: Int

    init(_ arguments: ParsedArguments) throws {
        n = try arguments.requiredInt("n", in: 100...100_000_000)
        d = try arguments.requiredInt("d", in: 2...4096)
        queries = try arguments.requiredInt("queries", in: 1...1_000_000)
        k = try arguments.requiredInt("k", in: 1...1000)
        m = try arguments.requiredInt("m", in: 2...256)
        efConstruction = try arguments.requiredInt("ef-construction", in: 1...10_000)
        let list = try arguments.requiredString("ef").split(separator: ",").compactMap { Int($0) }
        guard !list.isEmpty, list.allSatisfy({ $0 > 0 }) else { throw UsageError("--ef takes positive integers, e.g. 32,64") }
        efs = list
        threads = try arguments.requiredInt("threads", in: 1...256)
        write = arguments.string("write")
        real = arguments.string("real")
        guard let target = Double(try arguments.requiredString("target")), target >= 0 && target <= 1 else {
            throw UsageError("--target takes a recall between 0 and 1 (0 skips it)")
        }
        self.target = target
        guard let churn = Double(try arguments.requiredString("churn")), churn >= 0 && churn <= 1 else {
            throw UsageError("--churn takes a fraction between 0 and 1")
        }
        self.churn = churn
        churnCycles = try arguments.requiredInt("churn-cycles", in: 1...100)
    }

    /// A version's item embeddings (all of them) and `count` of its user embeddings, evenly spaced.
    static func realVectors(versionDirectory: String, queries count: Int) throws -> (base: Matrix, queries: Matrix) {
        let items = try EmbeddingSet.load(from: versionDirectory + "/" + ServingBundle.File.itemEmbeddings.rawValue).vectors
        let users = try EmbeddingSet.load(from: versionDirectory + "/" + ServingBundle.File.userEmbeddings.rawValue).vectors
        guard items.columns == users.columns, users.rows > 0 else {
            throw UsageError("\(versionDirectory): item and user embeddings differ in width, or there are no users")
        }
        let picked = (0..<min(count, users.rows)).map { $0 * users.rows / min(count, users.rows) }
        return (items, Matrix(rows: picked.count, columns: users.columns, storage: picked.flatMap { users.row($0) }))
    }

    /// Unit vectors around `clusters` random centres.
    static func vectors(_ count: Int, d: Int, seed: UInt64) -> Matrix {
        var rng = SeededGenerator(seed: 1)
        let clusters = 100
        let centres = (0..<clusters * d).map { _ in Float(rng.nextGaussian()) }
        rng = SeededGenerator(seed: seed)
        var storage = [Float](repeating: 0, count: count * d)
        for r in 0..<count {
            let c = rng.nextInt(below: clusters)
            var norm: Float = 0
            for f in 0..<d {
                let x = centres[c * d + f] + 0.6 * Float(rng.nextGaussian())
                storage[r * d + f] = x
                norm += x * x
            }
            let inverse = 1 / norm.squareRoot()
            for f in 0..<d { storage[r * d + f] *= inverse }
        }
        return Matrix(rows: count, columns: d, storage: storage)
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let (base, probe) = try real.map { try Self.realVectors(versionDirectory: $0, queries: self.queries) }
            ?? (Self.vectors(self.n, d: self.d, seed: 2), Self.vectors(self.queries, d: self.d, seed: 3))
        let (n, d, queries) = (base.rows, base.columns, probe.rows)
        if let write {
            try FileManager.default.createDirectory(atPath: write, withIntermediateDirectories: true)
            try base.storage.withUnsafeBytes { try TextFile.write(Array($0), to: write + "/base.f32") }
            try probe.storage.withUnsafeBytes { try TextFile.write(Array($0), to: write + "/queries.f32") }
            try TextFile.write(Array("\(base.columns)\n".utf8), to: write + "/dimension")
        }
        let ids = (0..<n).map { Int64($0) }
        console.result("$ rummage bench index " + (real.map { "--real \($0) " } ?? "--n \(n) --d \(d) ")
            + "--queries \(queries) --k \(k) --m \(m) --ef-construction \(efConstruction) "
            + "--ef \(efs.map(String.init).joined(separator: ",")) --threads \(threads) --target \(target)"
            + (churn > 0 ? " --churn \(churn) --churn-cycles \(churnCycles)" : ""))
        let exact = FlatIndex(dimension: d)
        exact.add(ids: ids, vectors: base)
        let truth = exact.search(probe, k: k, filter: nil)
        var configuration = HNSWIndex.Configuration()
        configuration.m = m
        configuration.efConstruction = efConstruction
        configuration.buildThreads = threads
        let clock = Stopwatch()
        let index = HNSWIndex(dimension: d, configuration: configuration)
        console.progress("bench index: building over \(n) vectors with \(threads) threads")
        index.add(ids: ids, vectors: base)
        console.result("  build: \(String(format: "%.1f", clock.elapsedSeconds)) s for \(n) vectors (\(threads) threads, \(HNSWIndex.kernel) kernel)")
        if target > 0 {
            let calibration = index.calibrateSearchWidth(queries: probe, k: k, target: target, threads: threads)
            console.result("  chosen for target \(target): \(calibration.summary)")
        }
        for ef in efs {
            let searcher = index.withSearchWidth(ef)
            func pass() -> (found: [[SearchHit]], seconds: Double) {
                let timer = Stopwatch()
                let found = searcher.search(probe, k: k, filter: nil, threads: threads)
                return (found, timer.elapsedSeconds)
            }
            _ = pass()  // warm-up
            let runs = (0..<3).map { _ in pass() }
            let found = runs[0].found
            let elapsed = runs.map(\.seconds).sorted()[1]  // median of 3
            let recall = RecallEstimate(perQuery: HNSWIndex.recalls(found, truth)).mean
            console.result("  ef \(ef): recall@\(k) \(String(format: "%.4f", recall))  "
                + "\(Int(Double(queries) / elapsed)) QPS with \(threads) threads (median of 3 after a warm-up)")
        }
        if churn > 0 { measureChurn(index.withSearchWidth(efs[0]), base: base, probe: probe, console: console) }
    }

    /// Search latencies while `churn` of the listings are removed one by one and added back one by one.
    private func measureChurn(_ index: HNSWIndex, base: Matrix, probe: Matrix, console: Console) {
        let n = base.rows, d = base.columns
        var rng = SeededGenerator(seed: 7)
        let churned = Array((0..<n).shuffled(using: &rng).prefix(Int(Double(n) * churn)))
        let done = Atomic<Bool>(false)
        let slowestChange = Mutex<Double>(0)
        let rebuildsBefore = index.rebuilds
        let writer = Thread {
            func timed(_ change: () -> Void) {
                let clock = Stopwatch()
                change()
                let seconds = clock.elapsedSeconds
                slowestChange.withLock { $0 = max($0, seconds) }
            }
            for _ in 0..<churnCycles {
                for r in churned { timed { index.remove(ids: [Int64(r)]) } }
                for r in churned {
                    timed { index.add(ids: [Int64(r)], vectors: Matrix(rows: 1, columns: d, storage: Array(base.row(r)))) }
                }
            }
            index.finishMaintenance()
            done.store(true, ordering: .releasing)
        }
        console.progress("bench index: searching while \(churned.count) listings are removed and added back, \(churnCycles) times")
        writer.start()
        var latencies: [Double] = []
        var q = 0
        while !done.load(ordering: .acquiring) {
            let query = Matrix(rows: 1, columns: d, storage: Array(probe.row(q % probe.rows)))
            let clock = Stopwatch()
            _ = index.search(query, k: k, filter: nil)
            latencies.append(clock.elapsedSeconds * 1_000)
            q += 1
        }
        latencies.sort()
        func quantile(_ p: Double) -> String { String(format: "%.2f", latencies[min(latencies.count - 1, Int(p * Double(latencies.count)))]) }
        console.result("  churn: \(latencies.count) searches while \(churned.count) of \(n) listings were removed and added back one by one "
            + "\(churnCycles) times: p50 \(quantile(0.5)) ms, p99 \(quantile(0.99)) ms, max \(String(format: "%.2f", latencies.last ?? 0)) ms; "
            + "slowest single remove or add \(String(format: "%.1f", slowestChange.withLock { $0 } * 1_000)) ms; "
            + "\(index.rebuilds - rebuildsBefore) rebuilds swapped in (the last may end after the churn), \(index.tombstones) tombstones left")
    }
}
