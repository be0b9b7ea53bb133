import Evaluation
import Foundation
import RummageCore
import Testing

@Suite struct FullRankingProtocolTests {
    func rows(_ lists: [[Int32]], columns: Int) -> SparseRows {
        var r: [Int32] = [], c: [Int32] = []
        for (u, items) in lists.enumerated() { for i in items { r.append(Int32(u)); c.append(i) } }
        return SparseRows(rowCount: lists.count, columnCount: columns, rows: r, columns: c)
    }

    /// Scores that rank items in ascending index order.
    let ascending: @Sendable (UserIndex, UnsafeMutableBufferPointer<Float>) -> Void = { _, scores in
        for i in 0..<scores.count { scores[i] = -Float(i) }
    }

    @Test func masksTrainingAndIneligibleItems() {
        // User 0 trained on 0 and 1; item 2 is ineligible (sold). Held out: 3.
        let proto = FullRankingProtocol(heldOut: rows([[3]], columns: 6), excluded: rows([[0, 1]], columns: 6),
                                        eligible: [true, true, false, true, true, true], cutoffs: [1])
        let report = proto.evaluate(threads: 1, scoreAll: ascending)
        #expect(report["recall@1"] == 1)
        #expect(report["ndcg@1"] == 1)
        #expect(report["precision@1"] == 1)
    }

    @Test func evaluatesOnlyUsersWithHeldOutItems() {
        let proto = FullRankingProtocol(heldOut: rows([[], [0], []], columns: 3), excluded: rows([[], [], []], columns: 3),
                                        cutoffs: [1])
        #expect(proto.testUsers == [UserIndex(1)])
        let report = proto.evaluate(threads: 2, scoreAll: ascending)
        #expect(report.userCount == 1 && report["recall@1"] == 1)
    }

    @Test func slicesReuseTheRankingAndCountOnlyTheirItems() {
        // Ascending ranking; user 0 holds out 0 (cold) and 5 (warm); user 1 holds out 4 (warm) only.
        let cold = [true, true, true, false, false, false]
        let proto = FullRankingProtocol(heldOut: rows([[0, 5], [4]], columns: 6), excluded: rows([[], []], columns: 6),
                                        cutoffs: [2], slices: [.init("cold", items: cold), .init("warm", items: cold.map { !$0 })])
        let report = proto.evaluate(threads: 2, scoreAll: ascending)
        // Overall: user 0 hits item 0 of 2 (recall 0.5); user 1 misses (top 2 = 0, 1).
        #expect(report["recall@2"] == 0.25)
        // Cold: only user 0 counts, and item 0 is at the top.
        #expect(report["users[cold]"] == 1 && report["recall@2[cold]"] == 1 && report["ndcg@2[cold]"] == 1)
        // Warm: both users, no warm item in anyone's top 2.
        #expect(report["users[warm]"] == 2 && report["recall@2[warm]"] == 0)
    }

    @Test func withinSliceRankingHoldsOnlyTheSlicesCandidates() {
        // Ascending ranking over 6 items; the slice is {3, 4, 5}. User 0 holds out 4 (and 0, outside the
        // slice) and trained on 3, so its slice ranking is [4, 5]: a hit at rank 1. User 1 holds out 5:
        // its slice ranking is [3, 4], a miss at cutoff 2. Both slices are ranked from the same scores.
        let slice = [false, false, false, true, true, true]
        let proto = FullRankingProtocol(heldOut: rows([[0, 4], [5]], columns: 6), excluded: rows([[3], []], columns: 6),
                                        cutoffs: [2], slices: [.init("new", items: slice, ranking: .withinSlice),
                                                               .init("new-full", items: slice)])
        let report = proto.evaluate(threads: 1, scoreAll: ascending)
        #expect(report["users[new]"] == 2)
        #expect(report["recall@2[new]"] == 0.5)
        #expect(report["ndcg@2[new]"] == 0.5)
        // In the full ranking no slice item reaches anyone's top 2 (items 0 and 1, or 0 and 1 again).
        #expect(report["recall@2[new-full]"] == 0)
    }
}
