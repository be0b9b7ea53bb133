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
}
