import CVectorKernels
import Foundation
import LinearAlgebra
import RummageCore
import Synchronization

/// Approximate maximum-inner-product search on a hierarchical navigable small-world graph (Malkov &
/// Yashunin 2018; the structure of hnswlib and faiss), written here so that adds, removes and filters
/// are live.
///
/// - Building: `add` links its vectors highest layer first and in a seeded random order within a layer
///   (as faiss's `hnsw_add_vertices`), so the graph does not depend on how the caller ordered them, in
///   batches whose members search the graph in parallel (`Configuration.buildThreads`). Batch
///   boundaries depend only on counts, so the graph is the same for every thread count.
/// - Removal is a tombstone: the node stays in the graph for navigation and is never returned; when
///   tombstones pass `rebuildFraction` of the nodes the graph is rebuilt from the live vectors aside, on
///   a background thread, while searches, adds and removes go on against the current graph; the adds and
///   removes made meanwhile are replayed on the new graph, which then replaces the old one in one swap.
///   So no search ever waits for a rebuild. Re-adding an id tombstones its old node and inserts a new one.
/// - Filters are applied during the search: rejected nodes are traversed but not returned, and the beam
///   widens (up to the whole graph) until `k` accepted hits are found or nothing is left to visit.
/// - Deterministic for a given seed and sequence of `add` and `remove` calls until a rebuild starts
///   (when it ends depends on timing; `finishMaintenance` waits for it). A reader-writer lock guards the
///   graph: searches run concurrently, adds and removes one at a time.
///
/// Short names inside (as in hnswlib): `M` neighbours per node and layer (2M on layer 0), `ef` beam width.
public final class HNSWIndex: VectorIndex {
    public struct Configuration: Sendable, Equatable {
        /// Neighbours per node on upper layers (twice this on layer 0). 24 rather than hnswlib's 16: on a
        /// two-tower model's embeddings it reaches recall@20 0.95 at width 120 instead of 135, about 10 %
        /// more queries per second at that recall, for 64 more bytes of links per vector
        /// (`rummage bench index --real VERSION --m 16|24|32`).
        public var m = 24
        /// Beam width while inserting.
        public var efConstruction = 200
        /// Beam width while searching (at least k).
        public var efSearch = 64
        /// Rebuild once this fraction of nodes are tombstones.
        public var rebuildFraction = 0.3
        public var seed: UInt64 = 42
        /// Threads that link a batch of added vectors (the graph is the same for any count). Not saved
        /// with the index.
        public var buildThreads = 1

        public init() {}
    }

    public let dimension: Int
    public let configuration: Configuration
    /// Reusable per-search memory (visited marks, heaps): one per concurrent search, as hnswlib's
    /// VisitedListPool.
    let scratchPool = SearchScratchPool()
    private let graph: ReadWriteLock<Graph>
    /// The rebuild state, shared by every view of the graph (`withSearchWidth`).
    private let maintenance: Maintenance

    /// A rebuild in flight (`journal`: the adds and removes made since its snapshot, replayed before the
    /// swap; changed only under the graph's write lock), and the group its background work is in.
    private final class Maintenance: Sendable {
        enum Change { case add(Int64, [Float]), remove(Int64) }
        let journal = Mutex<[Change]?>(nil)
        let inFlight = DispatchGroup()
        let completed = Atomic<Int>(0)
    }
    public var isExact: Bool { false }

    /// The inner-product kernel this machine uses ("avx2+fma" or "baseline"), for benchmark reports.
    public static var kernel: String { String(cString: rummage_kernel_name()) }

    public init(dimension: Int, configuration: Configuration = .init()) {
        precondition(dimension > 0 && configuration.m >= 2 && configuration.efConstruction >= 1 && configuration.buildThreads >= 1)
        self.dimension = dimension
        self.configuration = configuration
        graph = ReadWriteLock(Graph(dimension: dimension, m: configuration.m, seed: configuration.seed))
        maintenance = Maintenance()
    }

