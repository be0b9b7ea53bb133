import Events
import Experiments
import Foundation
import HTTPServer
import Registry
import RummageTestSupport
import Serving
import Testing
import VectorSearch

/// Issue [6/8] so far: the HTTP API over a pipeline-registered model, through the router in-process.
@Suite(.serialized) struct ServingTests {
    let dir = Fixtures.temporaryDirectory("rummage-serving")

    /// A marketplace, its event log, and a registered two-tower version built from it, served from `dir`.
    /// `features`: train the two-tower with online features in its user tower (`features=true`).
    static func deployService(dir: String, users: Int = 1_500, items: Int = 3_000, events: Int = 50_000, seed: Int = 9,
                              epochs: Int = 3, features: Bool = false) throws -> RecommendationService {
        let data = dir + "/data"
        #expect(rummage("generate", "--out", data, "--users", "\(users)", "--items", "\(items)", "--events", "\(events)",
                        "--seed", "\(seed)", "--jsonl", "--quiet").code == 0)
        #expect(rummage("ingest", "--from", data + "/events.jsonl", "--log", dir + "/events.sqlite", "--quiet").code == 0)
        let config = Fixtures.write("""
            {"model": "mp", "registry": "\(dir)/registry", "data": {"dataset": "synthetic:\(data)"},
             "train": {"kind": "two-tower", "settings": {"content": "true", "id_dropout": "0.5", "epochs": "\(epochs)",
                       "features": "\(features)"}, "seed": 1},
             "gate": {"absolute": {}, "relative": {}}}
            """, to: "pipeline.json", in: dir)
        #expect(rummage("pipeline", "run", "--pipeline", config, "--quiet").code == 0)
        return try RecommendationService(registry: ModelRegistry(root: dir + "/registry"), model: "mp",
                                         reference: "champion", logPath: dir + "/events.sqlite")
    }

    func deploy() throws -> (router: Router, service: RecommendationService) {
        let service = try Self.deployService(dir: dir)
        let router = Router()
        ServingRoutes.install(service, on: router, clock: { 1_775_000_000 })
        return (router, service)
    }

    func get(_ router: Router, _ path: String) throws -> [String: Any] {
        let response = router.handle(HTTPRequest(method: "GET", path: path))
        #expect(response.status == 200, "\(path): \(String(decoding: response.body, as: UTF8.self))")
        return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    func items(_ object: [String: Any]) -> [String] { (object["items"] as? [[String: Any]] ?? []).compactMap { $0["item"] as? String } }

    func send(_ router: Router, _ method: String, _ path: String, _ body: String) -> HTTPResponse {
        router.handle(HTTPRequest(method: method, path: path, body: Array(body.utf8)))
    }

    @Test func soldOwnAndBoughtListingsAreNeverServedAndNewListingsAreSearchableAtOnce() throws {
        let (router, service) = try deploy()
        #expect(try get(router, "/readyz")["user_query"] as? String == "embedding+recent")
        let first = try get(router, "/v1/users/u12/recommendations?k=10")
        #expect(first["fallback"] as? Bool == false && items(first).count == 10)
        // Sell the top listing through the API: it leaves the next answer.
        let top = try #require(items(first).first)
        #expect(send(router, "PATCH", "/v1/items/\(top)", #"{"state":"sold"}"#).status == 200)
        #expect(!items(try get(router, "/v1/users/u12/recommendations?k=10")).contains(top))
        // A purchase event sells the second; re-selling it is refused as an invalid transition (409: the
        // marketplace's state, not a malformed event).
        let second = items(first)[1]
        let bought = #"{"event_id":"buy-1","type":"purchase","timestamp":1775000000,"user":"u12","item":"\#(second)"}"#
        #expect(send(router, "POST", "/v1/events", bought).status == 200)
        #expect(!items(try get(router, "/v1/users/u12/recommendations?k=10")).contains(second))
        let again = #"{"event_id":"buy-2","type":"purchase","timestamp":1775000001,"user":"u13","item":"\#(second)"}"#
        #expect(send(router, "POST", "/v1/events", again).status == 409)
        let malformed = #"{"event_id":"buy-3","type":"purchase","timestamp":1775000001,"item":"\#(second)"}"#
        #expect(send(router, "POST", "/v1/events", malformed).status == 422, "no user")
        let unknown = #"{"event_id":"buy-4","type":"purchase","timestamp":1775000001,"user":"u13","item":"no-such-listing"}"#
        #expect(send(router, "POST", "/v1/events", unknown).status == 404)
        // A new listing is embedded from content, searchable at once, and never shown to its seller.
        let listing = #"{"seller":"u12","price":25,"attributes":{"category":"jeans","brand":"levis","title":"blue levis jeans"}}"#
        #expect(send(router, "PUT", "/v1/items/fresh-1", listing).status == 200)
        #expect(!items(try get(router, "/v1/items/fresh-1/similar?k=5")).isEmpty)
        #expect(!items(try get(router, "/v1/users/u12/recommendations?k=200")).contains("fresh-1"))
        // Every answer holds only active listings.
        for user in ["u1", "u2", "u3", "u12", "nobody"] {
            for item in items(try get(router, "/v1/users/\(user)/recommendations?k=50")) {
                #expect(item != top && item != second)
            }
        }
        #expect(service.status.indexed > 0)
        // Query filters: only jeans; only listings up to 20; a category nobody sells gives the (empty-handed) fallback.
        let jeans = items(try get(router, "/v1/users/u12/recommendations?k=10&category=jeans"))
        #expect(!jeans.isEmpty)
        let listings = try String(contentsOfFile: dir + "/data/listings.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let category = Dictionary(uniqueKeysWithValues: listings.map { line -> (String, String) in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return (String(f[0]), String(f[3]))
        })
        #expect(jeans.allSatisfy { category[$0] == "jeans" })
        let price = Dictionary(uniqueKeysWithValues: listings.map { line -> (String, Double) in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return (String(f[0]), Double(f[8]) ?? -1)
        })
        for item in items(try get(router, "/v1/users/u12/recommendations?k=10&max_price=20")) { #expect((price[item] ?? 99) <= 20) }
        let none = try get(router, "/v1/users/u12/recommendations?k=5&category=spaceships")
        #expect(none["fallback"] as? Bool == true && items(none).isEmpty)
    }

    @Test func unknownUsersGetAFallbackAndBadRequestsAreJSONErrors() throws {
        let (router, _) = try deploy()
        let fallback = try get(router, "/v1/users/somebody-new/recommendations?k=5")
        #expect(fallback["fallback"] as? Bool == true && items(fallback).count == 5)
        #expect(router.handle(HTTPRequest(method: "GET", path: "/v1/users/u1/recommendations?k=0")).status == 400)
        #expect(router.handle(HTTPRequest(method: "GET", path: "/v1/items/nope/similar")).status == 404)
        // [12/19]: ids in paths are canonical or refused: a NUL (SQLite and libpq would cut "l9\0evil" to
        // "l9"), a control character (a decomposed, NFD, spelling is put in NFC).
        for path in ["/v1/users/u1%00evil/recommendations", "/v1/items/l9%00evil/similar", "/v1/items/l%0A9/similar",
                     "/v1/items/l%C2%859/similar"] {
            let refused = router.handle(HTTPRequest(method: "GET", path: path))
            #expect(refused.status == 400 && String(decoding: refused.body, as: UTF8.self).contains("must"), "\(path)")
        }
        let patched = send(router, "PATCH", "/v1/items/l9%00evil", #"{"state": "sold"}"#)
        #expect(patched.status == 400, "\(String(decoding: patched.body, as: UTF8.self))")
        #expect(send(router, "POST", "/v1/events", "not json").status == 400)
        let mixed = send(router, "POST", "/v1/events",
                         #"[{"event_id":"v-1","type":"view","timestamp":1775000000,"user":"u1","item":"l5"},{"type":"view"}]"#)
        #expect(mixed.status == 207)
        #expect(try get(router, "/readyz")["status"] as? String == "ready")
        let metrics = router.handle(HTTPRequest(method: "GET", path: "/metrics"))
        let text = String(decoding: metrics.body, as: UTF8.self)
        #expect(text.contains("rummage_recs_answers_total{variant=\"champion\",kind=\"fallback\"} 1"))
        #expect(text.contains("rummage_http_requests_total{endpoint=\"events\",code=\"4xx\"} 1"))
        #expect(text.contains("rummage_events_refused_total 1"))
        #expect(text.contains("rummage_recs_unservable_served_total 0"))
    }

    @Test func batchRecommendationsMatchServingAndApplyTheSameFilters() throws {
        let (router, service) = try deploy()
        let users = Array(service.knownUsers.prefix(300)) + ["stranger"]
        // Sell something user u1 would get, then compare batch (exact) with serving (HNSW).
        let sold = try #require(items(try get(router, "/v1/users/u1/recommendations?k=1")).first)
        #expect(send(router, "PATCH", "/v1/items/\(sold)", #"{"state":"sold"}"#).status == 200)
        var overlap = 0, total = 0, strangerFellBack = false
        service.batchRecommend(users: users, k: 10) { batch in
            #expect(!batch.items.map(\.item).contains(sold))
            if batch.user == "stranger" { strangerFellBack = batch.fallback; return }
            let served = Set(service.recommend(user: batch.user, k: 10).items.map(\.item))
            overlap += batch.items.filter { served.contains($0.item) }.count
            total += batch.items.count
        }
        #expect(strangerFellBack)
        #expect(Double(overlap) / Double(total) >= 0.95, "batch vs served overlap \(overlap)/\(total)")
        let out = dir + "/batch.jsonl"
        let result = rummage("batch-recommend", "--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite",
                             "--k", "5", "--out", out)
        #expect(result.code == 0 && result.out.contains("users/s"), "\(result.err)")
        #expect(try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").count == service.knownUsers.count)
    }

    /// A like moves the user's query at request time: after a user with no engagement yet (views only, so
    /// the likes are all their recent listings) likes three listings of one category (the rarest in their
    /// answer), more of that category is recommended; a user the model never saw is served from their likes.
    @Test func likesChangeTheNextAnswer() throws {
        let (router, _) = try deploy()
        let listings = try String(contentsOfFile: dir + "/data/listings.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let category = Dictionary(uniqueKeysWithValues: listings.map { line -> (String, String) in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return (String(f[0]), String(f[3]))
        })
        var kinds: [String: Set<String>] = [:]
        for line in try String(contentsOfFile: dir + "/data/events.csv", encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",")
            kinds[String(f[2]), default: []].insert(String(f[4]))
        }
        let user = try #require(kinds.filter { $0.value == ["view"] }.keys.sorted { ($0.count, $0) < ($1.count, $1) }.first)
        let before = items(try get(router, "/v1/users/\(user)/recommendations?k=20"))
        let shown = Dictionary(before.compactMap { category[$0] }.map { ($0, 1) }, uniquingKeysWith: +)
        let target = try #require(shown.min { ($0.value, $0.key) < ($1.value, $1.key) }?.key)
        let liked = Array(category.filter { $0.value == target && !before.contains($0.key) }.keys.sorted().prefix(3))
        for (n, item) in liked.enumerated() {
            let like = #"{"event_id":"like-\#(n)","type":"like","timestamp":\#(1_775_000_000 + n),"user":"\#(user)","item":"\#(item)"}"#
            #expect(send(router, "POST", "/v1/events", like).status == 200)
        }
        let after = items(try get(router, "/v1/users/\(user)/recommendations?k=20"))
        #expect(after != before)
        #expect(after.filter { category[$0] == target }.count > before.filter { category[$0] == target }.count, "\(user), \(target)")
        let newcomer = #"{"event_id":"like-new","type":"like","timestamp":1775000100,"user":"newcomer","item":"\#(liked[0])"}"#
        #expect(send(router, "POST", "/v1/events", newcomer).status == 200)
        let served = try get(router, "/v1/users/newcomer/recommendations?k=10")
        #expect(served["fallback"] as? Bool == false && items(served).count == 10)
    }

    /// A `features=true` model: the user tower runs at request time on the online features, so likes
    /// change the answer, a newcomer with likes is served personally, and one with nothing gets the fallback.
    @Test func theUserTowerRunsOnOnlineFeaturesAtRequestTime() throws {
        let service = try Self.deployService(dir: dir, features: true)
        let router = Router()
        ServingRoutes.install(service, on: router, clock: { 1_775_000_000 })
        #expect(try get(router, "/readyz")["user_query"] as? String == "user-tower")
        let before = items(try get(router, "/v1/users/u30/recommendations?k=20"))
        let liked = Array(before.suffix(5))
        for (n, item) in liked.enumerated() {
            let like = #"{"event_id":"ft-like-\#(n)","type":"like","timestamp":\#(1_775_000_000 + n),"user":"u30","item":"\#(item)"}"#
            #expect(send(router, "POST", "/v1/events", like).status == 200)
        }
        let after = items(try get(router, "/v1/users/u30/recommendations?k=20"))
        #expect(after != before)
        #expect(try get(router, "/v1/users/stranger/recommendations?k=5")["fallback"] as? Bool == true)
        let newcomer = #"{"event_id":"ft-new","type":"like","timestamp":1775000100,"user":"stranger","item":"\#(liked[0])"}"#
        #expect(send(router, "POST", "/v1/events", newcomer).status == 200)
        let served = try get(router, "/v1/users/stranger/recommendations?k=10")
        #expect(served["fallback"] as? Bool == false && items(served).count == 10)
    }

    @Test func anIndexBuiltFromAnotherModelIsRefusedAtStart() throws {
        _ = try deploy()
        let registry = ModelRegistry(root: dir + "/registry")
        let v1 = registry.versionDirectory("mp", 1)
        // Re-register v1's artifacts with an index stamped for some other model.
        let (index, _) = try HNSWIndex.load(from: v1 + "/index.rmg")
        try index.save(to: dir + "/foreign.rmg", stamp: "model.rmg sha256 0000")
        var manifest = try registry.manifest("mp", 1)
        manifest.parent = 1
        var artifacts: [String: String] = [:]
        for name in ["model.rmg", "user_embeddings.rmg", "item_embeddings.rmg"] { artifacts[name] = v1 + "/" + name }
        artifacts["index.rmg"] = dir + "/foreign.rmg"
        let v2 = try registry.register(manifest, artifacts: artifacts)
        #expect {
            try RecommendationService(registry: registry, model: "mp", reference: "\(v2.version)", logPath: dir + "/events.sqlite")
        } throws: { String(describing: $0).contains("built from another model") }
    }
}

