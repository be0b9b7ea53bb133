import ArgumentParsing
import Backends
import BenchmarkHarness
import Datasets
import Dispatch
import Events
import Foundation
import HTTPServer
import Pipeline
import Registry
import RummageClient
import RummageCore
import Serving
import Simulation
import Synchronization
import Telemetry
import Training

/// `rummage bench serve`: the HTTP API under load from wrk, against nginx `return 200` as the ceiling,
/// and hot swaps under load.
struct BenchServeCommand: Command {
    static let configuration = CommandConfiguration(
        name: "bench serve",
        abstract: "Benchmark the serving API with wrk against nginx, and hot swaps under load.",
        discussion: """
        Prepares (once, kept in --dir) a synthetic marketplace with --listings listings, its event log, and
        two two-tower versions (--epochs epochs) registered by the pipeline, whose index step chooses the
        search width for recall@20 ≥ 0.95. Serves version 1 on a loopback port and drives
        GET /v1/users/{user}/recommendations?k=K with wrk (cycling through the model's users) for
        --duration seconds; then runs the same wrk load against nginx answering `return 200` on another
        loopback port, as the ceiling of what this machine's HTTP stack can do. Prints requests/s, p50 and
        p99 latency (wrk's), non-2xx answers and the ratio to nginx, and beside them the served index's
        search width and recall@20 against exact search (measured when the version loaded, over the listings
        it held then). Then a second wrk run of --swap-duration
        seconds during which the champion alias is moved between the two versions --hot-swaps times and the
        server told to reload (POST /v1/admin/reload); every answer must still be 2xx. Between the two, the
        cost of the per-request metrics: --metrics-rounds pairs of adjacent wrk runs against this server and
        a second one with per-request metrics off (which goes first alternates); the median of the pairs'
        on/off ratios is reported, so the VM's drift over time cancels within each pair. The measured
        server requires an API key (every wrk request carries it); the cost of authentication is measured
        the same way, with --auth-rounds pairs against a second server on the same service without keys.
        With --online-store redis://…, the same wrk load also runs against a second server on the same
        version whose listing states and features live in that Redis (rebuilt from the log first), as
        replicas run: the cost of the shared store, reported as a ratio to the in-memory server.

        The learned ranker (--ranker-rounds rounds, 0 skips): once, simulated users (`rummage simulate`'s,
        in process) act on `home` with its impressions logged, and a ranker is trained on them
        (`rummage ranker train`'s pipeline; registered as bench-ranker, its alias `bench` set whatever the
        gate said: this measures latency, not quality). A surface `home-ranked` retrieves --candidates
        listings, scores them with the ranker and serves k; `home-unranked` retrieves as many and serves the
        first k. On one server, rounds of adjacent wrk runs against both and against
        `GET /v1/users/{user}/recommendations?k=K` (retrieval of k) are medianed: requests/s, p99, and the
        ratios of requests/s within each round. Then the latency of the two surfaces without queueing in the
        server: one wrk run each with one connection per server thread.
        Needs wrk and nginx on PATH (Benchmarks/serve.sh installs them from Debian).
        """,
        options: [
            .value("listings", "N", help: "Listings generated (about 9 % end sold, so 110,000 leave 100,000 live in the index).", default: "110000"),
            .value("users", "N", help: "Users.", default: "20000"),
            .value("events", "N", help: "Interaction events to generate.", default: "600000"),
            .value("epochs", "N", help: "Training epochs of the two versions.", default: "8"),
            .value("dir", "DIR", help: "Where the catalog, log and registry are kept between runs.", default: ".rummage/bench-serve"),
            .value("k", "K", help: "Recommendations per request.", default: "20"),
            .value("duration", "SECONDS", help: "Length of each measured wrk run.", default: "15"),
            .value("connections", "N", help: "wrk connections (the same for nginx).", default: "8"),
            .value("wrk-threads", "N", help: "wrk threads.", default: "1"),
            .value("server-threads", "N", help: "HTTP worker threads of the Rummage server.", default: "2"),
            .value("hot-swaps", "N", help: "Hot swaps during the swap run (0 skips it).", default: "10"),
            .value("swap-duration", "SECONDS", help: "Length of the wrk run with hot swaps.", default: "30"),
            .value("metrics-rounds", "N", help: "Pairs of adjacent metrics-on/off wrk runs (0 skips the comparison).", default: "8"),
            .value("metrics-round-duration", "SECONDS", help: "Length of each of those runs (and of the auth runs).", default: "4"),
            .value("auth-rounds", "N", help: "Pairs of adjacent wrk runs with API keys on and off (0 skips the comparison).", default: "8"),
            .value("ranker-rounds", "N", help: "Rounds of adjacent wrk runs: retrieval → ranker, the same retrieval alone, retrieval of k (0 skips them).", default: "6"),
            .value("candidates", "N", help: "Candidates the ranked surface retrieves and scores.", default: "300"),
            OnlineStore.option,
            .flag("json", help: "Also print the figures as one JSON line."),
        ])

