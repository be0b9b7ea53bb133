import Events
import Foundation
import HTTPServer
import Pipeline
import Registry
import RummageClient
import RummageCore
import RummageTestSupport
import Serving
import Testing
import Training

/// Issue [16/19], named surfaces: each retrieval, the exclusions, the older endpoints as the predefined
/// `home` and `similar`, explanations, errors, and impressions named by surface.
@Suite(.serialized) struct SurfaceTests {
    let s = ServingTests()

    func surface(_ name: String, _ definition: Surface.Definition) throws -> Surface { try Surface(name: name, definition: definition) }

    @Test func surfacesRetrieveExcludeExplainAndLogImpressions() throws {
        _ = try ServingTests.deployService(dir: s.dir)
        let surfaces = [
            try surface("new_in", .init(retrieval: .newIn, candidates: 50, newWithinHours: 24 * 14, logImpressions: true)),
            try surface("for_you", .init(retrieval: .personalised, candidates: 40, exclude: [.seen])),
            try surface("trending", .init(retrieval: .popular)),
            try surface("latest", .init(retrieval: .latest)),
            try surface("explore", .init(retrieval: .personalised, candidates: 40, logImpressions: true, explorationShare: 0.5,
                                         explorationTemperature: 0.05)),
            try surface("diverse", .init(retrieval: .personalised, candidates: 80, maxPerCategory: 2)),
            try surface("uniform", .init(retrieval: .personalised, candidates: 30, logImpressions: true, explorationShare: 1,
                                         explorationTemperature: 1_000_000)),
        ]
        let service = try RecommendationService(registry: ModelRegistry(root: s.dir + "/registry"), model: "mp", reference: "champion",
                                                logPath: s.dir + "/events.sqlite", surfaces: surfaces)
        let router = Router()
        ServingRoutes.install(service, on: router, clock: { 1_775_000_000 })
        var created: [String: Int64] = [:], latestEvent = Int64.min
        try SQLiteEventLog(path: s.dir + "/events.sqlite").readAll { event in
            latestEvent = max(latestEvent, event.timestamp)
            if event.type == .listingCreated, let item = event.item?.value { created[item] = event.timestamp }
        }
        let user = service.knownUsers[7]

        // The predefined surfaces answer as the older endpoints do, and explain each place.
        let home = try s.get(router, "/v1/surfaces/home/recommendations?user=\(user)&k=10&explain=true")
        #expect(s.items(home) == s.items(try s.get(router, "/v1/users/\(user)/recommendations?k=10")))
        let explanations = try #require(home["explanations"] as? [[String: Any]])
        #expect(explanations.map { $0["item"] as? String } == s.items(home).map(Optional.some))
        #expect(explanations.map { $0["retrieval_rank"] as? Int } == Array(0..<10).map(Optional.some))
        #expect(explanations.allSatisfy { $0["source"] as? String == "personalised" })
        let anchor = try #require(s.items(home).first)
        let similar = try s.get(router, "/v1/surfaces/similar/recommendations?item=\(anchor)&k=5")
        #expect(s.items(similar) == s.items(try s.get(router, "/v1/items/\(anchor)/similar?k=5")) && !s.items(similar).contains(anchor))
        #expect(similar["item"] as? String == anchor && similar["user"] == nil)

        // new-in: only listings created within the window before the latest event, ranked for the user.
        let cutoff = latestEvent + 1 - 24 * 14 * 3600
        let newIn = try s.get(router, "/v1/surfaces/new_in/recommendations?user=\(user)&k=20")
        #expect(s.items(newIn).count == 20 && newIn["fallback"] as? Bool == false)
        #expect(s.items(newIn).allSatisfy { (created[$0] ?? .min) >= cutoff })
        let scores = (newIn["items"] as? [[String: Any]] ?? []).compactMap { $0["score"] as? Double }
        #expect(scores == scores.sorted(by: >))
        // Anonymous: the newest first.
        let anonymous = s.items(try s.get(router, "/v1/surfaces/new_in/recommendations?k=10"))
        #expect(anonymous.count == 10 && anonymous.map { created[$0]! } == anonymous.map { created[$0]! }.sorted(by: >))
        let latest = s.items(try s.get(router, "/v1/surfaces/latest/recommendations?k=10"))
        #expect(latest.map { created[$0]! } == latest.map { created[$0]! }.sorted(by: >))
        #expect(s.items(try s.get(router, "/v1/surfaces/trending/recommendations?user=\(user)&k=10")).count == 10)

        // exclude: [seen]: a listing the user just viewed leaves their next answer.
        let before = s.items(try s.get(router, "/v1/surfaces/for_you/recommendations?user=\(user)&k=10"))
        let viewed = try #require(before.first)
        let view = #"{"event_id":"surface-view-1","type":"view","timestamp":\#(latestEvent + 5),"user":"\#(user)","item":"\#(viewed)"}"#
        #expect(s.send(router, "POST", "/v1/events", view).status == 200)
        let after = s.items(try s.get(router, "/v1/surfaces/for_you/recommendations?user=\(user)&k=10"))
        #expect(!after.contains(viewed) && after.count == 10)
        #expect(s.items(try s.get(router, "/v1/surfaces/home/recommendations?user=\(user)&k=10")).contains(viewed),
                "home does not exclude seen listings")

