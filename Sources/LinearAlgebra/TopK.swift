/// One scored candidate: an index (item, neighbour…) and its score.
public struct ScoredIndex: Sendable, Equatable {
    public var index: Int32
    public var score: Float
    public init(index: Int32, score: Float) {
        self.index = index
        self.score = score
    }
}

/// Selects the `k` highest scores from a score vector, deterministically.
///
/// Order: score descending, ties broken by the lower index, so equal inputs give equal rankings on
/// every run and thread count. Scores of `-Float.infinity` (masked) and NaN are never selected.
/// Cost O(n log k): a bounded min-heap whose root is the weakest kept entry.
public enum TopK {
    public static func select(_ scores: UnsafeBufferPointer<Float>, k: Int) -> [ScoredIndex] {
        guard k > 0 else { return [] }
        var heap: [ScoredIndex] = []
        heap.reserveCapacity(k)
        for i in 0..<scores.count {
            let s = scores[i]
            guard s > -Float.infinity else { continue }  // also false for NaN
            let candidate = ScoredIndex(index: Int32(i), score: s)
            if heap.count < k {
                heap.append(candidate)
                siftUp(&heap, heap.count - 1)
            } else if ranksAbove(candidate, heap[0]) {
                heap[0] = candidate
                siftDown(&heap, 0)
            }
        }
        return heap.sorted(by: ranksAbove)
    }

    public static func select(_ scores: [Float], k: Int) -> [ScoredIndex] {
        scores.withUnsafeBufferPointer { select($0, k: k) }
    }

    /// True when `a` ranks strictly above `b`: higher score, or equal score and lower index.
    @inlinable
    public static func ranksAbove(_ a: ScoredIndex, _ b: ScoredIndex) -> Bool {
        a.score > b.score || (a.score == b.score && a.index < b.index)
    }

    // Min-heap on rank: the root is the entry that ranks lowest.
    private static func siftUp(_ h: inout [ScoredIndex], _ i: Int) {
        var i = i
        while i > 0 {
            let parent = (i - 1) >> 1
            guard ranksAbove(h[parent], h[i]) else { break }
            h.swapAt(parent, i)
            i = parent
        }
    }

    private static func siftDown(_ h: inout [ScoredIndex], _ i: Int) {
        var i = i
        let n = h.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var lowest = i
            if l < n && ranksAbove(h[lowest], h[l]) { lowest = l }
            if r < n && ranksAbove(h[lowest], h[r]) { lowest = r }
            if lowest == i { return }
            h.swapAt(i, lowest)
            i = lowest
        }
    }
}
