import Foundation
import RummageTestSupport
import Testing

/// The protocol reproduces published numbers on the NCF MovieLens-1M split
/// (Dacrema et al., RecSys 2019: Random 0.0987 / 0.0442, TopPop 0.4531 / 0.2542,
/// ItemKNN CF 0.6596 / 0.3900 for HR@10 / NDCG@10), and the matrix factorisation models reach
/// the bars issue [2/8] sets, with their default settings.
@Suite struct PublishedBaselinesTests {
    func evaluate(_ model: String) throws -> [String: Any]? {
        guard let dir = SharedData.directory("ncf-ml-1m", neededBy: "PublishedBaselinesTests.\(model)") else { return nil }
        let result = rummage("evaluate", "--dataset", "ncf-ml1m:\(dir)", "--kind", model, "--json", "--quiet")
        #expect(result.code == 0, "\(result.err)")
        return try lastJSONLine(result.out)
    }

    @Test func topPopMatchesPublishedValues() throws {
        guard let json = try evaluate("toppop") else { return }
        #expect(abs(json["hr@10"] as! Double - 0.4531) <= 0.01)
        #expect(abs(json["ndcg@10"] as! Double - 0.2542) <= 0.01)
    }

    @Test func itemKNNReachesPublishedValues() throws {
        guard let json = try evaluate("itemknn") else { return }
        #expect(json["hr@10"] as! Double >= 0.6596)
        #expect(json["ndcg@10"] as! Double >= 0.3900)
    }

    /// Issue [2/8]'s bars: iALS ≥ 0.71 / 0.43 (implicit's iALS with 64 factors: 0.716 / 0.443), and with
    /// the defaults `rummage tune` chose (Rendle et al.'s formulation, 256 factors) ≥ 0.72 / 0.445;
    /// BPR ≥ 0.66 / 0.39 (published BPR on ML-1M: about 0.66–0.68).
    @Test func implicitALSReachesItsBar() throws {
        guard let json = try evaluate("ials") else { return }
        #expect(json["hr@10"] as! Double >= 0.72)
        #expect(json["ndcg@10"] as! Double >= 0.445)
    }

    /// EASE with the λ `rummage tune` chose: ≥ 0.71 / 0.445.
    @Test func easeReachesItsBar() throws {
        guard let json = try evaluate("ease") else { return }
        #expect(json["hr@10"] as! Double >= 0.71)
        #expect(json["ndcg@10"] as! Double >= 0.445)
    }

    @Test func bprReachesItsBar() throws {
        guard let json = try evaluate("bpr") else { return }
        #expect(json["hr@10"] as! Double >= 0.66)
        #expect(json["ndcg@10"] as! Double >= 0.39)
    }

    /// Issue [3/8]'s bar for the two-tower model with its defaults: ≥ 0.72 / 0.44 (about 75 s).
    @Test func twoTowerReachesItsBar() throws {
        guard let json = try evaluate("two-tower") else { return }
        #expect(json["hr@10"] as! Double >= 0.72)
        #expect(json["ndcg@10"] as! Double >= 0.44)
    }

    @Test func randomIsNearChance() throws {
        guard let json = try evaluate("random") else { return }
        #expect(abs(json["hr@10"] as! Double - 0.10) <= 0.015)
        #expect(abs(json["ndcg@10"] as! Double - 0.045) <= 0.01)
    }
}
