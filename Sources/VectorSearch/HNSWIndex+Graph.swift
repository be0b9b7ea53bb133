import CVectorKernels
import RummageCore
import Synchronization

// The HNSW graph's storage and the search-time scratch (heaps, visited marks), used by HNSWIndex under
// its lock.

/// The graph's storage, flat so that a search walks plain memory: layer-0 links in one array
/// (`2M + 1` slots a node: the count, then the links), upper-layer links in another (`M + 1` slots a
/// node and layer, from `upperStart[node]`).
struct Graph {
    let dimension: Int
    let m: Int
    var vectors: [Float] = []
    var ids: [Int64] = []
    var deleted: [Bool] = []
    var deletedCount = 0
    var nodeOfID: [Int64: Int32] = [:]
    var levels: [UInt8] = []
    var baseLinks: [Int32] = []
    var upperLinks: [Int32] = []
    var upperStart: [Int32] = []
    var entry: Int32 = -1
    var maxLevel = -1
    var rng: SeededGenerator

    init(dimension: Int, m: Int, seed: UInt64) {
        self.dimension = dimension
        self.m = m
        rng = SeededGenerator(seed: seed)
    }

    var baseStride: Int { 2 * m + 1 }
    var upperStride: Int { m + 1 }

    /// Adds an unlinked node with `level` upper layers; returns it.
    mutating func append(id: Int64, vector: [Float], level: Int) -> Int32 {
        let node = Int32(ids.count)
        ids.append(id)
        vectors.append(contentsOf: vector)
        deleted.append(false)
        nodeOfID[id] = node
        levels.append(UInt8(level))
        baseLinks.append(contentsOf: repeatElement(0, count: baseStride))
        upperStart.append(Int32(upperLinks.count))
        upperLinks.append(contentsOf: repeatElement(0, count: level * upperStride))
        return node
    }

    mutating func tombstone(_ node: Int32) {
        guard !deleted[Int(node)] else { return }
        deleted[Int(node)] = true
        deletedCount += 1
        nodeOfID[ids[Int(node)]] = nil
    }

    private func slot(_ node: Int32, _ level: Int) -> (inBase: Bool, at: Int) {
        level == 0 ? (true, Int(node) * baseStride) : (false, Int(upperStart[Int(node)]) + (level - 1) * upperStride)
    }

    func links(_ node: Int32, _ level: Int) -> [Int32] {
        let (inBase, at) = slot(node, level)
        let array = inBase ? baseLinks : upperLinks
        return Array(array[at + 1..<at + 1 + Int(array[at])])
    }

    mutating func setLinks(_ node: Int32, _ level: Int, _ links: [Int32]) {
        precondition(links.count <= (level == 0 ? 2 * m : m))
        let (inBase, at) = slot(node, level)
        if inBase {
            baseLinks[at] = Int32(links.count)
            baseLinks.replaceSubrange(at + 1..<at + 1 + links.count, with: links)
        } else {
            upperLinks[at] = Int32(links.count)
            upperLinks.replaceSubrange(at + 1..<at + 1 + links.count, with: links)
        }
    }

    func withView<R>(_ body: (GraphView) -> R) -> R {
        baseLinks.withUnsafeBufferPointer { b in
            upperLinks.withUnsafeBufferPointer { u in view(baseLinks: b, upperLinks: u, body) }
        }
    }

    /// A view for reading and a writer for the link lists, for linking in parallel: each thread may
    /// write only lists no other thread reads or writes.
    mutating func withMutableLinks<R>(_ body: (GraphView, LinkWriter) -> R) -> R {
        let (baseStride, upperStride) = (baseStride, upperStride)
        var base = baseLinks, upper = upperLinks
        baseLinks = []
        upperLinks = []
        defer {
            baseLinks = base
            upperLinks = upper
        }
        return base.withUnsafeMutableBufferPointer { b in
            upper.withUnsafeMutableBufferPointer { u in
                view(baseLinks: UnsafeBufferPointer(b), upperLinks: UnsafeBufferPointer(u)) { view in
                    body(view, LinkWriter(baseLinks: b, upperLinks: u, baseStride: baseStride, upperStride: upperStride, view: view))
                }
            }
        }
    }

