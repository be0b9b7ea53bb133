import Foundation
import LinearAlgebra
import RummageCore
import Synchronization

/// Approximate maximum-inner-product search on a hierarchical navigable small-world graph (Malkov &
/// Yashunin 2018; the structure of hnswlib), written here so that adds, removes and filters are live.
///
/// - Removal is a tombstone: the node stays in the graph for navigation and is never returned; when
///   tombstones pass `rebuildFraction` of the nodes the graph is rebuilt from the live vectors.
///   Re-adding an id tombstones its old node and inserts a new one.
/// - Filters are applied during the search: rejected nodes are traversed but not returned, and the beam
///   widens (up to the whole graph) until `k` accepted hits are found or nothing is left to visit.
/// - Deterministic for a given seed and order of adds. A reader-writer lock guards the graph: searches
///   run concurrently, adds and removes one at a time.
///
/// Short names inside (as in hnswlib): `M` neighbours per node and layer (2M on layer 0), `ef` beam width.
public final class HNSWIndex: VectorIndex {
    public struct Configuration: Sendable, Equatable {
        /// Neighbours per node on upper layers (twice this on layer 0).
        public var m = 16
        /// Beam width while inserting.
        public var efConstruction = 200
        /// Beam width while searching (at least k).
        public var efSearch = 64
        /// Rebuild once this fraction of nodes are tombstones.
        public var rebuildFraction = 0.3
        public var seed: UInt64 = 42

        public init() {}
    }

    public let dimension: Int
    public let configuration: Configuration
    /// Reusable per-search memory (visited marks, heaps): one per concurrent search, as hnswlib's
    /// VisitedListPool.
    private let scratchPool = SearchScratchPool()
    private let graph: ReadWriteLock<Graph>
    public var isExact: Bool { false }

    public init(dimension: Int, configuration: Configuration = .init()) {
        precondition(dimension > 0 && configuration.m >= 2 && configuration.efConstruction >= 1)
        self.dimension = dimension
        self.configuration = configuration
        graph = ReadWriteLock(Graph(dimension: dimension, m: configuration.m, seed: configuration.seed))
    }

    init(dimension: Int, configuration: Configuration, graph: Graph) {
        self.dimension = dimension
        self.configuration = configuration
        self.graph = ReadWriteLock(graph)
    }

    func withGraph<R>(_ body: (Graph) -> R) -> R { graph.read { body($0) } }

    /// A view of this index that searches with beam width `ef` (sharing the graph; for benchmarks and
    /// callers that trade recall for speed per request).
    public func withSearchWidth(_ ef: Int) -> HNSWIndex {
        var c = configuration
        c.efSearch = ef
        return HNSWIndex(dimension: dimension, configuration: c, sharing: graph)
    }

