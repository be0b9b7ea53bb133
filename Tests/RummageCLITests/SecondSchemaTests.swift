import Backends
import Foundation
import Pipeline
import Registry
import RummageClient
import RummageCore
import RummageTestSupport
import Serving
import Testing

/// Issue [10/19]: a marketplace with another catalogue (refurbished electronics:
/// examples/schemas/electronics.json) goes from its events to served recommendations with no code
/// change: ingested against its schema, trained from the log, served over a real socket, and a listing
/// created afterwards embedded from the same schema's tokens.
@Suite(.serialized) struct SecondSchemaTests {
    let dir = Fixtures.temporaryDirectory("rummage-electronics")
    static let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/schemas/electronics.json").path
    static let devices = ["phone", "tablet", "laptop", "watch", "console", "camera", "headphones", "speaker"]
    static let makers = ["fairphone", "apple", "samsung", "lenovo", "sony", "nintendo", "canon", "bose", "dell", "google"]

    /// A seeded electronics marketplace as events: each user favours one device type and one maker, and
    /// engages with listings of those far more often than with others.
    func events(users: Int = 400, listings: Int = 800, interactions: Int = 24_000) -> (lines: [String], favourite: [String: String]) {
        var rng = SeededGenerator(seed: 17)
        let start: Int64 = 1_780_000_000, day: Int64 = 86_400
        var lines: [String] = [], favourite: [String: String] = [:]
        var prefs: [(device: Int, maker: Int)] = []
        for u in 0..<users {
            let device = rng.nextInt(below: Self.devices.count), maker = rng.nextInt(below: Self.makers.count)
            prefs.append((device, maker))
            favourite["user\(u)"] = Self.devices[device]
            lines.append(#"{"event_id":"u\#(u)","type":"user_created","timestamp":\#(start + Int64(u)),"user":"user\#(u)","attributes":{"region":"r\#(u % 5)"}}"#)
        }
        var listing: [(device: Int, maker: Int)] = []
        for i in 0..<listings {
            let device = rng.nextInt(below: Self.devices.count), maker = rng.nextInt(below: Self.makers.count)
            listing.append((device, maker))
            let storage = [32, 64, 128, 256, 512][rng.nextInt(below: 5)], price = 20 + rng.nextInt(below: 1200)
            lines.append(#"{"event_id":"c\#(i)","type":"listing_created","timestamp":\#(start + day + Int64(i)),"seller":"user\#(rng.nextInt(below: users))","item":"item\#(i)","price":\#(price),"attributes":{"device":"\#(Self.devices[device])","manufacturer":"\#(Self.makers[maker])","grade":"\#(["A", "B", "C"][rng.nextInt(below: 3)])","storage_gb":"\#(storage)","accessories":"charger, case","released":"2023-09-01T00:00:00Z","description":"refurbished \#(Self.makers[maker]) \#(Self.devices[device])"}}"#)
        }
        let byDevice = Dictionary(grouping: listing.indices) { listing[$0].device }
        let kinds = ["view", "view", "view", "like", "save", "add_to_bag"]
        for n in 0..<interactions {
            let u = rng.nextInt(below: users)
            let pool = rng.nextDouble() < 0.8 ? byDevice[prefs[u].device]! : Array(listing.indices)
            let i = pool[rng.nextInt(below: pool.count)]
            let time = start + 2 * day + Int64(n) * 200
            lines.append(#"{"event_id":"e\#(n)","type":"\#(kinds[rng.nextInt(below: kinds.count)])","timestamp":\#(time),"user":"user\#(u)","item":"item\#(i)"}"#)
        }
        return (lines, favourite)
    }

    @Test func anElectronicsCatalogueIsIngestedTrainedAndServedWithNoCodeChange() throws {
        let (lines, favourite) = events()
        let file = Fixtures.write(lines.joined(separator: "\n") + "\n", to: "events.jsonl", in: dir)
        let log = dir + "/events.sqlite"
        let ingest = rummage("ingest", "--from", file, "--log", log, "--schema", Self.schema, "--quiet")
        #expect(ingest.code == 0, "\(ingest.err)")
        let config = Fixtures.write("""
            {"model": "gadgets", "registry": "\(dir)/registry", "data": {"log": "\(log)", "schema": "\(Self.schema)"},
             "train": {"kind": "two-tower", "settings": {"content": "true", "id_dropout": "0.3", "epochs": "4"}, "seed": 1},
             "gate": {"absolute": {}, "relative": {}}}
            """, to: "pipeline.json", in: dir)
        let run = rummage("pipeline", "run", "--pipeline", config, "--json", "--quiet")
        #expect(run.code == 0, "\(run.err)")
        let metrics = try #require(try lastJSONLine(run.out)["metrics"] as? [String: Double])
        #expect(metrics.keys.contains("recall@20[device=phone]") && metrics.keys.contains("recall@20[price_tier=2]"))

        let service = try RecommendationService(registry: ModelRegistry(root: dir + "/registry"), model: "gadgets", reference: "champion",
                                                log: try openEventLog(log), loadModel: ModelCatalog.loadForServing)
        let server = try ServerApplication(service: service, options: ServerApplication.Options())
        defer { server.stop() }
        let client = RummageClient(port: server.port)
        // Answers follow each user's favourite device far above its 1-in-8 base rate.
        let device = Dictionary(uniqueKeysWithValues: lines.compactMap { line -> (String, String)? in
            guard line.contains("listing_created"), let item = line.range(of: #""item":"item\d+""#, options: .regularExpression),
                  let kind = line.range(of: #""device":"[a-z]+""#, options: .regularExpression) else { return nil }
            return (String(line[item].dropFirst(8).dropLast()), String(line[kind].dropFirst(10).dropLast()))
        })
        var matching = 0, served = 0
        for u in 0..<50 {
            let answer = try client.recommendations(user: "user\(u)", k: 10)
            #expect(!answer.fallback && answer.items.count == 10)
            matching += answer.items.filter { device[$0.item] == favourite["user\(u)"] }.count
            served += answer.items.count
        }
        print("electronics: \(matching) of \(served) recommendations are of the user's favourite device")
        #expect(Double(matching) / Double(served) > 0.4)
        // Any attribute of the catalogue filters answers (no field name is special to serving).
        let other = Self.devices.first { $0 != favourite["user0"] }!
        let filtered = try client.recommendations(user: "user0", k: 10, filters: .init(attributes: ["device": other, "grade": "A"]))
        #expect(!filtered.fallback && filtered.items.count == 10)
        #expect(filtered.items.allSatisfy { device[$0.item] == other }, "\(filtered.items.map { device[$0.item] ?? "?" })")
        let malformed = try client.request("GET", "/v1/users/user0/recommendations?where=device")
        #expect(malformed.status == 400 && malformed.text.contains("'where' must be NAME:VALUE pairs"), "\(malformed.text)")
        // A listing created now is embedded from its content through the schema (the price tier derived
        // from the price) and is found among listings like one of its kind.
        let created = try client.createListing(item: "new-phone", seller: "user1", price: 300,
                                               attributes: ["device": "phone", "manufacturer": "fairphone", "storage_gb": "256",
                                                            "description": "refurbished fairphone phone"])
        #expect(created.appended == 1)
        let similar = try client.similar(item: "new-phone", k: 10)
        #expect(similar.items.count == 10)
        #expect(similar.items.filter { device[$0.item] == "phone" }.count >= 5, "\(similar.items.map { device[$0.item] ?? "?" })")
    }
}
