import ArgumentParsing
import Foundation
import Registry
import RummageCore
import Serving

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
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .value("alias", "V", help: "Alias or version.", default: "champion"),
            .value("log", "PATH", help: "Event log (SQLite).", default: ".rummage/events.sqlite"),
            .value("users", "all|FILE", help: "'all' (every user the model knows) or a file with one user id per line.", default: "all"),
            .value("k", "N", help: "Recommendations per user.", default: "100"),
            .value("out", "FILE", help: "JSON-lines file to write.", required: true),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let registry: ModelRegistry
    let model: String
    let alias: String
    let log: String
    let users: String
    let k: Int
    let out: String
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        alias = try arguments.requiredString("alias")
        log = try arguments.requiredString("log")
        users = try arguments.requiredString("users")
        k = try arguments.requiredInt("k", in: 1...10_000)
        out = try arguments.requiredString("out")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let service = try RecommendationService(registry: registry, model: model, reference: alias, logPath: log)
        let list: [String]
        if users == "all" {
            list = service.knownUsers
        } else {
            list = try TextFile(path: users).bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
                .filter { !$0.isEmpty }
        }
        let clock = Stopwatch()
        var file = LineWriter(path: out)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var fallbacks = 0
        try service.batchRecommend(users: list, k: k) { result in
            if result.fallback { fallbacks += 1 }
            try file.write(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
        try file.flush()
        let elapsed = clock.elapsedSeconds
        console.result("wrote \(file.lines) users' top \(k) to \(out) in \(seconds(elapsed)) "
            + "(\(Int(Double(file.lines) / max(elapsed, 1e-9))) users/s; \(fallbacks) fallbacks)")
    }
}