    let listings: Int, users: Int, events: Int, epochs: Int, k: Int, duration: Int, connections: Int, wrkThreads: Int, serverThreads: Int
    let hotSwaps: Int, swapDuration: Int, metricsRounds: Int, metricsRoundDuration: Int, authRounds: Int, rankerRounds: Int, candidates: Int
    let dir: String
    let json: Bool
    let onlineStore: OnlineStore?

    init(_ arguments: ParsedArguments) throws {
        listings = try arguments.requiredInt("listings", in: 1_000...10_000_000)
        users = try arguments.requiredInt("users", in: 100...10_000_000)
        events = try arguments.requiredInt("events", in: 10_000...100_000_000)
        epochs = try arguments.requiredInt("epochs", in: 1...1_000)
        dir = try arguments.requiredString("dir")
        k = try arguments.requiredInt("k", in: 1...1_000)
        duration = try arguments.requiredInt("duration", in: 1...3_600)
        connections = try arguments.requiredInt("connections", in: 1...10_000)
        wrkThreads = try arguments.requiredInt("wrk-threads", in: 1...256)
        serverThreads = try arguments.requiredInt("server-threads", in: 1...256)
        hotSwaps = try arguments.requiredInt("hot-swaps", in: 0...1_000)
        swapDuration = try arguments.requiredInt("swap-duration", in: 1...3_600)
        metricsRounds = try arguments.requiredInt("metrics-rounds", in: 0...100)
        metricsRoundDuration = try arguments.requiredInt("metrics-round-duration", in: 1...3_600)
        authRounds = try arguments.requiredInt("auth-rounds", in: 0...100)
        rankerRounds = try arguments.requiredInt("ranker-rounds", in: 0...100)
        candidates = try arguments.requiredInt("candidates", in: 1...10_000)
        json = arguments.flag("json")
        onlineStore = try OnlineStore.from(arguments)
    }

    static let model = "bench-serve"

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        for tool in ["wrk", "nginx"] where Wrk.which(tool) == nil {
            throw UsageError("\(tool) is not on PATH: install it (apt-get install wrk nginx-light), or run Benchmarks/serve.sh")
        }
        try prepare(console)
        let registry = ModelRegistry(root: dir + "/registry")
        try registry.setAlias(Self.model, "champion", to: 1)
        let loading = Stopwatch()
        let service = try RecommendationService(registry: registry, model: Self.model, reference: "champion",
                                                log: try openEventLog(dir + "/events.sqlite"), loadModel: ModelCatalog.loadForServing)
        let token = AccessPolicy.generateKey()
        let access = AccessPolicy(keys: [try AccessPolicy.key(name: "bench", scopes: [.recommend, .events, .admin], key: token)])
        let server = try ServerApplication(service: service, options: serverOptions(access: access))
        defer { server.stop() }
        let indexed = service.status.indexed
        console.progress("bench serve: v1 loaded in \(formattedSeconds(loading.elapsedSeconds)), \(indexed) listings indexed, port \(server.port)")

