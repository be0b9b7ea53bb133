import Foundation
import RummageTestSupport
import Testing

/// Issue [3/8]'s cold-start bar on the quickstart marketplace (10k users, 20k listings, 500k events):
/// ranking only the listings created after the training cut-off (`[cold-only]`), the two-tower model
/// with content features reaches at least twice the Recall@20 of popularity within category, with or
/// without the brand prior for cold listings. About 20 s.
@Suite struct ColdStartTests {
    @Test func contentTwoTowerDoublesCategoryPopularityOnColdListings() throws {
        let dir = Fixtures.temporaryDirectory("rummage-cold")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let generated = rummage("generate", "--out", dir, "--users", "10000", "--items", "20000", "--events", "500000",
                                "--seed", "42")
        #expect(generated.code == 0, "\(generated.err)")
        func coldRecall(_ model: String, _ settings: String...) throws -> Double {
            let arguments = ["evaluate", "--dataset", "synthetic:\(dir)", "--kind", model, "--json", "--quiet"]
                + settings.flatMap { ["--set", $0] }
            let result = rummage(arguments)
            #expect(result.code == 0, "\(result.err)")
            let json = try lastJSONLine(result.out)
            #expect(json["users[cold-only]"] as! Double >= 1000)
            return json["recall@20[cold-only]"] as! Double
        }
        let twoTower = try coldRecall("two-tower", "content=true", "id_dropout=0.5")
        for prior in ["none", "brand"] {
            let baseline = try coldRecall("category-pop", "prior=\(prior)")
            #expect(baseline > 0.02, "prior \(prior)")
            #expect(twoTower >= 2 * baseline, "two-tower \(twoTower) vs category-pop (prior \(prior)) \(baseline)")
        }
    }
}
