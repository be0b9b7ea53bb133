import ArgumentParsing
import Foundation
import Registry
import RummageCore
import Training

/// `rummage batch-embed`: a registered version's user (or listing) embeddings as JSON lines.
struct BatchEmbedCommand: Command {
    static let configuration = CommandConfiguration(
        name: "batch-embed",
        abstract: "Write the user or listing embeddings of a registered version as JSON lines, for batch work elsewhere.",
        discussion: """
        Reads the version's stored embeddings (the vectors serving uses: users' query vectors, or listings'
        vectors) and writes one JSON object per id: {"user" (or "item"), "model_version", "embedding"}.
        Large user bases split into --shard I/N runs (ids by hash, as batch-recommend), e.g. one per Spark
        partition (python -m rummage.spark embed). Ids in a --users file that the version does not know are
        skipped and counted.
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .value("version", "REF", help: "Version number or alias.", default: "champion"),
            .flag("items", help: "Listings' embeddings instead of users'."),
            .value("users", "all|FILE", help: "'all' (every id the version holds) or a file with one id per line.", default: "all"),
            .value("shard", "I/N", help: "Only the ids that hash to shard I of N (0-based).", default: "0/1"),
            .value("out", "FILE", help: "JSON-lines file to write.", required: true),
            .flag("quiet", help: "No summary on stderr."),
        ])

    let registry: ModelRegistry
    let model: String, alias: String, users: String, out: String
    let items: Bool, quiet: Bool
    let shard: (index: Int, count: Int)

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        alias = try arguments.requiredString("version")
        items = arguments.flag("items")
        users = try arguments.requiredString("users")
        out = try arguments.requiredString("out")
        quiet = arguments.flag("quiet")
        shard = try parseShard(try arguments.requiredString("shard"))
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let clock = Stopwatch()
        let version = try registry.resolve(model, alias)
        let file = ServingBundle.File.self
        let set = try EmbeddingSet.load(from: registry.versionDirectory(model, version) + "/" + (items ? file.itemEmbeddings : file.userEmbeddings).rawValue)
        var rows = Array(0..<set.ids.count), unknown = 0
        if users != "all" {
            let position = Dictionary(set.ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            let wanted = try TextFile(path: users).bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }.filter { !$0.isEmpty }
            rows = wanted.compactMap { position[$0] }
            unknown = wanted.count - rows.count
        }
        if shard.count > 1 { rows = rows.filter { BatchRecommendCommand.shard(of: set.ids[$0], count: shard.count) == shard.index } }
        var writer = LineWriter(path: out)
        let key = items ? "item" : "user"
        for row in rows {
            let vector = set.vectors.row(row).map { "\($0)" }.joined(separator: ",")
            try writer.write("{\"\(key)\":\(JSONText.quoted(set.ids[row])),\"model_version\":\(version),\"embedding\":[\(vector)]}")
        }
        try writer.flush()
        console.progress("wrote \(rows.count) \(items ? "listing" : "user") embeddings of width \(set.vectors.columns) of \(model) v\(version) "
            + "to \(out) in \(formattedSeconds(clock.elapsedSeconds)) (shard \(shard.index)/\(shard.count)\(unknown > 0 ? "; \(unknown) unknown ids skipped" : ""))")
    }
}

/// Parses `I/N` (0 ≤ I < N), the shard options of the batch commands.
func parseShard(_ text: String) throws -> (index: Int, count: Int) {
    let parts = text.split(separator: "/").map { Int($0) }
    guard parts.count == 2, let index = parts[0], let count = parts[1], count >= 1, (0..<count).contains(index) else {
        throw UsageError("--shard takes I/N with 0 <= I < N, e.g. 3/8")
    }
    return (index, count)
}