        let script = dir + "/recommendations.lua"
        try TextFile.write(Array(Wrk.recommendationsScript(users: service.knownUsers, k: k, bearer: token).utf8), to: script)
        let wrkArguments = ["-t\(wrkThreads)", "-c\(connections)", "--latency"]
        console.result("$ rummage bench serve --listings \(listings) --users \(users) --events \(events) --epochs \(epochs) --k \(k) --duration \(duration) "
            + "--connections \(connections) --wrk-threads \(wrkThreads) --server-threads \(serverThreads) --hot-swaps \(hotSwaps) "
            + "--swap-duration \(swapDuration) --metrics-rounds \(metricsRounds) --metrics-round-duration \(metricsRoundDuration) --auth-rounds \(authRounds) --ranker-rounds \(rankerRounds) --candidates \(candidates)"
            + (onlineStore.map { " --online-store \($0.states.redis.url)" } ?? ""))
        console.result("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; catalog \(indexed) listings indexed, "
            + "\(service.knownUsers.count) users; wrk \(wrkArguments.joined(separator: " ")) -d\(duration)s")

        // Warm up, then measure Rummage and nginx with the same wrk load.
        _ = try Wrk.run(wrkArguments + ["-d2s", "-s", script, "http://127.0.0.1:\(server.port)/"])
        let ours = try Wrk.run(wrkArguments + ["-d\(duration)s", "-s", script, "http://127.0.0.1:\(server.port)/"])
        service.waitForLoadMeasurements()
        let served = service.servedIndexes.first { $0.alias == "champion" }
        let recallText = served.map { s in
            "served recall@20 \(s.loadedRecall.map { String(format: "%.4f", $0) } ?? "unmeasured") at search width \(s.searchWidth)"
        } ?? ""
        console.result("  rummage  GET recommendations k=\(k): \(ours.summary); \(recallText)")
        var sharedFigures: [String: Any] = [:]
        if let onlineStore {
            let shared = try sharedStoreRun(onlineStore, registry: registry, access: access, script: script, wrkArguments: wrkArguments)
            let ratio = shared.requestsPerSecond / ours.requestsPerSecond
            console.result("  rummage  + Redis online store:       \(shared.summary); \(String(format: "%.3f", ratio)) × the in-memory requests/s")
            sharedFigures = ["redis_rps": shared.requestsPerSecond, "redis_p50_ms": shared.p50Milliseconds, "redis_p99_ms": shared.p99Milliseconds,
                             "redis_non_2xx": shared.non2xx, "redis_to_memory_ratio": ratio]
        }
        let nginx = try NginxCeiling(directory: dir + "/nginx")
        defer { nginx.stop() }
        _ = try Wrk.run(wrkArguments + ["-d2s", "http://127.0.0.1:\(nginx.port)/"])
        let ceiling = try Wrk.run(wrkArguments + ["-d\(duration)s", "http://127.0.0.1:\(nginx.port)/"])
        nginx.stop()
        console.result("  nginx    return 200:                \(ceiling.summary)")
        let ratio = ours.requestsPerSecond / ceiling.requestsPerSecond
        console.result("  ratio: rummage serves \(String(format: "%.1f", 100 * ratio)) % of nginx's requests/s; "
            + "p99 \(String(format: "%.2f", ours.p99Milliseconds)) ms (bar: >= 10 %, <= 5 ms)")