        // Errors: an unknown surface, a similar surface without its anchor, an unknown anchor.
        for (path, status, message) in [("/v1/surfaces/nowhere/recommendations?user=\(user)", 404, "surfaces: diverse, explore, for_you, home, latest, new_in"),
                                        ("/v1/surfaces/similar/recommendations?user=\(user)", 400, "give item=ID"),
                                        ("/v1/surfaces/similar/recommendations?item=no-such-listing", 404, "unknown item"),
                                        ("/v1/surfaces/home/recommendations?user=\(user)&explain=yes", 400, "explain")] {
            let response = router.handle(HTTPRequest(method: "GET", path: path))
            #expect(response.status == status && String(decoding: response.body, as: UTF8.self).contains(message), "\(path)")
        }

        // Diversity: at most two listings of a category among the ten (there are more categories than five).
        let categories = Dictionary(uniqueKeysWithValues: try String(contentsOfFile: s.dir + "/data/listings.csv", encoding: .utf8)
            .split(separator: "\n").dropFirst().map { line -> (String, String) in
                let f = line.split(separator: ",", omittingEmptySubsequences: false)
                return (String(f[0]), String(f[3]))
            })
        // Listings over the cap fill the answer only after every other candidate, marked as moved by the rule.
        let diverse = try s.get(router, "/v1/surfaces/diverse/recommendations?user=\(user)&k=10&explain=true")
        let moved = (diverse["explanations"] as? [[String: Any]] ?? []).map { ($0["rules"] as? [String]) == ["diversity"] }
        let withinCaps = zip(s.items(diverse), moved).filter { !$0.1 }.compactMap { categories[$0.0] }
        #expect(moved.count == 10 && moved == moved.sorted { !$0 && $1 }, "moved listings come last: \(moved)")
        #expect(Dictionary(withinCaps.map { ($0, 1) }, uniquingKeysWith: +).values.allSatisfy { $0 <= 2 }, "\(withinCaps)")
        let plain = s.items(try s.get(router, "/v1/surfaces/home/recommendations?user=\(user)&k=10"))
        let crowded = Dictionary(plain.compactMap { categories[$0] }.map { ($0, 1) }, uniquingKeysWith: +).values.contains { $0 > 2 }
        #expect(crowded == (s.items(diverse) != plain), "the caps change the answer exactly when a category was over them")

        // Exploration: the last half of the slots sampled from the other candidates, each with its probability.
        let explored = try s.get(router, "/v1/surfaces/explore/recommendations?user=\(user)&k=10&explain=true")
        let slots = try #require(explored["explanations"] as? [[String: Any]])
        let propensities = slots.compactMap { $0["propensity"] as? Double }
        #expect(propensities.count == 10 && propensities.prefix(5).allSatisfy { $0 == 1 } && propensities.suffix(5).allSatisfy { $0 < 1 })
        #expect(slots.prefix(5).compactMap { $0["retrieval_rank"] as? Int } == [0, 1, 2, 3, 4])