    private init(dimension: Int, configuration: Configuration, sharing graph: ReadWriteLock<Graph>) {
        self.dimension = dimension
        self.configuration = configuration
        self.graph = graph
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

    public func contains(_ id: Int64) -> Bool { graph.read { $0.nodeOfID[id] != nil } }

    public func add(ids: [Int64], vectors: Matrix) {
        precondition(vectors.rows == ids.count && vectors.columns == dimension)
        graph.write { g in
            for (r, id) in ids.enumerated() {
                if let old = g.nodeOfID[id] { g.tombstone(old) }
                insert(&g, id: id, vector: Array(vectors.row(r)))
            }
            rebuildIfNeeded(&g)
        }
    }

    public func remove(ids: [Int64]) {
        graph.write { g in
            for id in ids { if let node = g.nodeOfID[id] { g.tombstone(node) } }
            rebuildIfNeeded(&g)
        }
    }

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

    private func rebuildIfNeeded(_ g: inout Graph) {
        guard g.deletedCount > 0, Double(g.deletedCount) > configuration.rebuildFraction * Double(g.ids.count) else { return }
        let d = dimension
        var fresh = Graph(dimension: d, m: configuration.m, seed: configuration.seed)
        for node in 0..<g.ids.count where !g.deleted[node] {
            insert(&fresh, id: g.ids[node], vector: Array(g.vectors[node * d..<(node + 1) * d]))
        }
        g = fresh
    }

    private func randomLevel(_ g: inout Graph) -> Int {
        let mL = 1 / log(Double(configuration.m))
        return min(16, Int(-log(max(1e-12, 1 - g.rng.nextDouble())) * mL))
    }

    private func maxNeighbours(_ level: Int) -> Int { level == 0 ? 2 * configuration.m : configuration.m }

    private func insert(_ g: inout Graph, id: Int64, vector: [Float]) {
        let level = randomLevel(&g)
        let node = g.append(id: id, vector: vector, level: level)
        guard g.entry >= 0 else {
            g.entry = node
            g.maxLevel = level
            return
        }
        let scratch = scratchPool.take()
        defer { scratchPool.give(scratch) }
        var current = g.entry
        for l in stride(from: g.maxLevel, to: level, by: -1) {
            current = g.withView { view in vector.withUnsafeBufferPointer { greedy(view, query: $0.baseAddress!, from: current, level: l) } }
        }
        for l in stride(from: min(level, g.maxLevel), through: 0, by: -1) {
            let entry = current
            let (candidates, selected) = g.withView { view in
                vector.withUnsafeBufferPointer { q in
                    let found = searchLayer(view, scratch, query: q.baseAddress!, entry: entry, ef: configuration.efConstruction, level: l,
                                            accept: nil)
                    return (found, selectNeighbours(view, base: q.baseAddress!, candidates: found, max: configuration.m))
                }
            }
            g.setLinks(node, l, selected)
            for neighbour in selected {
                var links = g.links(neighbour, l)
                links.append(node)
                if links.count > maxNeighbours(l) {
                    links = g.withView { view in
                        let base = view.vector(neighbour)
                        let scored = links.map { ScoredNode(score: dot(base, view.vector($0), dimension), node: $0) }
                            .sorted { $0.isBetter(than: $1) }
                        return selectNeighbours(view, base: base, candidates: scored, max: maxNeighbours(l))
                    }
                }
                g.setLinks(neighbour, l, links)
            }
            if let best = candidates.first { current = best.node }
        }
        if level > g.maxLevel {
            g.maxLevel = level
            g.entry = node
        }
    }

    /// hnswlib's neighbour heuristic: take candidates best first, keeping one only if it is closer to
    /// the base than to every neighbour already kept (spreads links across directions).
    private func selectNeighbours(_ view: GraphView, base: UnsafePointer<Float>, candidates: [ScoredNode], max: Int) -> [Int32] {
        var kept: [Int32] = []
        for candidate in candidates where kept.count < max {
            let c = view.vector(candidate.node)
            if kept.allSatisfy({ dot(c, view.vector($0), dimension) < candidate.score }) { kept.append(candidate.node) }
        }
        // Fill up with the best remaining candidates so that small graphs stay connected.
        for candidate in candidates where kept.count < max && !kept.contains(candidate.node) { kept.append(candidate.node) }
        return kept
    }

    private func greedy(_ view: GraphView, query: UnsafePointer<Float>, from start: Int32, level: Int) -> Int32 {
        var current = start
        var best = view.score(query, current)
        var improved = true
        while improved {
            improved = false
            for n in view.links(current, level) {
                let s = view.score(query, n)
                if s > best || (s == best && n < current) {
                    best = s
                    current = n
                    improved = true
                }
            }
        }
        return current
    }

    /// Beam search on one layer: the `ef` best `accept`ed nodes found, best first. Rejected nodes
    /// (tombstones, filtered ids) are still explored, so they route without taking result slots.
    private func searchLayer(_ view: GraphView, _ scratch: SearchScratch, query: UnsafePointer<Float>, entry: Int32, ef: Int,
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
        while let best = candidates.pop() {
            if results.count >= ef, best.score < results.top.score { break }
            for n in view.links(best.node, level) where visited.visit(n) {
                let s = view.score(query, n)
                if results.count < ef || s > results.top.score {
                    let scored = ScoredNode(score: s, node: n)
                    candidates.push(scored)
                    if accept?(n) ?? true {
                        results.push(scored)
                        if results.count > ef { _ = results.pop() }
                    }
                }
            }
        }
        return results.sortedBestFirst()
    }

    private func search(_ view: GraphView, _ scratch: SearchScratch, query: UnsafePointer<Float>, k: Int,
                        filter: (@Sendable (Int64) -> Bool)?) -> [SearchHit] {
        guard view.entry >= 0, view.count > view.deletedCount else { return [] }
        var current = view.entry
        for l in stride(from: view.maxLevel, to: 0, by: -1) { current = greedy(view, query: query, from: current, level: l) }
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
}