    private func view<R>(baseLinks b: UnsafeBufferPointer<Int32>, upperLinks u: UnsafeBufferPointer<Int32>, _ body: (GraphView) -> R) -> R {
        vectors.withUnsafeBufferPointer { v in
            upperStart.withUnsafeBufferPointer { s in
                deleted.withUnsafeBufferPointer { del in
                    ids.withUnsafeBufferPointer { i in
                        levels.withUnsafeBufferPointer { lv in
                            body(GraphView(vectors: v, baseLinks: b, upperLinks: u, upperStart: s, deleted: del, ids: i, levels: lv,
                                           dimension: dimension, m: m, baseStride: baseStride, upperStride: upperStride,
                                           deletedCount: deletedCount, entry: entry, maxLevel: maxLevel))
                        }
                    }
                }
            }
        }
    }
}

/// Writes link lists through pointers into a `Graph`, valid inside `Graph.withMutableLinks`.
struct LinkWriter: @unchecked Sendable {
    // @unchecked because: callers write disjoint lists from different threads (see withMutableLinks).
    let baseLinks: UnsafeMutableBufferPointer<Int32>
    let upperLinks: UnsafeMutableBufferPointer<Int32>
    let baseStride: Int, upperStride: Int
    let view: GraphView

    func set(_ node: Int32, _ level: Int, _ links: [Int32]) {
        precondition(links.count < (level == 0 ? baseStride : upperStride))
        let start = level == 0 ? baseLinks.baseAddress! + Int(node) * baseStride
            : upperLinks.baseAddress! + Int(view.upperStart[Int(node)]) + (level - 1) * upperStride
        start.pointee = Int32(links.count)
        for (i, link) in links.enumerated() { start[1 + i] = link }
    }
}

/// Read-only pointers into a `Graph`, valid inside `Graph.withView`; shared by concurrent searches and
/// by the threads that link a batch.
struct GraphView: @unchecked Sendable {
    // @unchecked because: the pointers are only read, and only while the graph's lock is held.
    let vectors: UnsafeBufferPointer<Float>
    let baseLinks: UnsafeBufferPointer<Int32>
    let upperLinks: UnsafeBufferPointer<Int32>
    let upperStart: UnsafeBufferPointer<Int32>
    let deleted: UnsafeBufferPointer<Bool>
    let ids: UnsafeBufferPointer<Int64>
    let levels: UnsafeBufferPointer<UInt8>
    let dimension: Int, m: Int, baseStride: Int, upperStride: Int, deletedCount: Int
    let entry: Int32, maxLevel: Int

    var count: Int { ids.count }

    @inline(__always)
    func vector(_ node: Int32) -> UnsafePointer<Float> { vectors.baseAddress! + Int(node) * dimension }

    @inline(__always)
    func score(_ query: UnsafePointer<Float>, _ node: Int32) -> Float { dot(query, vector(node), dimension) }

    /// The scores of `nodes` into the first `nodes.count` slots of `scores`.
    @inline(__always)
    func scores(_ query: UnsafePointer<Float>, _ nodes: UnsafeBufferPointer<Int32>, into scores: UnsafeMutableBufferPointer<Float>) {
        guard !nodes.isEmpty else { return }
        rummage_dot_nodes(query, vectors.baseAddress!, dimension, nodes.baseAddress!, nodes.count, scores.baseAddress!)
    }

    /// Hints that `node`'s layer-0 links will be read soon (a search reads them when it expands the node).
    @inline(__always)
    func prefetchLinks(_ node: Int32) {
        rummage_prefetch(baseLinks.baseAddress! + Int(node) * baseStride, baseStride * MemoryLayout<Int32>.size)
    }

    @inline(__always)
    func links(_ node: Int32, _ level: Int) -> UnsafeBufferPointer<Int32> {
        let at = level == 0 ? Int(node) * baseStride : Int(upperStart[Int(node)]) + (level - 1) * upperStride
        let start = (level == 0 ? baseLinks : upperLinks).baseAddress! + at
        return UnsafeBufferPointer(start: start + 1, count: Int(start.pointee))
    }
}

struct ScoredNode {
    var score: Float
    var node: Int32

    /// Higher score first; ties go to the lower node (so results are deterministic).
    @inline(__always)
    func isBetter(than other: ScoredNode) -> Bool { score != other.score ? score > other.score : node < other.node }
}

/// A binary heap of scored nodes in storage borrowed from a `SearchScratch` (grown by doubling): best
/// first, or worst first.
struct NodeHeap {
    var storage: UnsafeMutableBufferPointer<ScoredNode>
    private(set) var count = 0
    let worstFirst: Bool

