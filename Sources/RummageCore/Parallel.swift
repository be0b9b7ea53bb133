import Dispatch
import Foundation
import Synchronization

/// Data-parallel loops over index ranges, the one place where Rummage fans work out to threads.
///
/// Work is split into fixed chunks that `threads` workers claim in turn. Results must not depend on
/// which worker ran a chunk: write per-index or per-chunk outputs and combine them in index order.
public enum Parallel {
    /// The default worker count: one per active processor.
    public static var defaultThreadCount: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Calls `body` on disjoint ranges covering `0..<count`, from up to `threads` threads at once.
    /// Ranges have `chunkSize` elements (the last may be shorter). Returns when all are done.
    public static func forEachChunk(count: Int, chunkSize: Int, threads: Int,
                                    _ body: @Sendable (Range<Int>) -> Void) {
        precondition(chunkSize > 0 && threads > 0)
        guard count > 0 else { return }
        let chunkCount = (count + chunkSize - 1) / chunkSize
        let workers = min(threads, chunkCount)
        if workers == 1 {
            for c in 0..<chunkCount { body(c * chunkSize..<min(count, (c + 1) * chunkSize)) }
            return
        }
        let nextChunk = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let c = nextChunk.add(1, ordering: .relaxed).oldValue
                    if c >= chunkCount { break }
                    body(c * chunkSize..<min(count, (c + 1) * chunkSize))
                }
            }
        }
    }

    /// Maps each chunk of `0..<count` to a value, in parallel, and returns the values in chunk order.
    public static func mapChunks<T: Sendable>(count: Int, chunkSize: Int, threads: Int,
                                              _ transform: @Sendable (Range<Int>) -> T) -> [T] {
        let chunkCount = (count + chunkSize - 1) / chunkSize
        let results = Mutex<[T?]>([T?](repeating: nil, count: chunkCount))
        forEachChunk(count: count, chunkSize: chunkSize, threads: threads) { range in
            let value = transform(range)
            results.withLock { $0[range.lowerBound / chunkSize] = value }
        }
        return results.withLock { $0.map { $0! } }
    }
}