    init(dimension: Int, configuration: Configuration, graph: Graph) {
        self.dimension = dimension
        self.configuration = configuration
        self.graph = ReadWriteLock(graph)
        maintenance = Maintenance()
    }

    func withGraph<R>(_ body: (Graph) -> R) -> R { graph.read { body($0) } }

    /// A view of this index that searches with beam width `ef` (sharing the graph; for benchmarks,
    /// for choosing the width that meets a recall target, and for callers that trade recall for speed).
    public func withSearchWidth(_ ef: Int) -> HNSWIndex {
        var c = configuration
        c.efSearch = ef
        return HNSWIndex(dimension: dimension, configuration: c, sharing: graph, maintenance)
    }

    private init(dimension: Int, configuration: Configuration, sharing graph: ReadWriteLock<Graph>, _ maintenance: Maintenance) {
        self.dimension = dimension
        self.configuration = configuration
        self.graph = graph
        self.maintenance = maintenance
    }

    /// The searchable ids and their vectors (row-major), read at one instant (under the read lock:
    /// searches go on, adds and removes wait).
    func liveSnapshot() -> (ids: [Int64], vectors: [Float]) {
        let d = dimension
        return graph.read { g in
            let live = (0..<g.ids.count).filter { !g.deleted[$0] }
            var vectors = [Float]()
            vectors.reserveCapacity(live.count * d)
            for node in live { vectors += g.vectors[node * d..<(node + 1) * d] }
            return (live.map { g.ids[$0] }, vectors)
        }
    }

    /// The searchable ids, in insertion order.
    public var allIDs: [Int64] { graph.read { g in g.ids.indices.filter { !g.deleted[$0] }.map { g.ids[$0] } } }

    /// The stored vector of a searchable id.
    public func vector(of id: Int64) -> [Float]? {
        graph.read { g in
            g.nodeOfID[id].map { Array(g.vectors[Int($0) * dimension..<(Int($0) + 1) * dimension]) }
        }
    }

    public var count: Int { graph.read { $0.ids.count - $0.deletedCount } }

    /// Removed nodes still in the graph (they route searches until a rebuild compacts them).
    public var tombstones: Int { graph.read { $0.deletedCount } }

    /// Rebuilds swapped in since this index was made or loaded.
    public var rebuilds: Int { maintenance.completed.load(ordering: .relaxed) }

    public func contains(_ id: Int64) -> Bool { graph.read { $0.nodeOfID[id] != nil } }

    /// Adds or replaces (the last row wins when an id repeats).
    public func add(ids: [Int64], vectors: Matrix) {
        precondition(vectors.rows == ids.count && vectors.columns == dimension)
        graph.write { g in
            var lastRow: [Int64: Int] = [:]
            for (r, id) in ids.enumerated() { lastRow[id] = r }
            let rows = ids.indices.filter { lastRow[ids[$0]] == $0 }
            for r in rows { if let old = g.nodeOfID[ids[r]] { g.tombstone(old) } }
            let first = Int32(g.ids.count)
            for (r, level) in insertionOrder(rows, &g) { _ = g.append(id: ids[r], vector: Array(vectors.row(r)), level: level) }
            link(&g, nodes: first..<Int32(g.ids.count))
            maintenance.journal.withLock { $0? += rows.map { .add(ids[$0], Array(vectors.row($0))) } }
            startRebuildIfNeeded(g)
        }
    }

    public func remove(ids: [Int64]) {
        graph.write { g in
            for id in ids { if let node = g.nodeOfID[id] { g.tombstone(node) } }
            maintenance.journal.withLock { $0? += ids.map { .remove($0) } }
            startRebuildIfNeeded(g)
        }
    }

    /// Waits until no rebuild is in flight (tests, and before saving an index that was changed live).
    public func finishMaintenance() { maintenance.inFlight.wait() }

