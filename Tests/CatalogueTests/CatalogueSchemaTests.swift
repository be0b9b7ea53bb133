import Catalogue
import Datasets
import Foundation
import Testing

/// The declared catalogue: the schema file is strict, and one function turns attributes into the tokens
/// that training and serving read.
@Suite struct CatalogueSchemaTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/schemas").path

    @Test func theGeneratorsSchemaFileIsTheEmbeddedOne() throws {
        let file = try CatalogueSchema.load(path: Self.examples + "/secondhand-fashion.json")
        #expect(file == CatalogueSchema.secondhandFashion)
        #expect(try CatalogueSchema(json: file.json) == file)
        #expect(file.listingInputs == ["category", "brand", "size", "condition", "colour", "style", "price_band", "title"])
    }

    @Test func tokensFollowTheFieldTypes() throws {
        let schema = try CatalogueSchema.load(path: Self.examples + "/electronics.json")
        #expect(schema.listingInputs == ["device", "manufacturer", "grade", "storage_gb", "accessories", "price_tier", "description"])
        let tokens = try schema.listingTokens(attributes: ["device": "phone", "manufacturer": "fairphone", "storage_gb": "256",
                                                           "accessories": "charger, case", "released": "2023-09-01T00:00:00Z",
                                                           "description": "Unlocked  Phone"], price: 199)
        #expect(tokens == [["phone"], ["fairphone"], [], ["3"], ["charger", "case"], ["2"], ["unlocked", "phone"]])
        // The fashion price bands are MarketplaceVocabulary's.
        for price in [0, 14.99, 15, 39.5, 40, 119, 120, 900] {
            let band = try CatalogueSchema.secondhandFashion.listingTokens(attributes: [:], price: price)[6]
            #expect(band == ["\(MarketplaceVocabulary.priceBand(price))"], "\(price)")
        }
    }

    @Test func attributesThatBreakTheSchemaAreRefusedWithTheFieldAndTheReason() throws {
        let schema = try CatalogueSchema.load(path: Self.examples + "/electronics.json")
        func refusal(_ attributes: [String: String], price: Double? = 10) -> String? {
            do { try schema.validate(listingAttributes: attributes, price: price); return nil } catch { return error.description }
        }
        let ok = ["device": "phone", "manufacturer": "fairphone"]
        #expect(refusal(ok) == nil)
        #expect(refusal(ok.merging(["storage_gb": "lots"]) { $1 }) == "'storage_gb' must be a number, got 'lots'")
        #expect(refusal(ok.merging(["released": "last year"]) { $1 }) == "'released' must be Unix seconds or an ISO 8601 time, got 'last year'")
        #expect(refusal(ok.merging(["colour": "red"]) { $1 })?.hasPrefix("'colour' is not a listing field of schema 'refurbished-electronics'") == true)
        #expect(refusal(ok.merging(["price_tier": "2"]) { $1 }) == "'price_tier' is derived from price; do not send it")
        #expect(refusal(["device": "phone"]) == "'manufacturer' is required by schema 'refurbished-electronics'")
        #expect(refusal(ok, price: nil) == "'price_tier' is required by schema 'refurbished-electronics' (from price)")
        #expect(throws: Never.self) { try schema.validate(userAttributes: [:], complete: true) }
    }

    @Test(arguments: [
        (#"{"name": "x", "listing": [{"name": "a", "type": "colour"}]}"#, "'a' has unknown type 'colour' (types: categorical, multi, numeric, text, timestamp)"),
        (#"{"name": "x", "listing": [{"name": "a", "type": "text"}], "extra": 1}"#, "'extra' is not a key of a schema (keys: name, listing, user, slices)"),
        (#"{"name": "x", "listing": [{"name": "a", "type": "text", "bucket": [1]}]}"#, "'bucket' is not a key of a field (keys: name, type, buckets, from, required)"),
        (#"{"name": "x", "listing": [{"name": "a", "type": "numeric", "buckets": [3, 1]}]}"#, "'a' buckets must be finite and strictly ascending"),
        (#"{"name": "x", "listing": [{"name": "a", "type": "text", "from": "price"}]}"#, "'a' is derived (from price), so it must be numeric with buckets"),
        (#"{"name": "x", "listing": [{"name": "a", "type": "text"}, {"name": "a", "type": "text"}]}"#, "'a' is declared twice among the listing fields"),
        (#"{"name": "x", "listing": [{"name": "a", "type": "text"}], "slices": ["a"]}"#, "'a' in 'slices' is not a categorical or bucketed listing field"),
        (#"{"name": "x", "listing": []}"#, "'listing' needs at least one field"),
        (#"{"listing": []}"#, "not a schema: missing 'name'"),
        ("nope", "not a schema: not valid JSON"),
    ])
    func badSchemasAreRefusedNamingTheProblem(json: String, message: String) {
        #expect(throws: SchemaError.self) {
            do { _ = try CatalogueSchema(json: Data(json.utf8)) } catch let error as SchemaError {
                #expect(error.description == message)
                throw error
            }
        }
    }
}
