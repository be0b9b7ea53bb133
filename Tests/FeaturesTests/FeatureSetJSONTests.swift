import Features
import Foundation
import Testing

@Suite struct FeatureSetJSONTests {
    @Test func theExampleFileDeclaresTheMarketplaceSet() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try Data(contentsOf: repository.appendingPathComponent("examples/features.json"))
        let set = try FeatureSet(json: data)
        #expect(set == FeatureSet.marketplace)
        #expect(set.version == FeatureSet.marketplace.version)
    }

    @Test(arguments: [
        (#"{"feature": []}"#, "expected a JSON object with a 'features' array"),
        (#"{"features": [{"entity": "user"}]}"#, "feature 1: needs a 'name'"),
        (#"{"features": [{"name": "a", "entity": "shop", "events": ["view"], "window": "1d", "aggregation": "count"}]}"#,
         "feature 'a': 'entity' must be user or item"),
        (#"{"features": [{"name": "a", "entity": "user", "events": ["listing_sold"], "window": "1d", "aggregation": "count"}]}"#,
         "feature 'a': 'listing_sold' is not an interaction event type"),
        (#"{"features": [{"name": "a", "entity": "user", "events": ["view"], "window": "2w", "aggregation": "count"}]}"#,
         "feature 'a': 'window' must be like 1h, 1d, 7d, 30d or all"),
        (#"{"features": [{"name": "a", "entity": "user", "events": ["view"], "window": "1d", "aggregation": "last_n"}]}"#,
         "feature 'a': last_n needs a positive integer 'n'"),
        (#"{"features": [{"name": "a", "entity": "user", "events": ["view"], "window": "1d", "aggregation": "median"}]}"#,
         "feature 'a': 'aggregation' must be count, sum_price, last_n or affinity"),
    ])
    func badDefinitionsAreRefusedWithTheReason(json: String, message: String) {
        do {
            _ = try FeatureSet(json: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.message.hasPrefix(message), "\(error.message)")
        }
    }

    @Test func windowsParse() {
        #expect(FeatureWindow.parse("1h") == .some(3_600))
        #expect(FeatureWindow.parse("30d") == .some(30 * 86_400))
        #expect(FeatureWindow.parse("all") == .some(nil))
        #expect(FeatureWindow.parse("0d") == nil && FeatureWindow.parse("7w") == nil && FeatureWindow.parse("") == nil)
    }
}