    init(storage: UnsafeMutableBufferPointer<ScoredNode>, worstFirst: Bool) {
        self.storage = storage
        self.worstFirst = worstFirst
    }

    var top: ScoredNode { storage[0] }

    @inline(__always)
    private func above(_ a: ScoredNode, _ b: ScoredNode) -> Bool { worstFirst ? b.isBetter(than: a) : a.isBetter(than: b) }

    mutating func push(_ item: ScoredNode) {
        if count == storage.count {
            let grown = UnsafeMutableBufferPointer<ScoredNode>.allocate(capacity: 2 * storage.count)
            _ = grown.initialize(from: storage)
            storage.deallocate()
            storage = grown
        }
        var i = count
        count += 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard above(item, storage[parent]) else { break }
            storage[i] = storage[parent]
            i = parent
        }
        storage[i] = item
    }

    mutating func pop() -> ScoredNode? {
        guard count > 0 else { return nil }
        let top = storage[0]
        count -= 1
        guard count > 0 else { return top }
        let last = storage[count]
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            guard l < count else { break }
            let best = r < count && above(storage[r], storage[l]) ? r : l
            guard above(storage[best], last) else { break }
            storage[i] = storage[best]
            i = best
        }
        storage[i] = last
        return top
    }

    /// Empties the heap (worst first) into an array, best first.
    mutating func drainBestFirst() -> [ScoredNode] {
        precondition(worstFirst)
        var sorted = [ScoredNode](repeating: ScoredNode(score: 0, node: 0), count: count)
        var i = count
        while let worst = pop() {
            i -= 1
            sorted[i] = worst
        }
        return sorted
    }
}

/// Visited marks of one search over borrowed memory: a generation number per node, so clearing is one
/// increment instead of a pass over the array.
struct VisitedMarks {
    let marks: UnsafeMutablePointer<UInt16>
    let generation: UInt16

    /// True the first time `node` is seen in this search.
    @inline(__always)
    func visit(_ node: Int32) -> Bool {
        if marks[Int(node)] == generation { return false }
        marks[Int(node)] = generation
        return true
    }
}

/// The memory one search needs (visited marks and two heaps), reused across searches so a query
/// allocates almost nothing.
final class SearchScratch: @unchecked Sendable {
    // @unchecked because: a scratch is used by one search at a time (the pool hands it out exclusively).
    private var marks = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: 0)
    private var generation: UInt16 = 0
    var candidates = UnsafeMutableBufferPointer<ScoredNode>.allocate(capacity: 256)
    var results = UnsafeMutableBufferPointer<ScoredNode>.allocate(capacity: 256)
    private var nodeBuffer = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 0)
    private var scoreBuffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 0)

    deinit {
        marks.deallocate()
        candidates.deallocate()
        results.deallocate()
        nodeBuffer.deallocate()
        scoreBuffer.deallocate()
    }

    /// Room for `count` nodes (one neighbour list), reused by every call.
    func nodes(count: Int) -> UnsafeMutableBufferPointer<Int32> { Self.room(&nodeBuffer, count) }

    /// Room for `count` scores, reused by every call.
    func scores(count: Int) -> UnsafeMutableBufferPointer<Float> { Self.room(&scoreBuffer, count) }

    /// The first `count` slots of `buffer`, grown first when it is smaller.
    private static func room<T>(_ buffer: inout UnsafeMutableBufferPointer<T>, _ count: Int) -> UnsafeMutableBufferPointer<T> {
        if buffer.count < count {
            buffer.deallocate()
            buffer = .allocate(capacity: max(count, 64))
        }
        return UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
    }

    func startVisit(count: Int) -> VisitedMarks {
        if marks.count < count {
            let grown = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: max(count, 2 * marks.count))
            grown.initialize(repeating: 0)
            marks.deallocate()
            marks = grown
            generation = 0
        }
        generation &+= 1
        if generation == 0 {
            marks.update(repeating: 0)
            generation = 1
        }
        return VisitedMarks(marks: marks.baseAddress!, generation: generation)
    }
}

/// Scratches for concurrent searches: taken for one search, given back after.
final class SearchScratchPool: Sendable {
    private let free = Mutex<[SearchScratch]>([])

    func take() -> SearchScratch { free.withLock { $0.popLast() } ?? SearchScratch() }

    func give(_ scratch: SearchScratch) { free.withLock { $0.append(scratch) } }
}