    public func search(_ queries: Matrix, k: Int, filter: (@Sendable (Int64) -> Bool)?) -> [[SearchHit]] {
        precondition(queries.columns == dimension && k > 0)
        let scratch = scratchPool.take()
        defer { scratchPool.give(scratch) }
        return graph.read { g in
            g.withView { view in
                queries.storage.withUnsafeBufferPointer { q in
                    (0..<queries.rows).map { r in search(view, scratch, query: q.baseAddress! + r * dimension, k: k, filter: filter) }
                }
            }
        }
    }

    // MARK: Graph operations (called with the lock held)

    /// Each of `rows` with a level drawn in row order, ordered highest level first and in a seeded random
    /// order within a level.
    private func insertionOrder(_ rows: [Int], _ g: inout Graph) -> [(row: Int, level: Int)] {
        let levels = rows.map { _ in randomLevel(&g) }
        var order = Array(rows.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, g.rng.nextInt(below: i + 1)) }
        var byLevel = [[Int]](repeating: [], count: (levels.max() ?? 0) + 1)
        for i in order { byLevel[levels[i]].append(i) }
        return byLevel.reversed().flatMap { $0.map { (rows[$0], levels[$0]) } }
    }

    /// Starts a rebuild aside when tombstones pass `rebuildFraction` and none is in flight. Called with
    /// the write lock held.
    private func startRebuildIfNeeded(_ g: Graph) {
        guard g.deletedCount > 0, Double(g.deletedCount) > configuration.rebuildFraction * Double(g.ids.count) else { return }
        let started = maintenance.journal.withLock { journal -> Bool in
            guard journal == nil else { return false }
            journal = []
            return true
        }
        guard started else { return }
        let group = maintenance.inFlight
        group.enter()
        DispatchQueue.global(qos: .utility).async { [self] in
            rebuildAside()
            group.leave()
        }
    }

    /// Copies the live nodes (under the read lock: searches go on), builds a new graph from them with
    /// no lock held, replays the adds and removes made meanwhile (in rounds, with no lock held, until
    /// few are left), then, under the write lock, replays the last few and swaps it in: the write lock
    /// is held for a handful of changes, never for the rebuild.
    private func rebuildAside() {
        let d = dimension
        let (liveIDs, liveVectors) = liveSnapshot()
        var fresh = Graph(dimension: d, m: configuration.m, seed: configuration.seed)
        for (i, level) in insertionOrder(Array(liveIDs.indices), &fresh) {
            _ = fresh.append(id: liveIDs[i], vector: Array(liveVectors[i * d..<(i + 1) * d]), level: level)
        }
        link(&fresh, nodes: 0..<Int32(fresh.ids.count))
        for _ in 0..<Self.replayRounds {
            let pending = maintenance.journal.withLock { journal in defer { journal = [] }; return journal ?? [] }
            replay(pending, on: &fresh)
            if pending.count <= Self.replayedUnderLock { break }
        }
        graph.write { g in
            replay(maintenance.journal.withLock { journal in defer { journal = nil }; return journal ?? [] }, on: &fresh)
            g = fresh
            maintenance.completed.add(1, ordering: .relaxed)
            startRebuildIfNeeded(g)
        }
    }

    /// Rounds of replay without the lock before the swap, and the journal length that ends them.
    private static let replayRounds = 16
    private static let replayedUnderLock = 32

    private func replay(_ changes: [Maintenance.Change], on fresh: inout Graph) {
        for change in changes {
            switch change {
            case .add(let id, let vector):
                if let old = fresh.nodeOfID[id] { fresh.tombstone(old) }
                let node = fresh.append(id: id, vector: vector, level: randomLevel(&fresh))
                link(&fresh, nodes: node..<node + 1)
            case .remove(let id):
                if let node = fresh.nodeOfID[id] { fresh.tombstone(node) }
            }
        }
    }

    private func randomLevel(_ g: inout Graph) -> Int {
        let mL = 1 / log(Double(configuration.m))
        return min(16, Int(-log(max(1e-12, 1 - g.rng.nextDouble())) * mL))
    }

    private func search(_ view: GraphView, _ scratch: SearchScratch, query: UnsafePointer<Float>, k: Int,
                        filter: (@Sendable (Int64) -> Bool)?) -> [SearchHit] {
        guard view.entry >= 0, view.count > view.deletedCount else { return [] }
        var current = view.entry
        for l in stride(from: view.maxLevel, to: 0, by: -1) { current = greedy(view, scratch, query: query, from: current, level: l) }
        var ef = max(configuration.efSearch, k)
        let accept: ((Int32) -> Bool)?
        switch (filter, view.deletedCount > 0) {
        case (nil, false): accept = nil
        case (nil, true): accept = { node in !view.deleted[Int(node)] }
        case (let filter?, _): accept = { node in !view.deleted[Int(node)] && filter(view.ids[Int(node)]) }
        }
        while true {
            let found = searchLayer(view, scratch, query: query, entry: current, ef: ef, level: 0, accept: accept)
            let hits = found.prefix(k).map { SearchHit(id: view.ids[Int($0.node)], score: $0.score) }
            // Too few accepted (a narrow filter): widen the beam, up to the whole graph.
            if hits.count >= k || ef >= view.count { return hits }
            ef = min(view.count, ef * 4)
        }
    }

    /// Greedy descent on one layer: the node reached by always moving to the best neighbour.
    func greedy(_ view: GraphView, _ scratch: SearchScratch, query: UnsafePointer<Float>, from start: Int32, level: Int) -> Int32 {
        var current = start
        var best = view.score(query, current)
        var improved = true
        while improved {
            improved = false
            let links = view.links(current, level)
            let scores = scratch.scores(count: links.count)
            view.scores(query, links, into: scores)
            for (n, s) in zip(links, scores) where s > best || (s == best && n < current) {
                best = s
                current = n
                improved = true
            }
        }
        return current
    }

    /// Beam search on one layer: the `ef` best `accept`ed nodes found, best first. Rejected nodes
    /// (tombstones, filtered ids) are still explored, so they route without taking result slots.
    func searchLayer(_ view: GraphView, _ scratch: SearchScratch, query: UnsafePointer<Float>, entry: Int32, ef: Int,
                     level: Int, accept: ((Int32) -> Bool)?) -> [ScoredNode] {
        let visited = scratch.startVisit(count: view.count)
        var candidates = NodeHeap(storage: scratch.candidates, worstFirst: false)
        var results = NodeHeap(storage: scratch.results, worstFirst: true)
        defer {
            scratch.candidates = candidates.storage
            scratch.results = results.storage
        }
        _ = visited.visit(entry)
        let first = ScoredNode(score: view.score(query, entry), node: entry)
        candidates.push(first)
        if accept?(entry) ?? true { results.push(first) }
        let fresh = scratch.nodes(count: 2 * view.m)
        let scores = scratch.scores(count: 2 * view.m)
        while let best = candidates.pop() {
            if results.count >= ef, best.score < results.top.score { break }
            // The unvisited neighbours first, then their scores in one pass that prefetches ahead.
            var unvisited = 0
            for n in view.links(best.node, level) where visited.visit(n) {
                fresh[unvisited] = n
                unvisited += 1
            }
            let batch = UnsafeBufferPointer(rebasing: fresh[0..<unvisited])
            view.scores(query, batch, into: scores)
            for (n, s) in zip(batch, scores) where results.count < ef || s > results.top.score {
                let scored = ScoredNode(score: s, node: n)
                if level == 0 { view.prefetchLinks(n) }
                candidates.push(scored)
                if accept?(n) ?? true {
                    results.push(scored)
                    if results.count > ef { _ = results.pop() }
                }
            }
        }
        return results.drainBestFirst()
    }
}

