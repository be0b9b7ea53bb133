import Backends
import Events
import Foundation
import Registry
import RummageAPI
import RummageCore
import RummageTestSupport
import Serving
import Storage
import Testing

/// Precomputed (batch) recommendation lists: the store contract on every backend (SQLite embedded, Redis
/// shared), `batch-recommend --to … --shard`, and serving's fallback to a user's list, filtered against
/// the listings' current states.
@Suite(.serialized) struct PrecomputedRecommendationsTests {
    enum Backend: String, CaseIterable, CustomStringConvertible {
        case sqlite, redis
        var description: String { rawValue }

        func location() throws -> String {
            switch self {
            case .sqlite: Fixtures.temporaryDirectory("rummage-precomputed") + "/lists.sqlite"
            case .redis: "redis://127.0.0.1:\(try TestRedis.port())"
            }
        }
    }

    static func list(_ user: String, _ items: [String], version: Int = 3) -> Recommendations {
        Recommendations(user: user, modelVersion: version, items: items.map { .init(item: $0, score: 0.5) },
                                              fallback: false, variant: "champion", experiment: nil, rankingID: "batch-\(version)-\(user)")
    }

    @Test(arguments: Backend.allCases)
    func listsAreReplacedAndExpire(backend: Backend) throws {
        let location = try backend.location(), model = "m-" + UUID().uuidString
        let store = try openPrecomputedRecommendations(location, model: model, ttl: 60)
        try store.store([Self.list("u1", ["a", "b"]), Self.list("u2", ["c"])])
        #expect(try store.list(for: "u1") == Self.list("u1", ["a", "b"]))
        #expect(try store.list(for: "nobody") == nil)
        try store.store([Self.list("u1", ["d"], version: 4)])
        #expect(try store.list(for: "u1") == Self.list("u1", ["d"], version: 4) && store.list(for: "u2") == Self.list("u2", ["c"]))
        // Another model's lists are apart (Redis namespace; a SQLite store is one file per model).
        if backend == .redis { #expect(try openPrecomputedRecommendations(location, model: "other", ttl: 60).list(for: "u1") == nil) }
        let short = try openPrecomputedRecommendations(location, model: model, ttl: 1)
        try short.store([Self.list("u3", ["e"])])
        #expect(try short.list(for: "u3") != nil)
        Thread.sleep(forTimeInterval: 2.1)
        #expect(try store.list(for: "u3") == nil)
    }

    @Test func batchListsAreShardedStoredAndServedWithoutListingsSoldSince() throws {
        let dir = Fixtures.temporaryDirectory("rummage-precomputed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let deployed = try ServingTests.deployService(dir: dir)
        let known = deployed.knownUsers
        let storePath = dir + "/lists.sqlite"
        for shard in 0..<2 {
            let run = rummage("batch-recommend", "--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite",
                              "--k", "10", "--to", storePath, "--shard", "\(shard)/2", "--quiet")
            #expect(run.code == 0, "\(run.err)")
        }
        let store = try SQLitePrecomputedRecommendations(path: storePath, ttl: 60)
        let stored = try known.filter { try store.list(for: $0) != nil }
        #expect(stored.count == known.count)  // the two shards cover every user once
        #expect(try store.list(for: known[0])?.items.count == 10)
        // --method ann: the serving path's answers, the same as the service gives.
        let ann = rummage("batch-recommend", "--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite",
                          "--k", "10", "--method", "ann", "--out", dir + "/ann.jsonl", "--quiet")
        #expect(ann.code == 0, "\(ann.err)")
        let lines = try String(contentsOfFile: dir + "/ann.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == known.count)
        for line in lines.prefix(50) {
            let answer = try JSONDecoder().decode(Recommendations.self, from: Data(line.utf8))
            #expect(answer.items.map(\.item) == deployed.recommend(user: answer.user, k: 10).items.map(\.item))
        }

        // A user the model does not know, with a list from elsewhere: served their list, minus what sold since.
        let listings = deployed.knownItemsForTesting
        try store.store([Self.list("newcomer", Array(listings.prefix(5)))])
        let service = try RecommendationService(registry: ModelRegistry(root: dir + "/registry"), model: "mp", reference: "champion",
                                                logPath: dir + "/events.sqlite", precomputed: store)
        _ = try service.ingest([Event(id: "sold-now", type: .listingSold, timestamp: 1_775_000_000, user: "seller",
                                      item: ItemID(listings[1]))])
        let answer = service.recommend(user: "newcomer", k: 10)
        #expect(answer.fallback && answer.items.map(\.item) == [listings[0]] + listings[2..<5])
        // Without a list, the popular fallback as before.
        #expect(service.recommend(user: "stranger", k: 10).items.map(\.item) != answer.items.map(\.item))
    }
}
