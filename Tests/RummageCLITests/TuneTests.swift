import Datasets
import Evaluation
import Foundation
import Pipeline
import RummageCore
import RummageTestSupport
import Testing

@Suite struct TuneTests {
    /// 30 users with 1 to 12 items each of 40.
    static var train: InteractionMatrix {
        var users: [Int32] = [], items: [Int32] = []
        for u in 0..<30 {
            for i in 0..<(1 + u % 12) { users.append(Int32(u)); items.append(Int32((u * 7 + i * 3) % 40)) }
        }
        return InteractionMatrix(userCount: 30, itemCount: 40, users: users, items: items)
    }

    static func sampled(positive: Int32) -> Split {
        let cases = (0..<30).map { u in
            SampledCase(user: UserIndex(Int32(u)), positive: ItemIndex(positive), negatives: (0..<5).map { ItemIndex(Int32(($0 + u) % 40)) })
        }
        return Split(name: "tiny", train: train, evaluation: .sampled(SampledRankingProtocol(cases: cases, cutoffs: [1, 5])))
    }

    /// One training interaction per user with two or more is held out, ranked against 5 negatives the user
    /// never trained on; the test part plays no part (two splits that differ only in it carve the same).
    @Test func sampledValidationComesFromTrainingOnly() throws {
        let validation = Self.sampled(positive: 3).validation(seed: 7)
        guard case .sampled(let spec) = validation.evaluation else { Issue.record("not sampled"); return }
        let eligibleUsers = (0..<30).filter { Self.train.byUser.count(of: $0) >= 2 }
        #expect(spec.cases.map(\.user.int) == eligibleUsers && spec.cutoffs == [1, 5])
        #expect(validation.train.interactionCount == Self.train.interactionCount - eligibleUsers.count)
        for c in spec.cases {
            let row = Set(Self.train.byUser.columns(of: c.user.int))
            #expect(row.contains(c.positive.rawValue) && !validation.train.contains(c.user, c.positive))
            #expect(c.negatives.count == 5 && Set(c.negatives).count == 5 && c.negatives.allSatisfy { !row.contains($0.rawValue) })
        }
        guard case .sampled(let other) = Self.sampled(positive: 9).validation(seed: 7).evaluation else { return }
        #expect(other.cases == spec.cases)
        guard case .sampled(let reseeded) = Self.sampled(positive: 3).validation(seed: 8).evaluation else { return }
        #expect(reseeded.cases != spec.cases)
    }

    /// Full ranking: a fifth of each user's interactions (at least one, never all) held out; the rest trains
    /// and is masked.
    @Test func fullRankingValidationHoldsOutAFifth() throws {
        let test = SparseRows(rowCount: 30, columnCount: 40, rows: [0], columns: [39])
        let split = Split(name: "tiny", train: Self.train,
                          evaluation: .fullRanking(FullRankingProtocol(heldOut: test, excluded: Self.train.byUser, cutoffs: [5])))
        let validation = split.validation(seed: 3)
        guard case .fullRanking(let spec) = validation.evaluation else { Issue.record("not full ranking"); return }
        for u in 0..<30 {
            let count = Self.train.byUser.count(of: u), held = spec.heldOut.count(of: u)
            #expect(held == (count < 2 ? 0 : min(count - 1, max(1, Int((Double(count) * 0.2).rounded())))), "user \(u)")
            #expect(validation.train.byUser.count(of: u) == count - held)
            #expect(spec.excluded.columns(of: u).elementsEqual(validation.train.byUser.columns(of: u)))
            #expect(spec.heldOut.columns(of: u).allSatisfy { Self.train.byUser.columns(of: u).contains($0) })
        }
        #expect(spec.cutoffs == [5])
    }

    @Test func searchPointsCoverTheGridOrASeededSample() {
        let space = [ModelTuning.Dimension("a", ["1", "2"]), ModelTuning.Dimension("b", ["x", "y", "z"])]
        let all = ModelTuning.points(space, budget: 10, seed: 1)
        #expect(all.count == 6 && all.first == ["a": "1", "b": "x"] && all.last == ["a": "2", "b": "z"] && Set(all).count == 6)
        let sample = ModelTuning.points(space, budget: 4, seed: 1)
        #expect(sample.count == 4 && Set(sample).count == 4 && sample.allSatisfy { all.contains($0) })
        #expect(ModelTuning.points(space, budget: 4, seed: 1) == sample)
    }

    /// As a user runs it: a table of trials, the best settings, JSON; a model without settings is refused.
    @Test func tuneCommand() throws {
        let dir = Fixtures.temporaryDirectory()
        #expect(rummage("generate", "--out", dir, "--users", "300", "--items", "600", "--events", "20000", "--seed", "3", "--quiet").code == 0)
        let result = rummage("tune", "--dataset", "synthetic:\(dir)", "--kind", "itemknn", "--budget", "3", "--set", "shrink=10",
                             "--out", dir + "/tuned.json", "--json", "--quiet")
        #expect(result.code == 0, "\(result.err)")
        #expect(result.out.contains(" #\tneighbours\tshrink\tndcg@20\tseconds") && result.out.contains("best: itemknn neighbours="), "\(result.out)")
        let json = try lastJSONLine(result.out)
        let trials = try #require(json["trials"] as? [[String: Any]])
        #expect(trials.count == 3 && trials.allSatisfy { ($0["settings"] as? [String: String])?["shrink"] == "10" })
        #expect(FileManager.default.fileExists(atPath: dir + "/tuned.json"))
        let refused = rummage("tune", "--dataset", "synthetic:\(dir)", "--kind", "toppop")
        #expect(refused.code == 64 && refused.err.contains("nothing to tune in 'toppop'"), "\(refused.err)")
    }
}
