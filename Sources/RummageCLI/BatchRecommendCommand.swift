import ArgumentParsing
import Backends
import Foundation
import Pipeline
import Registry
import RummageAPI
import RummageCore
import Serving
import Storage

/// `rummage batch-recommend`: recommendations for many users into a JSON-lines file.
struct BatchRecommendCommand: Command {
    static let configuration = CommandConfiguration(
        name: "batch-recommend",
        abstract: "Write top-k recommendations for many users (JSON lines), with the serving filters.",
        discussion: """
        Loads the version the alias points at and the event log as `rummage serve` does, scores every live
        listing for blocks of users with one sgemm each (exact, not the ANN index), drops listings that are
        not active, the user's own and those they bought, and writes one JSON object per user:
        {"user", "model_version", "items": [{"item", "score"}], "fallback"}. Reports users per second.
        With --to, the lists also go to a store other services read and `rummage serve --precomputed`
        falls back on: a SQLite file (embedded) or redis://HOST:PORT[/DB] (key rummage:recs:MODEL:USER),
        each list readable for --ttl seconds. Large user bases split into --shard I/N runs (users by hash),
        one per machine. --method ann answers each user through the serving path instead (the HNSW index
        and the same checks as GET /v1/users/{user}/recommendations), on every core: approximate, and
        far faster on a large catalogue (docs/scaling.md).
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .value("version", "REF", help: "Version number or alias.", default: "champion"),
            .value("log", "PATH", help: "Event log: a SQLite file or a postgresql:// URI.", default: ".rummage/events.sqlite"),
            .value("users", "all|FILE", help: "'all' (every user the model knows) or a file with one user id per line.", default: "all"),
            .value("k", "N", help: "Recommendations per user.", default: "100"),
            .value("out", "FILE", help: "JSON-lines file to write."),
            .value("to", "STORE", help: "Also store the lists: a SQLite file or redis://HOST:PORT[/DB]."),
            .value("ttl", "SECONDS", help: "With --to: how long each list stays readable.", default: "172800"),
            .value("shard", "I/N", help: "Only the users whose id hashes to shard I of N (0-based).", default: "0/1"),
            .value("method", "exact|ann", help: "exact: every live listing scored by sgemm; ann: the serving path (HNSW index, checks), in parallel.", default: "exact"),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let registry: ModelRegistry
    let model: String
    let alias: String
    let log: String
    let users: String
    let k: Int
    let out: String?
    let store: (any PrecomputedRecommendationStore)?
    let storeLocation: String?
    let shard: (index: Int, count: Int)
    let approximate: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        alias = try arguments.requiredString("version")
        log = try arguments.requiredString("log")
        guard eventLogExists(log) else { throw DataError(.fileNotFound, "no such event log", path: log) }
        users = try arguments.requiredString("users")
        k = try arguments.requiredInt("k", in: 1...10_000)
        out = arguments.string("out")
        storeLocation = arguments.string("to")
        let ttl = try arguments.requiredInt("ttl", in: 1...(86_400 * 365))
        let name = model
        do { store = try arguments.string("to").map { to throws(StorageError) in try openPrecomputedRecommendations(to, model: name, ttl: ttl) } } catch {
            throw UsageError("--to: \(error.message)")
        }
        guard out != nil || store != nil else { throw UsageError("give --out FILE, --to STORE, or both") }
        shard = try parseShard(try arguments.requiredString("shard"))
        switch try arguments.requiredString("method") {
        case "exact": approximate = false
        case "ann": approximate = true
        case let other: throw UsageError("--method takes exact or ann, not '\(other)'")
        }
        quiet = arguments.flag("quiet")
    }

    /// The shard of a user id: FNV-1a of its UTF-8 bytes, modulo `count` (the same on every machine).
    static func shard(of user: String, count: Int) -> Int {
        Int(FNV1a.hash(user) % UInt64(count))
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let service = try RecommendationService(registry: registry, model: model, reference: alias, log: try openEventLog(log),
                                                loadModel: ModelCatalog.loadForServing)
        let list: [String]
        if users == "all" {
            list = service.knownUsers
        } else {
            list = try TextFile(path: users).bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
                .filter { !$0.isEmpty }
        }
        let selected = shard.count == 1 ? list : list.filter { Self.shard(of: $0, count: shard.count) == shard.index }
        let clock = Stopwatch()
        var file = out.map { LineWriter(path: $0) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var fallbacks = 0, written = 0, pending: [Recommendations] = []
        func take(_ result: Recommendations) throws {
            if result.fallback { fallbacks += 1 }
            written += 1
            try file?.write(String(decoding: try encoder.encode(result), as: UTF8.self))
            if let store {
                pending.append(result)
                if pending.count >= 1_000 { try store.store(pending); pending.removeAll(keepingCapacity: true) }
            }
        }
        if approximate {
            let (users, k) = (selected, self.k)
            for start in stride(from: 0, to: users.count, by: 4_096) {
                let block = Array(users[start..<min(users.count, start + 4_096)])
                let answers = Parallel.mapChunks(count: block.count, chunkSize: 64, threads: Parallel.defaultThreadCount) { range in
                    range.map { service.recommend(user: block[$0], k: k) }
                }
                for answer in answers.joined() { try take(answer) }
            }
        } else {
            try service.batchRecommend(users: selected, k: k) { try take($0) }
        }
        try store?.store(pending)
        try file?.flush()
        let elapsed = clock.elapsedSeconds
        let targets = [out, storeLocation].compactMap { $0 }.joined(separator: " and ")
        console.result("wrote \(written) users' top \(k) to \(targets) in \(formattedSeconds(elapsed)) "
            + "(\(Int(Double(written) / max(elapsed, 1e-9))) users/s; \(fallbacks) fallbacks; shard \(shard.index)/\(shard.count); "
            + "\(approximate ? "ann" : "exact"))")
    }
}