@Suite(.serialized) struct HotSwapTests {
    @Test func reloadSwapsVersionsRefusesAForeignIndexAndNeedsTheToken() throws {
        let s = ServingTests()
        let (router, service) = try s.deploy()
        #expect(service.modelVersion == 1)
        // A listing created while v1 serves must be searchable after the swap too.
        let listing = #"{"seller":"u7","price":25,"attributes":{"category":"jeans","brand":"levis","title":"blue levis jeans"}}"#
        #expect(s.send(router, "PUT", "/v1/items/fresh-9", listing).status == 200)
        // Register v2 with different settings and point champion at it.
        let config = Fixtures.write("""
            {"model": "mp", "registry": "\(s.dir)/registry", "data": {"dataset": "synthetic:\(s.dir)/data"},
             "train": {"kind": "two-tower", "settings": {"content": "true", "id_dropout": "0.3", "epochs": "2"}, "seed": 2},
             "gate": {"absolute": {}, "relative": {}}}
            """, to: "v2.json", in: s.dir)
        #expect(rummage("pipeline", "run", "--pipeline", config, "--quiet").code == 0)
        let reload = HTTPRequest(method: "POST", path: "/v1/admin/reload", headers: AccessPolicy.testAuthorization)
        #expect(router.handle(reload).status == 403)  // installed without keys
        let admin = Router()
        ServingRoutes.install(service, on: admin, access: .testing, clock: { 1_775_000_000 })
        #expect(admin.handle(HTTPRequest(method: "POST", path: "/v1/admin/reload")).status == 401)
        #expect(admin.handle(HTTPRequest(method: "POST", path: "/v1/admin/reload", headers: ["Authorization": "Bearer nope"])).status == 401)
        let swapped = admin.handle(reload)
        #expect(swapped.status == 200)
        let moved = try #require(try JSONSerialization.jsonObject(with: Data(swapped.body)) as? [String: Any])
        #expect(moved["from"] as? Int == 1 && moved["to"] as? Int == 2 && moved["variant"] as? String == "champion")
        #expect(service.modelVersion == 2)
        #expect(try s.get(router, "/v1/users/u12/recommendations?k=3")["model_version"] as? Int == 2)
        #expect(!s.items(try s.get(router, "/v1/items/fresh-9/similar?k=3")).isEmpty)
        // A version whose index belongs to another model is refused; v2 keeps serving.
        let registry = ModelRegistry(root: s.dir + "/registry")
        let v2 = registry.versionDirectory("mp", 2)
        let (index, _) = try HNSWIndex.load(from: v2 + "/index.rmg")
        try index.save(to: s.dir + "/foreign.rmg", stamp: "model.rmg sha256 0000")
        var artifacts: [String: String] = [:]
        for name in ["model.rmg", "user_embeddings.rmg", "item_embeddings.rmg"] { artifacts[name] = v2 + "/" + name }
        artifacts["index.rmg"] = s.dir + "/foreign.rmg"
        let v3 = try registry.register(try registry.manifest("mp", 2), artifacts: artifacts)
        let refused = admin.handle(HTTPRequest(method: "POST", path: "/v1/admin/reload", body: Array(#"{"alias":"\#(v3.version)"}"#.utf8),
                                               headers: AccessPolicy.testAuthorization))
        #expect(refused.status == 409 && String(decoding: refused.body, as: UTF8.self).contains("built from another model"))
        #expect(service.modelVersion == 2)
    }
}

@Suite(.serialized) struct ExperimentTests {
    @Test func aSplitIsStableProportionalAndValidated() throws {
        let experiment = try Experiment(name: "ranker-2026-11", split: "champion=90,challenger=10")
        let users = (0..<20_000).map { "u\($0)" }
        let assigned = users.map { experiment.variant(for: $0) }
        #expect(assigned == users.map { experiment.variant(for: $0) })  // stable
        let share = Double(assigned.filter { $0 == "challenger" }.count) / Double(users.count)
        #expect(abs(share - 0.10) < 0.01, "challenger share \(share)")
        // Another experiment name reshuffles users (about 18 % of them change variant for a 90/10 split).
        let other = try Experiment(name: "ranker-2026-12", split: "champion=90,challenger=10")
        let moved = zip(users, assigned).filter { other.variant(for: $0.0) != $0.1 }.count
        #expect(moved > 2_000 && moved < 5_000)
        for bad in ["champion=90", "champion=90,champion=10", "champion=0,challenger=10", "champion,challenger", "a=1,b=x",
                    "champion=50,chal\u{0}lenger=50", "champion=50,cafe\u{301}=50"] {
            #expect(throws: ServingError.self) { try Experiment(name: "x", split: bad) }
        }
        // [12/19]: experiment names are canonical ids too (they become log fields and labels).
        for name in ["ranker\u{0}evil", "caf\u{65}\u{301}", String(repeating: "x", count: 129)] {
            #expect(throws: ServingError.self) { try Experiment(name: name, split: "champion=90,challenger=10") }
        }
    }

