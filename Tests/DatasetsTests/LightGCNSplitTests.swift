import Datasets
import Evaluation
import Foundation
import RummageCore
import RummageTestSupport
import Testing

@Suite struct LightGCNSplitTests {
    /// Three users, items 0–29. Scores rank items in ascending index order, so the top 20 of each
    /// user is the 20 lowest item ids not in their training items.
    func handMadeSplit() throws -> Split {
        let dir = Fixtures.temporaryDirectory()
        Fixtures.write("0 0 1 2\n1 5\n2 1 2 3\n", to: "train.txt", in: dir)
        Fixtures.write("0 3 25\n1 0 10 29\n2\n", to: "test.txt", in: dir)
        return try DatasetSpec(parsing: "lightgcn:\(dir)").load()
    }

    @Test func loadsShapes() throws {
        let split = try handMadeSplit()
        #expect(split.train.userCount == 3)
        #expect(split.train.itemCount == 30)
        #expect(split.train.interactionCount == 7)
    }

    @Test func fullRankingMatchesHandComputedRecallAndNDCG() throws {
        guard case .fullRanking(let proto) = try handMadeSplit().evaluation else {
            Issue.record("lightgcn must use the full-ranking protocol"); return
        }
        let report = proto.evaluate(threads: 2) { _, scores in
            for i in 0..<scores.count { scores[i] = -Float(i) }
        }
        // User 0: top 20 = 3…22. Hits: 3 at position 0; 25 missed.
        //   Recall 1/2. DCG = 1. IDCG (2 relevant) = 1 + 1/log2(3). NDCG = 0.6131471928.
        // User 1: top 20 = 0–4, 6–20. Hits: 0 at position 0, 10 at position 9; 29 missed.
        //   Recall 2/3. DCG = 1 + 1/log2(11). IDCG (3 relevant) = 1 + 1/log2(3) + 1/2. NDCG = 0.6049306995.
        // User 2 has no test items and is not evaluated.
        #expect(report.userCount == 2)
        #expect(abs(report["recall@20"]! - 0.583_333_333_3) < 1e-9)
        #expect(abs(report["ndcg@20"]! - 0.609_038_946_1) < 1e-9)
        #expect(abs(report["precision@20"]! - 3.0 / 40) < 1e-12)
    }

    @Test func reportsMalformedLinesWithFileAndLine() {
        let dir = Fixtures.temporaryDirectory()
        Fixtures.write("0 1 2\n1 x 3\n", to: "train.txt", in: dir)
        Fixtures.write("0 3\n", to: "test.txt", in: dir)
        let error = #expect(throws: DataError.self) { try LightGCNSplit.load(directory: dir) }
        #expect(error?.description == "\(dir)/train.txt:2: item 1 is not a non-negative integer: 'x'")
    }

    @Test func reportsMissingDirectoryAndFile() {
        let missing = #expect(throws: DataError.self) { try LightGCNSplit.load(directory: "/nonexistent/dir") }
        #expect(missing?.code == .fileNotFound)
        let dir = Fixtures.temporaryDirectory()
        Fixtures.write("0 1\n", to: "train.txt", in: dir)
        let noTest = #expect(throws: DataError.self) { try LightGCNSplit.load(directory: dir) }
        #expect(noTest?.description == "\(dir): no test.txt in this directory")
    }
}

@Suite struct DatasetSpecTests {
    @Test func parsesKinds() throws {
        #expect(try DatasetSpec(parsing: "ncf-ml1m:/a") == .ncfMovieLens(directory: "/a"))
        #expect(try DatasetSpec(parsing: "synthetic:rel/dir") == .synthetic(directory: "rel/dir"))
        #expect(try DatasetSpec(parsing: "lightgcn:x:y").description == "lightgcn:x:y")
    }

    @Test(arguments: ["nocolon", "bogus:/a", "synthetic:"])
    func rejectsBadSpecs(text: String) {
        #expect(throws: DataError.self) { try DatasetSpec(parsing: text) }
    }
}
