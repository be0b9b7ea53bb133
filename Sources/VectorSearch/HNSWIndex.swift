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

    struct Graph {
        var vectors: [Float] = []
        var ids: [Int64] = []
        var deleted: [Bool] = []
        var deletedCount = 0
        var nodeOfID: [Int64: Int32] = [:]
        /// neighbours[node][level]
        var neighbours: [[[Int32]]] = []
        var entry: Int32 = -1
        var maxLevel = -1
        var rng: SeededGenerator
    }

    public let dimension: Int
    public let configuration: Configuration
    /// Reusable visited marks for searches (one per concurrent search), as hnswlib's VisitedListPool.
    private let visitedLists = VisitedListPool()
    private let graph: ReadWriteLock<Graph>
    public var isExact: Bool { false }

    public init(dimension: Int, configuration: Configuration = .init()) {
        precondition(dimension > 0 && configuration.m >= 2 && configuration.efConstruction >= 1)
        self.dimension = dimension
        self.configuration = configuration
        graph = ReadWriteLock(Graph(rng: SeededGenerator(seed: configuration.seed)))
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

    /// Calls `body` with the searchable ids (in insertion order).
    public func withAllIDs<R>(_ body: ([Int64]) -> R) -> R {
        let ids = graph.read { g in g.ids.indices.filter { !g.deleted[$0] }.map { g.ids[$0] } }
        return body(ids)
    }

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
                if let old = g.nodeOfID[id] { tombstone(&g, old) }
                insert(&g, id: id, vector: Array(vectors.row(r)))
            }
            rebuildIfNeeded(&g)
        }
    }

    public func remove(ids: [Int64]) {
        graph.write { g in
            for id in ids { if let node = g.nodeOfID[id] { tombstone(&g, node) } }
            rebuildIfNeeded(&g)
        }
    }

    public func search(_ queries: Matrix, k: Int, filter: (@Sendable (Int64) -> Bool)?) -> [[SearchHit]] {
        precondition(queries.columns == dimension && k > 0)
        return graph.read { g in
            (0..<queries.rows).map { q in
                Array(queries.row(q)).withUnsafeBufferPointer { query in
                    search(g, query: query.baseAddress!, k: k, filter: filter)
                }
            }
        }
    }

    // MARK: Graph operations (called with the lock held)

    private func tombstone(_ g: inout Graph, _ node: Int32) {
        guard !g.deleted[Int(node)] else { return }
        g.deleted[Int(node)] = true
        g.deletedCount += 1
        g.nodeOfID[g.ids[Int(node)]] = nil
    }

    private func rebuildIfNeeded(_ g: inout Graph) {
        guard g.deletedCount > 0, Double(g.deletedCount) > configuration.rebuildFraction * Double(g.ids.count) else { return }
        let d = dimension
        var fresh = Graph(rng: SeededGenerator(seed: configuration.seed))
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
        let node = Int32(g.ids.count)
        let level = randomLevel(&g)
        g.ids.append(id)
        g.vectors.append(contentsOf: vector)
        g.deleted.append(false)
        g.nodeOfID[id] = node
        g.neighbours.append(Array(repeating: [], count: level + 1))
        guard g.entry >= 0 else {
            g.entry = node
            g.maxLevel = level
            return
        }
        let d = dimension
        vector.withUnsafeBufferPointer { q in
            let query = q.baseAddress!
            var current = g.entry
            if g.maxLevel > level {
                for l in stride(from: g.maxLevel, to: level, by: -1) { current = greedy(g, query: query, from: current, level: l) }
            }
            for l in stride(from: min(level, g.maxLevel), through: 0, by: -1) {
                let candidates = searchLayer(g, query: query, entries: [current], ef: configuration.efConstruction, level: l)
                let selected = selectNeighbours(g, base: query, candidates: candidates, max: configuration.m)
                g.neighbours[Int(node)][l] = selected
                for neighbour in selected {
                    var links = g.neighbours[Int(neighbour)][l]
                    links.append(node)
                    if links.count > maxNeighbours(l) {
                        let base = Array(g.vectors[Int(neighbour) * d..<(Int(neighbour) + 1) * d])
                        let scored = links.map { (node: $0, score: score(g, base, $0)) }.sorted { ($0.score, $1.node) > ($1.score, $0.node) }
                        links = base.withUnsafeBufferPointer {
                            selectNeighbours(g, base: $0.baseAddress!, candidates: scored, max: maxNeighbours(l))
                        }
                    }
                    g.neighbours[Int(neighbour)][l] = links
                }
                if let best = candidates.first { current = best.node }
            }
        }
        if level > g.maxLevel {
            g.maxLevel = level
            g.entry = node
        }
    }

    private func score(_ g: Graph, _ base: [Float], _ node: Int32) -> Float {
        base.withUnsafeBufferPointer { b in score(g, b.baseAddress!, node) }
    }

    private func score(_ g: Graph, _ query: UnsafePointer<Float>, _ node: Int32) -> Float {
        g.vectors.withUnsafeBufferPointer { v in dot(query, v.baseAddress! + Int(node) * dimension, dimension) }
    }

    /// hnswlib's neighbour heuristic: take candidates best first, keeping one only if it is closer to
    /// the base than to every neighbour already kept (spreads links across directions).
    private func selectNeighbours(_ g: Graph, base: UnsafePointer<Float>, candidates: [(node: Int32, score: Float)],
                                  max: Int) -> [Int32] {
        var kept: [Int32] = []
        for candidate in candidates where kept.count < max {
            let c = candidate.node
            let diverse = kept.allSatisfy { s in
                g.vectors.withUnsafeBufferPointer { v in
                    dot(v.baseAddress! + Int(c) * dimension, v.baseAddress! + Int(s) * dimension, dimension)
                } < candidate.score
            }
            if diverse { kept.append(c) }
        }
        // Fill up with the best remaining candidates so that small graphs stay connected.
        for candidate in candidates where kept.count < max && !kept.contains(candidate.node) { kept.append(candidate.node) }
        return kept
    }

    private func greedy(_ g: Graph, query: UnsafePointer<Float>, from start: Int32, level: Int) -> Int32 {
        var current = start
        var best = score(g, query, current)
        var improved = true
        while improved {
            improved = false
            for n in g.neighbours[Int(current)][level] {
                let s = score(g, query, n)
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
    private func searchLayer(_ g: Graph, query: UnsafePointer<Float>, entries: [Int32], ef: Int, level: Int,
                             accept: ((Int32) -> Bool)? = nil) -> [(node: Int32, score: Float)] {
        let visited = visitedLists.take(count: g.ids.count)
        defer { visitedLists.give(visited) }
        for e in entries { _ = visited.visit(e) }
        var candidates = Heap(worstFirst: false), results = Heap(worstFirst: true)
        for e in entries {
            let s = score(g, query, e)
            candidates.push((e, s))
            if accept?(e) ?? true { results.push((e, s)) }
        }
        while let best = candidates.pop() {
            if results.count >= ef, let worst = results.peek(), best.score < worst.score { break }
            for n in g.neighbours[Int(best.node)][level] where visited.visit(n) {
                let s = score(g, query, n)
                if results.count < ef || s > results.peek()!.score {
                    candidates.push((n, s))
                    if accept?(n) ?? true {
                        results.push((n, s))
                        if results.count > ef { _ = results.pop() }
                    }
                }
            }
        }
        return results.sortedBestFirst()
    }

    private func search(_ g: Graph, query: UnsafePointer<Float>, k: Int, filter: (@Sendable (Int64) -> Bool)?) -> [SearchHit] {
        guard g.entry >= 0, g.ids.count > g.deletedCount else { return [] }
        var current = g.entry
        if g.maxLevel > 0 {
            for l in stride(from: g.maxLevel, to: 0, by: -1) { current = greedy(g, query: query, from: current, level: l) }
        }
        var ef = max(configuration.efSearch, k)
        let accept: (Int32) -> Bool = { node in !g.deleted[Int(node)] && (filter?(g.ids[Int(node)]) ?? true) }
        while true {
            let found = searchLayer(g, query: query, entries: [current], ef: ef, level: 0, accept: accept)
            let hits = found.prefix(k).map { SearchHit(id: g.ids[Int($0.node)], score: $0.score) }
            // Too few accepted (a narrow filter): widen the beam, up to the whole graph.
            if hits.count >= k || ef >= g.ids.count { return hits }
            ef = min(g.ids.count, ef * 4)
        }
    }
}

/// A binary heap of (node, score): best first, or worst first.
struct Heap {
    private var items: [(node: Int32, score: Float)] = []
    let worstFirst: Bool

    init(worstFirst: Bool) { self.worstFirst = worstFirst }

    var count: Int { items.count }

    /// True when `a` belongs above `b`. Ties: the lower node first (best-first) or last (worst-first).
    private func above(_ a: (node: Int32, score: Float), _ b: (node: Int32, score: Float)) -> Bool {
        worstFirst ? (a.score, b.node) < (b.score, a.node) : (a.score, b.node) > (b.score, a.node)
    }

    func peek() -> (node: Int32, score: Float)? { items.first }

    mutating func push(_ item: (node: Int32, score: Float)) {
        items.append(item)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard above(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (node: Int32, score: Float)? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        items[0] = items[items.count - 1]
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < items.count && above(items[l], items[best]) { best = l }
            if r < items.count && above(items[r], items[best]) { best = r }
            if best == i { break }
            items.swapAt(i, best)
            i = best
        }
        return top
    }

    func sortedBestFirst() -> [(node: Int32, score: Float)] {
        items.sorted { ($0.score, $1.node) > ($1.score, $0.node) }
    }
}

/// Marks of the nodes one search has visited: a generation number per node, so clearing is one
/// increment instead of a pass over the array.
final class VisitedList: @unchecked Sendable {
    // @unchecked because: a list is used by one search at a time (the pool hands it out exclusively).
    private var marks: [UInt16] = []
    private var generation: UInt16 = 0

    func reset(count: Int) {
        if marks.count < count { marks.append(contentsOf: repeatElement(0, count: count - marks.count)) }
        generation &+= 1
        if generation == 0 {
            for i in marks.indices { marks[i] = 0 }
            generation = 1
        }
    }

    /// True the first time `node` is seen in this search.
    @inline(__always)
    func visit(_ node: Int32) -> Bool {
        if marks[Int(node)] == generation { return false }
        marks[Int(node)] = generation
        return true
    }
}

/// Visited lists for concurrent searches: taken for one search, given back after.
final class VisitedListPool: Sendable {
    private let free = Mutex<[VisitedList]>([])

    func take(count: Int) -> VisitedList {
        let list = free.withLock { $0.popLast() } ?? VisitedList()
        list.reset(count: count)
        return list
    }

    func give(_ list: VisitedList) { free.withLock { $0.append(list) } }
}