        // Only new_in and explore log impressions (no experiment runs), named by the surface; explore's carry their propensities.
        service.flushImpressions()
        var logged: [Event] = []
        try SQLiteEventLog(path: s.dir + "/events.sqlite").readAll(types: [.impression]) { logged.append($0) }
        let exploredImpressions = logged.filter { $0.surface == "explore" }.sorted { $0.position! < $1.position! }
        let loggedPropensities = exploredImpressions.compactMap { $0.attributes["propensity"].flatMap(Double.init) }
        #expect(loggedPropensities.count == 10 && zip(loggedPropensities, propensities).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(loggedPropensities.allSatisfy { $0 > 0 && $0 <= 1 } && exploredImpressions.map(\.position!) == Array(0..<10)
                && Set(exploredImpressions.map(\.rankingID)) == [explored["ranking_id"] as? String])
        #expect(exploredImpressions.allSatisfy { $0.attributes[LoggedCandidates.attribute] == nil }, "not fully explored: no candidates")
        let impressions = logged.filter { $0.surface != "explore" && $0.surface != "uniform" }
        #expect(impressions.count == 20)
        #expect(impressions.allSatisfy { $0.surface == "new_in" && $0.user?.value == user && $0.rankingID == newIn["ranking_id"] as? String })
        // Each carries the score retrieval gave it, what a learned ranker reads.
        let served = (newIn["items"] as? [[String: Any]] ?? []).compactMap { ($0["score"] as? Double).map(Float.init) }
        #expect(impressions.sorted { $0.position! < $1.position! }.compactMap { $0.attributes["retrieval_score"].flatMap(Float.init) } == served)

        // A fully explored list (every slot drawn, near uniformly) keeps its 30 candidates on its first impression:
        // off-policy evaluation reads it as one list of ten slots, each listing among the candidates.
        let uniform = try s.get(router, "/v1/surfaces/uniform/recommendations?user=\(user)&k=10")
        service.flushImpressions()
        logged = []
        try SQLiteEventLog(path: s.dir + "/events.sqlite").readAll { logged.append($0) }
        let drawn = logged.filter { $0.surface == "uniform" }.sorted { $0.position! < $1.position! }
        let candidates = try #require(drawn.first?.attributes[LoggedCandidates.attribute].flatMap(LoggedCandidates.decode))
        #expect(candidates.count == 30 && Set(s.items(uniform)).isSubset(of: candidates.map(\.item)))
        #expect(drawn.dropFirst().allSatisfy { $0.attributes[LoggedCandidates.attribute] == nil })
        #expect(drawn.enumerated().allSatisfy { j, e in abs(Double(e.attributes["propensity"]!)! * Double(30 - j) - 1) < 1e-4 })
        let lists = ExploredLists.build(events: logged, surface: "uniform")
        #expect(lists.lists.count == 1 && lists.skipped.isEmpty && lists.lists[0].slots.map { candidates[$0.candidate].item } == s.items(uniform))
        #expect(ExploredLists.build(events: logged, surface: "explore").lists.isEmpty)
    }

    /// A surface with a learned ranker: its candidates are ordered by the ranker's score (explained beside
    /// retrieval's), a missing or foreign ranker is refused at start, and a moved alias is followed.
    @Test func aRankerOrdersTheSurfacesCandidates() throws {
        _ = try ServingTests.deployService(dir: s.dir)
        let registry = ModelRegistry(root: s.dir + "/registry")
        func trainRanker(rounds: String) throws {
            // A ranker that learned that cheaper is better: it reorders any list that retrieval did not sort by price.
            _ = try RankerPipeline.run(events: Self.cheapestWins(), data: "test", logSequence: nil, surface: "home",
                                       registry: registry, model: "home-ranker", alias: "champion",
                                       settings: HyperParameters([("rounds", rounds), ("max_depth", "3")]), threads: 1, progress: { _ in })
        }
        try trainRanker(rounds: "20")
        let ranked = try surface("ranked", .init(retrieval: .personalised, candidates: 60, ranker: "home-ranker"))
        let service = try RecommendationService(registry: registry, model: "mp", reference: "champion", logPath: s.dir + "/events.sqlite",
                                                surfaces: [ranked])
        let router = Router()
        ServingRoutes.install(service, on: router, clock: { 1_775_000_000 })
        let user = service.knownUsers[11]
        let answer = try s.get(router, "/v1/surfaces/ranked/recommendations?user=\(user)&k=10&explain=true")
        let explanations = try #require(answer["explanations"] as? [[String: Any]])
        let rankerScores = explanations.compactMap { $0["ranker_score"] as? Double }
        #expect(rankerScores.count == 10 && rankerScores == rankerScores.sorted(by: >))
        #expect((answer["items"] as? [[String: Any]])?.compactMap { $0["score"] as? Double } == rankerScores)
        let ranks = explanations.compactMap { $0["retrieval_rank"] as? Int }
        #expect(ranks.count == 10 && Set(ranks).count == 10 && ranks.allSatisfy { $0 < 60 })
        #expect(ranks != Array(0..<10), "the ranker reorders retrieval's candidates")
        // The top ranker features: three per listing, by absolute contribution; price is what this ranker learned.
        let top = explanations.map { ($0["ranker_features"] as? [[String: Any]]) ?? [] }
        #expect(top.allSatisfy { $0.count == 3 } && top.allSatisfy { $0.first?["name"] as? String == "log_price" }, "\(top.first ?? [])")
        let contributions = top.map { $0.compactMap { ($0["contribution"] as? Double).map(abs) } }
        #expect(contributions.allSatisfy { $0 == $0.sorted(by: >) })
        let price = try #require(top.first?.first?["value"] as? Double)
        #expect(price > 0, "the feature's value in the row (log1p of the price)")

        // The alias moves to a new version: the next poll swaps it in; the version before keeps serving until then.
        try trainRanker(rounds: "20")
        #expect(registry.aliases("home-ranker")["champion"] == 2)
        #expect(service.refreshRankers().map { "\($0.surface) \($0.from)→\($0.to)" } == ["ranked 1→2"])
        #expect(service.refreshRankers().isEmpty)

        // A surface whose ranker is not a registered ranker is refused at start.
        let wrong = try surface("ranked", .init(retrieval: .personalised, ranker: "mp"))
        let error = #expect(throws: SurfaceError.self) {
            try RecommendationService(registry: registry, model: "mp", reference: "champion", logPath: s.dir + "/events.sqlite", surfaces: [wrong])
        }
        #expect(error?.message.contains("is not a ranker") == true, "\(error?.message ?? "")")
    }

    /// 300 lists of ten listings never shown before (so no listing has a history), priced at random; the
    /// user engages with the cheapest. Price is the only signal.
    static func cheapestWins() -> [Event] {
        var rng = SeededGenerator(seed: 5)
        var events: [Event] = []
        for k in 0..<300 {
            let t = Int64(1_000 + 10 * k), ranking = "r\(k)"
            let prices = (0..<10).map { _ in Double(2 + rng.nextInt(below: 300)) }
            for (p, price) in prices.enumerated() {
                let item = "l\(k)-\(p)"
                events.append(Event(id: "c\(item)", type: .listingCreated, timestamp: 0, user: "s", item: ItemID(item), price: price,
                                    attributes: ["category": "jeans"]))
                events.append(RankerTrainingSetTests.impression(ranking, p, user: "u\(k % 10)", item: item, at: t, score: rng.nextFloat()))
            }
            let cheapest = prices.indices.min { prices[$0] < prices[$1] }!
            events.append(RankerTrainingSetTests.engagement("e\(k)", .like, ranking: ranking, user: "u\(k % 10)", item: "l\(k)-\(cheapest)",
                                                            at: t + 5))
        }
        return events
    }

    /// Surfaces from the configuration file, served by a `rummage serve` process over a real socket: a pinned
    /// listing takes slot 1 and a buried category goes below the rest, each named in `explain=true`.
    @Test func surfacesFromTheConfigurationFileServeRulesOverASocket() throws {
        let service = try ServingTests.deployService(dir: s.dir)
        let user = service.knownUsers[5]
        // Retrieval's own order for the user: 40 candidates.
        let candidates = service.recommend(user: user, k: 40).items.map(\.item)
        #expect(candidates.count == 40)
        var categories: [String: String] = [:]
        try SQLiteEventLog(path: s.dir + "/events.sqlite").readAll { event in
            if event.type == .listingCreated, let item = event.item?.value { categories[item] = event.attributes["category"] }
        }
        let buried = try #require(categories[candidates[0]])
        let pinnedRank = try #require(candidates.indices.first { $0 >= 20 && categories[candidates[$0]] != buried })
        let pinned = candidates[pinnedRank]
        let config = Fixtures.write("""
            model: mp
            registry: \(s.dir)/registry
            log: \(s.dir)/events.sqlite
            surfaces:
              picks:
                retrieval: personalised
                candidates: 40
                rules: ["pin item=\(pinned) at 1", "bury category=\(buried)"]
            """, to: "rummage.yaml", in: s.dir)
        let server = try SecurityTests.Server(["--config", config], dir: s.dir)
        defer { server.stop() }
        let answer = try RummageClient(port: server.port).surface("picks", user: user, k: 10, explain: true)
        let items = answer.items.map(\.item), explanations = try #require(answer.explanations)
        #expect(items.count == 10 && items[0] == pinned && explanations[0].rules == ["pin item=\(pinned) at 1"])
        #expect(explanations[0].retrievalRank == pinnedRank)
        // After it, listings of the buried category come below all others, each explained.
        let rest = Array(explanations.dropFirst())
        let firstBuried = rest.firstIndex { categories[$0.item] == buried } ?? rest.count
        #expect(rest[firstBuried...].allSatisfy { categories[$0.item] == buried && $0.rules == ["bury category=\(buried)"] },
                "\(rest.map { "\(categories[$0.item] ?? "") \($0.rules ?? [])" })")
        #expect(rest[..<firstBuried].allSatisfy { $0.rules == nil } && firstBuried > 0)
        // The same surface in process gives the same answer: the rules are the configuration's.
        let inProcess = try RecommendationService(registry: ModelRegistry(root: s.dir + "/registry"), model: "mp", reference: "champion",
                                                  logPath: s.dir + "/events.sqlite", surfaces: [
                                                      try surface("picks", .init(retrieval: .personalised, candidates: 40,
                                                                                 rules: ["pin item=\(pinned) at 1", "bury category=\(buried)"]))])
        #expect(try inProcess.recommend(surface: "picks", SurfaceRequest(user: user, k: 10)).items.map(\.item) == items)
    }

    @Test func surfaceDefinitionsAreChecked() throws {
        for (name, definition, message) in [
            ("Home", Surface.Definition(retrieval: .personalised), "surface name 'Home'"),
            ("a", Surface.Definition(retrieval: .personalised, candidates: 0), "surfaces.a.candidates"),
            ("b", Surface.Definition(retrieval: .personalised, newWithinHours: 5), "goes with retrieval new-in"),
            ("c", Surface.Definition(retrieval: .personalised, explorationShare: 1.5), "surfaces.c.exploration_share"),
            ("d", Surface.Definition(retrieval: .personalised, explorationTemperature: 2), "goes with exploration_share"),
            ("e", Surface.Definition(retrieval: .personalised, maxPerSeller: 0), "surfaces.e.max_per_seller"),
            ("f", Surface.Definition(retrieval: .personalised, rules: ["boost brand=acme"]), "surfaces.f.rules: a rule is"),
            ("g", Surface.Definition(retrieval: .personalised, minNewShare: 0.5, maxNewShare: 0.2), "surfaces.g.min_new_share"),
            ("h", Surface.Definition(retrieval: .personalised, maxNewShare: 2), "surfaces.h.max_new_share must be in 0...1"),
        ] {
            let error = #expect(throws: SurfaceError.self) { try Surface(name: name, definition: definition) }
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        }
        let dir = Fixtures.temporaryDirectory("surfaces")
        let file = Fixtures.write("surfaces:\n  new_in:\n    retrieval: new-in\n    candidtes: 10\n", to: "surfaces.yaml", in: dir)
        let refused = rummage("serve", "--surfaces", file, "--log", dir + "/none.sqlite", "--create-log", "--registry", dir, "--model", "m")
        #expect(refused.code == 65 && refused.err.contains("candidtes") && refused.err.contains("candidates"), "\(refused.err)")
        let config = Fixtures.write("surfaces:\n  home:\n    retrieval: similar\n", to: "rummage.yaml", in: dir)
        let checked = rummage("config", "check", "--config", config)
        #expect(checked.code == 0 && checked.out.contains("surfaces: home"), "\(checked.err)")
    }
}