        var metricsFigures: [String: Any] = [:]
        if metricsRounds > 0 {
            let bare = try RecommendationService(registry: registry, model: Self.model, reference: "champion",
                                                 log: try openEventLog(dir + "/events.sqlite"), loadModel: ModelCatalog.loadForServing,
                                                 measuresRequests: false)
            let cost = try pairedRates(measuredPort: server.port, against: bare, access: access, rounds: metricsRounds, script: script,
                                       wrkArguments: wrkArguments)
            console.result("  metrics cost: per-request metrics on \(Int(cost.on)) req/s, off \(Int(cost.off)) req/s (medians of "
                + "\(metricsRounds) pairs of adjacent \(metricsRoundDuration) s runs); median on/off of the pairs "
                + "\(String(format: "%.3f", cost.ratio)), pairs from \(String(format: "%.3f", cost.ratios.first!)) to "
                + "\(String(format: "%.3f", cost.ratios.last!)) (bar: >= 0.95)")
            metricsFigures = ["metrics_on_rps": cost.on, "metrics_off_rps": cost.off, "metrics_on_off_ratio": cost.ratio]
        }
        if authRounds > 0 {
            let cost = try pairedRates(measuredPort: server.port, against: service, access: .open, rounds: authRounds, script: script,
                                       wrkArguments: wrkArguments)
            console.result("  authentication cost: API key required \(Int(cost.on)) req/s, no keys \(Int(cost.off)) req/s (medians of "
                + "\(authRounds) pairs of adjacent \(metricsRoundDuration) s runs); median on/off of the pairs "
                + "\(String(format: "%.3f", cost.ratio)), pairs from \(String(format: "%.3f", cost.ratios.first!)) to "
                + "\(String(format: "%.3f", cost.ratios.last!)) (bar: >= 0.97)")
            metricsFigures.merge(["auth_on_rps": cost.on, "auth_off_rps": cost.off, "auth_on_off_ratio": cost.ratio]) { a, _ in a }
        }
        if rankerRounds > 0 {
            metricsFigures.merge(try rankerRun(registry: registry, access: access, token: token, wrkArguments: wrkArguments, console: console)) { a, _ in a }
        }
        var swapFigures: [String: Any] = [:]
        if hotSwaps > 0 {
            let swaps = try swapRun(service: service, registry: registry, port: server.port, token: token, script: script,
                                    wrkArguments: wrkArguments, console: console)
            swapFigures = ["hot_swaps": swaps.swapped, "swap_requests": swaps.load.requests, "swap_non_2xx": swaps.load.non2xx,
                           "swap_socket_errors": swaps.load.socketErrors, "swap_p99_ms": swaps.load.p99Milliseconds]
        }
        if json {
            var figures: [String: Any] = ["listings_indexed": indexed, "k": k, "connections": connections, "duration_s": duration,
                                          "rps": ours.requestsPerSecond, "p50_ms": ours.p50Milliseconds, "p99_ms": ours.p99Milliseconds,
                                          "non_2xx": ours.non2xx, "nginx_rps": ceiling.requestsPerSecond, "ratio_to_nginx": ratio,
                                          "search_width": served?.searchWidth ?? 0, "served_recall": served?.loadedRecall ?? 0]
            figures.merge(swapFigures) { a, _ in a }
            figures.merge(metricsFigures) { a, _ in a }
            figures.merge(sharedFigures) { a, _ in a }
            console.result(try jsonObjectLine(figures))
        }
    }

    /// The wrk load against a server on the same version whose listing states and features are in `store`
    /// (rebuilt from the log first), as a replica runs.
    private func sharedStoreRun(_ store: OnlineStore, registry: ModelRegistry, access: AccessPolicy, script: String, wrkArguments: [String]) throws
        -> WrkResult {
        let log = try openEventLog(dir + "/events.sqlite")
        try store.states.rebuild(from: log)
        try store.features.rebuild(from: log)
        let service = try RecommendationService(registry: registry, model: Self.model, reference: "champion", log: log,
                                                loadModel: ModelCatalog.loadForServing, listingStates: store.states, featureStore: store.features)
        let server = try warmServer(service, access: access, script: script, wrkArguments: wrkArguments)
        defer { server.stop() }
        return try Wrk.run(wrkArguments + ["-d\(duration)s", "-s", script, "http://127.0.0.1:\(server.port)/"])
    }

    /// A second server on loopback for `service`, warmed up by a 2 s wrk run.
    private func warmServer(_ service: RecommendationService, access: AccessPolicy, script: String, wrkArguments: [String]) throws
        -> ServerApplication {
        let server = try ServerApplication(service: service, options: serverOptions(access: access))
        _ = try Wrk.run(wrkArguments + ["-d2s", "-s", script, "http://127.0.0.1:\(server.port)/"])
        return server
    }

    /// Every measured server: `serverThreads` workers, no alias polling (swaps are triggered by reload).
    private func serverOptions(access: AccessPolicy) -> ServerApplication.Options {
        var options = ServerApplication.Options()
        options.http.threads = serverThreads
        options.access = access
        options.audit = AuditLog(logger: JSONLogger(minimumLevel: .error))
        return options
    }

    /// Median requests/s of `rounds` wrk runs against the measured server and as many against a second
    /// server for `other` with `access`, alternating which goes first; and the median of the pairs' ratios.
    private func pairedRates(measuredPort: UInt16, against other: RecommendationService, access: AccessPolicy, rounds: Int, script: String,
                             wrkArguments: [String]) throws -> (on: Double, off: Double, ratio: Double, ratios: [Double]) {
        let server = try warmServer(other, access: access, script: script, wrkArguments: wrkArguments)
        defer { server.stop() }
        var on: [Double] = [], off: [Double] = []
        func measure(_ port: UInt16) throws -> Double {
            try Wrk.run(wrkArguments + ["-d\(metricsRoundDuration)s", "-s", script, "http://127.0.0.1:\(port)/"]).requestsPerSecond
        }
        for round in 0..<rounds {
            if round % 2 == 0 {
                on.append(try measure(measuredPort))
                off.append(try measure(server.port))
            } else {
                off.append(try measure(server.port))
                on.append(try measure(measuredPort))
            }
        }
        let ratios = zip(on, off).map { $0 / $1 }.sorted()
        return (on.sorted()[on.count / 2], off.sorted()[off.count / 2], ratios[ratios.count / 2], ratios)
    }

    /// A wrk run of --swap-duration seconds while the champion alias moves between v1 and v2 `hotSwaps`
    /// times, evenly spaced, each followed by `POST /v1/admin/reload`.
    private func swapRun(service: RecommendationService, registry: ModelRegistry, port: UInt16, token: String, script: String,
                         wrkArguments: [String], console: Console) throws -> (swapped: Int, load: WrkResult) {
        let admin = RummageClient(port: port, timeout: 60, apiKey: token)
        let interval = Double(swapDuration) / Double(hotSwaps + 1)
        let swapped = Mutex(0), failures = Mutex<[String]>([])
        let swapper = DispatchGroup()
        DispatchQueue.global().async(group: swapper) {
            for swap in 1...hotSwaps {
                Thread.sleep(forTimeInterval: interval)
                let target = swap % 2 == 1 ? 2 : 1
                do {
                    try registry.setAlias(Self.model, "champion", to: target)
                    let moved = try admin.reload(alias: "champion")
                    if moved.to == target { swapped.withLock { $0 += 1 } } else { failures.withLock { $0.append("swap \(swap): \(moved)") } }
                } catch {
                    failures.withLock { $0.append("swap \(swap): \(error)") }
                }
            }
        }
        let load = try Wrk.run(wrkArguments + ["-d\(swapDuration)s", "-s", script, "http://127.0.0.1:\(port)/"])
        swapper.wait()
        try registry.setAlias(Self.model, "champion", to: 1)
        let count = swapped.withLock { $0 }
        console.result("  hot swaps: \(count) of \(hotSwaps) (v1 ⇄ v2) during a \(swapDuration) s wrk run: \(load.summary); "
            + "now serving v\(service.modelVersion)")
        for failure in failures.withLock({ $0 }) { console.result("    failed: \(failure)") }
        return (count, load)
    }

    static let rankerModel = "bench-ranker"

    /// Retrieval of --candidates → the learned ranker → k, against retrieval of k alone, in adjacent pairs
    /// of wrk runs on one server (`home-ranked` and the `home` endpoint).
    private func rankerRun(registry: ModelRegistry, access: AccessPolicy, token: String, wrkArguments: [String],
                           console: Console) throws -> [String: Any] {
        try prepareRanker(registry: registry, access: access, token: token, console: console)
        let ranked = try Surface(name: "home-ranked", definition: .init(retrieval: .personalised, candidates: candidates,
                                                                      ranker: Self.rankerModel, rankerVersion: "bench"))
        let unranked = try Surface(name: "home-unranked", definition: .init(retrieval: .personalised, candidates: candidates))
        let service = try RecommendationService(registry: registry, model: Self.model, reference: "champion",
                                                log: try openEventLog(dir + "/events.sqlite"), loadModel: ModelCatalog.loadForServing,
                                                surfaces: [ranked, unranked])
        defer { service.waitForLoadMeasurements() }
        // Three loads on one server: retrieval of k, of --candidates then the first k, of --candidates then the ranker.
        var scripts = [dir + "/recommendations.lua"]
        for surface in [unranked, ranked] {
            scripts.append(dir + "/\(surface.name).lua")
            try TextFile.write(Array(Wrk.recommendationsScript(users: service.knownUsers, k: k, bearer: token, surface: surface.name).utf8),
                               to: scripts.last!)
        }
        let server = try warmServer(service, access: access, script: scripts[2], wrkArguments: wrkArguments)
        defer { server.stop() }
        for script in scripts.prefix(2) { _ = try Wrk.run(wrkArguments + ["-d2s", "-s", script, "http://127.0.0.1:\(server.port)/"]) }
        var runs: [[WrkResult]] = [[], [], []]
        for round in 0..<rankerRounds {
            // Each round in another order, so drift over time cancels.
            for load in round % 2 == 0 ? [0, 1, 2] : [2, 1, 0] {
                runs[load].append(try Wrk.run(wrkArguments + ["-d\(metricsRoundDuration)s", "-s", scripts[load], "http://127.0.0.1:\(server.port)/"]))
            }
        }
        // Latency without queueing in the server: one connection per server thread.
        let unqueued = try [1, 2].map { load in
            try Wrk.run(["-t1", "-c\(serverThreads)", "--latency", "-d\(metricsRoundDuration)s", "-s", scripts[load], "http://127.0.0.1:\(server.port)/"])
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let rates = runs.map { median($0.map(\.requestsPerSecond)) }, p99s = runs.map { median($0.map(\.p99Milliseconds)) }
        func ratio(_ a: Int, _ b: Int) -> Double { median(zip(runs[a], runs[b]).map { $0.requestsPerSecond / $1.requestsPerSecond }) }
        let worst = runs[2].map(\.p99Milliseconds).max()!, failures = runs[2].map(\.non2xx).reduce(0, +)
        let f = { (value: Double) in String(format: "%.2f", value) }
        console.result("  learned ranker (medians of \(rankerRounds) rounds of adjacent \(metricsRoundDuration) s runs):")
        console.result("    retrieval \(candidates) → ranker → \(k): \(Int(rates[2])) req/s, p99 \(f(p99s[2])) ms (worst run \(f(worst)) ms), "
                       + "\(failures) non-2xx (bar: p99 <= 5 ms)")
        console.result("    retrieval \(candidates) → \(k), no ranker: \(Int(rates[1])) req/s, p99 \(f(p99s[1])) ms; with the ranker "
                       + String(format: "%.3f", ratio(2, 1)) + " of it (bar: >= 0.60)")
        console.result("    retrieval \(k) (GET /v1/users/{user}/recommendations): \(Int(rates[0])) req/s, p99 \(f(p99s[0])) ms; "
                       + "with the ranker " + String(format: "%.3f", ratio(2, 0)) + " of it")
        console.result("    one wrk connection per server thread (\(serverThreads), no queueing), \(metricsRoundDuration) s: with the ranker "
                       + "p50 \(f(unqueued[1].p50Milliseconds)) ms, p99 \(f(unqueued[1].p99Milliseconds)) ms (\(Int(unqueued[1].requestsPerSecond)) req/s); "
                       + "without p50 \(f(unqueued[0].p50Milliseconds)) ms, p99 \(f(unqueued[0].p99Milliseconds)) ms")
        return ["ranker_rps": rates[2], "ranker_p99_ms": p99s[2], "ranker_worst_p99_ms": worst, "ranker_non_2xx": failures,
                "unranked_rps": rates[1], "unranked_p99_ms": p99s[1], "retrieval_k_rps": rates[0],
                "ranker_to_unranked_ratio": ratio(2, 1), "ranker_to_retrieval_k_ratio": ratio(2, 0), "ranker_candidates": candidates,
                "ranker_unqueued_p50_ms": unqueued[1].p50Milliseconds, "ranker_unqueued_p99_ms": unqueued[1].p99Milliseconds,
                "unranked_unqueued_p99_ms": unqueued[0].p99Milliseconds]
    }

    /// Once per --dir: simulated users act on `home` (impressions logged, 10 % explored) through a server
    /// in this process, on a copy of the log, then a ranker is trained on that log and its alias `bench` set.
    private func prepareRanker(registry: ModelRegistry, access: AccessPolicy, token: String, console: Console) throws {
        if registry.aliases(Self.rankerModel)["bench"] != nil { return }
        let clock = Stopwatch()
        let home = try Surface(name: "home", definition: .init(retrieval: .personalised, candidates: candidates, logImpressions: true,
                                                            explorationShare: 0.1))
        // On a copy of the log, so the measured catalogue keeps its listings (simulated users buy some).
        let copy = dir + "/ranker-events.sqlite"
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: copy + suffix)
            if FileManager.default.fileExists(atPath: dir + "/events.sqlite" + suffix) {
                try FileManager.default.copyItem(atPath: dir + "/events.sqlite" + suffix, toPath: copy + suffix)
            }
        }
        let log = try openEventLog(copy)
        let service = try RecommendationService(registry: registry, model: Self.model, reference: "champion", log: log,
                                                loadModel: ModelCatalog.loadForServing, surfaces: [home])
        defer { service.waitForLoadMeasurements() }
        let server = try ServerApplication(service: service, options: serverOptions(access: access))
        var settings = TrafficSimulator.Configuration()
        (settings.users, settings.sessions, settings.k, settings.newListingEvery) = (4_000, 2, k, 0)
        settings.runID = "bench-ranker-" + UUID().uuidString.prefix(8).lowercased()
        let marketplace = MarketplaceGenerator(.init(users: users, listings: listings, events: events, seed: 11)).generate()
        let report = try TrafficSimulator(marketplace: marketplace, configuration: settings)
            .run(RummageClient(port: server.port, timeout: 60, apiKey: token))
        service.flushImpressions()
        server.stop()
        console.progress("bench serve: \(report.sessions) simulated sessions on home in \(formattedSeconds(report.seconds))")
        var all: [Event] = []
        try log.readAll { all.append($0) }
        let trained = try RankerPipeline.run(events: all, data: "bench serve", logSequence: nil, surface: "home", registry: registry,
                                             model: Self.rankerModel, alias: "champion", settings: HyperParameters([]), threads: 2,
                                             progress: { console.progress($0) })
        try registry.setAlias(Self.rankerModel, "bench", to: trained.manifest.version)
        console.progress("bench serve: ranker v\(trained.manifest.version) (\(trained.gate.blessed ? "blessed" : "not blessed")) ready in "
                         + formattedSeconds(clock.elapsedSeconds))
    }

    /// Generates the marketplace, ingests its events and registers two versions, unless --dir has them.
    private func prepare(_ console: Console) throws {
        let registry = ModelRegistry(root: dir + "/registry")
        let marker = dir + "/prepared-\(listings)-\(users)-\(events)-\(epochs)-calibrated"
        if FileManager.default.fileExists(atPath: marker), registry.versions(Self.model).count >= 2 { return }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let clock = Stopwatch()
        let data = dir + "/data"
        console.progress("bench serve: generating \(listings) listings, \(users) users, \(events) events")
        try MarketplaceGenerator(.init(users: users, listings: listings, events: events, seed: 11)).generate().write(to: data)
        let ingestor = try EventIngestor(log: try SQLiteEventLog(path: dir + "/events.sqlite"))
        var batch: [Event] = []
        func flush() throws {
            _ = try ingestor.ingest(batch)
            batch.removeAll(keepingCapacity: true)
        }
        try MarketplaceEvents.forEach(try MarketplaceData.load(directory: data)) { event in
            batch.append(event)
            if batch.count == 10_000 { try flush() }
        }
        try flush()
        for (seed, alias) in [(UInt64(1), "champion"), (2, "standby")] {
            let config = PipelineConfig(
                model: Self.model, registry: dir + "/registry", data: .init(dataset: "synthetic:" + data),
                train: .init(kind: "two-tower", settings: ["content": "true", "id_dropout": "0.5", "epochs": String(epochs)], seed: seed, threads: 2),
                gate: GatePolicy(), alias: alias)
            _ = try Pipeline(config: config, progress: { console.progress($0) }).run()
        }
        try TextFile.write(Array("prepared in \(formattedSeconds(clock.elapsedSeconds))\n".utf8), to: marker)
        console.progress("bench serve: prepared in \(formattedSeconds(clock.elapsedSeconds))")
    }
}

extension BenchmarkError: UserFacingError {}
