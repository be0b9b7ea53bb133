import RummageCore
import Synchronization
import Testing

@Suite struct ParallelTests {
    @Test(arguments: [1, 2, 7])
    func chunksCoverEveryIndexOnce(threads: Int) {
        let visits = Mutex<[Int]>([Int](repeating: 0, count: 1003))
        Parallel.forEachChunk(count: 1003, chunkSize: 10, threads: threads) { range in
            visits.withLock { for i in range { $0[i] += 1 } }
        }
        #expect(visits.withLock { $0 } == [Int](repeating: 1, count: 1003))
    }

    @Test func mapChunksReturnsResultsInChunkOrder() {
        let sums = Parallel.mapChunks(count: 100, chunkSize: 7, threads: 4) { range in range.reduce(0, +) }
        #expect(sums.count == 15)
        #expect(sums.reduce(0, +) == (0..<100).reduce(0, +))
        #expect(sums.first == (0..<7).reduce(0, +))
        #expect(sums.last == (98..<100).reduce(0, +))
        #expect(Parallel.mapChunks(count: 0, chunkSize: 4, threads: 2) { $0.count }.isEmpty)
    }
}