    /// Users are served by their variant's model version, answers name the variant, and each answer's
    /// listings reach the event log as impressions carrying the experiment and variant.
    @Test func usersAreServedByTheirVariantAndImpressionsAreLogged() throws {
        let s = ServingTests()
        _ = try ServingTests.deployService(dir: s.dir)
        let config = Fixtures.write("""
            {"model": "mp", "registry": "\(s.dir)/registry", "data": {"dataset": "synthetic:\(s.dir)/data"},
             "train": {"kind": "two-tower", "settings": {"content": "true", "id_dropout": "0.3", "epochs": "2"}, "seed": 2},
             "gate": {"absolute": {}, "relative": {}}, "alias": "challenger"}
            """, to: "v2.json", in: s.dir)
        #expect(rummage("pipeline", "run", "--pipeline", config, "--quiet").code == 0)
        let registry = ModelRegistry(root: s.dir + "/registry")
        #expect(registry.aliases("mp") == ["champion": 1, "challenger": 2])
        let experiment = try Experiment(name: "exp1", split: "champion=50,challenger=50")
        let service = try RecommendationService(registry: registry, model: "mp", reference: "champion", logPath: s.dir + "/events.sqlite",
                                                experiment: experiment)
        let router = Router()
        ServingRoutes.install(service, on: router, clock: { 1_775_000_000 })
        var shown = 0
        for user in service.knownUsers.prefix(40) {
            let answer = try s.get(router, "/v1/users/\(user)/recommendations?k=5")
            let variant = experiment.variant(for: user)
            #expect(answer["variant"] as? String == variant && answer["experiment"] as? String == "exp1")
            #expect(answer["model_version"] as? Int == (variant == "champion" ? 1 : 2))
            #expect((answer["ranking_id"] as? String)?.isEmpty == false)
            shown += s.items(answer).count
        }
        let ready = try s.get(router, "/readyz")
        #expect((ready["variants"] as? [[String: Any]])?.compactMap { $0["alias"] as? String } == ["champion", "challenger"])
        service.flushImpressions()
        var impressions: [Event] = []
        try SQLiteEventLog(path: s.dir + "/events.sqlite").readAll(types: [.impression]) { impressions.append($0) }
        #expect(impressions.count == shown)
        for event in impressions {
            #expect(event.attributes["experiment"] == "exp1" && event.surface == "home")
            #expect(event.attributes["variant"] == experiment.variant(for: event.user?.value ?? ""))
            #expect(event.rankingID != nil && (0..<5).contains(event.position ?? -1))
        }
        let metrics = String(decoding: router.handle(HTTPRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
        #expect(metrics.contains("rummage_recs_answers_total{variant=\"challenger\",kind=\"personalised\"}"))
        #expect(metrics.contains("rummage_impressions_total{outcome=\"written\"} \(shown)"))
        let exposed = metrics.split(separator: "\n").filter { $0.hasPrefix("rummage_exposure_events_total{surface=\"home\"") }
            .compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
        #expect(exposed == shown)
    }

    /// An interleaving experiment on `home` between `home` (personalised) and `home-latest` (the newest
    /// listings): every answer merges both rankings, its listings' impressions name the surface that placed
    /// them, and the experiment report credits a list to the team whose listings were viewed.
    @Test func interleavedAnswersCreditEachListingToItsRanking() throws {
        let s = ServingTests()
        _ = try ServingTests.deployService(dir: s.dir)
        let experiment = try Experiment(name: "tdi", split: "home=50,home-latest=50", surface: "home", interleave: true)
        let latest = try Surface(name: "home-latest", definition: .init(retrieval: .latest))
        let service = try RecommendationService(registry: ModelRegistry(root: s.dir + "/registry"), model: "mp", reference: "champion",
                                                logPath: s.dir + "/events.sqlite", experiment: experiment, surfaces: [latest])
        var shown: [String: [String]] = [:]
        for user in service.knownUsers.prefix(30) {
            let answer = try service.recommend(surface: "home", SurfaceRequest(user: user, k: 6))
            #expect(answer.variant == "interleaved" && answer.experiment == "tdi" && answer.surface == "home")
            #expect(answer.items.count == 6 && Set(answer.items.map(\.item)).count == 6)
            shown[answer.rankingID] = answer.items.map(\.item)
        }
        service.flushImpressions()
        var events: [Event] = []
        try SQLiteEventLog(path: s.dir + "/events.sqlite").readAll { events.append($0) }
        let impressions = events.filter { $0.type == .impression }
        #expect(impressions.count == 30 * 6 && Set(impressions.compactMap { $0.attributes["team"] }) == ["home", "home-latest"])
        #expect(impressions.allSatisfy { $0.attributes["retrieval_score"] == nil && $0.attributes["variant"] == "interleaved" })
        // Each user views the listings `home-latest` placed: that team wins every list where it placed any.
        for impression in impressions where impression.attributes["team"] == "home-latest" {
            var view = Event(id: "v-" + impression.id, type: .view, timestamp: impression.timestamp + 5, user: impression.user, item: impression.item)
            view.rankingID = impression.rankingID
            events.append(view)
        }
        var options = ExperimentReport.Options(experiment: "tdi")
        options.control = "home"
        let report = try ExperimentReport.build(events: events, options: options)
        let interleaving = try #require(report.interleaving)
        #expect(interleaving.teams == ["home", "home-latest"] && interleaving.lists == 30 && interleaving.wins["home"] == 0)
        #expect(interleaving.wins["home-latest"] == 30 - interleaving.ties && interleaving.preference.value == 1, "\(interleaving)")
        #expect(report.verdict.hasPrefix("home-latest is preferred to home (interleaved)"), "\(report.verdict)")
    }
}
