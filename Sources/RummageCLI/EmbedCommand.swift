import ArgumentParsing
import Datasets
import LinearAlgebra
import Pipeline
import RummageCore
import Training

/// `rummage embed`: writes user or item embeddings of a saved model, in batch.
struct EmbedCommand: Command {
    static let configuration = CommandConfiguration(
        name: "embed",
        abstract: "Write the user or item embeddings of a saved model (for nearest-neighbour indexes and batch serving).",
        discussion: """
        Writes an 'embeddings' artifact: ids and one vector per row. Without --listings, row i is the
        dataset's user or item index i and its id is "i". With --listings FILE (listings.csv format), a
        two-tower model embeds those listings from their content alone, new ones included, with their item_ids.
        """,
        options: [
            .value("artifact", "FILE", help: "Model artifact written by 'rummage train'.", required: true),
            .flag("items", help: "Embed items."),
            .flag("users", help: "Embed users."),
            .value("listings", "FILE", help: "Embed the listings in this listings.csv from content (two-tower, with --items)."),
            .value("out", "FILE", help: "Embeddings artifact to write.", required: true),
            .flag("json", help: "Print a JSON summary on stdout."),
            .flag("quiet", help: "Print nothing on success."),
        ])

    let modelPath: String
    let entity: String
    let listings: String?
    let path: String
    let quiet: Bool
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        modelPath = try arguments.requiredString("artifact")
        switch (arguments.flag("items"), arguments.flag("users")) {
        case (true, false): entity = "items"
        case (false, true): entity = "users"
        default: throw UsageError("give exactly one of --items and --users")
        }
        listings = arguments.string("listings")
        if listings != nil && entity != "items" { throw UsageError("--listings needs --items") }
        path = try arguments.requiredString("out")
        quiet = arguments.flag("quiet")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let clock = Stopwatch()
        let model = try ModelCatalog.load(path: modelPath)
        let set: EmbeddingSet
        if let listings {
            guard let contentModel = model as? any ContentEmbeddingModel else {
                throw UsageError("--listings needs a model that embeds content, e.g. two-tower (this is '\(type(of: model).artifactKind)')")
            }
            let file = try ListingsFile.read(path: listings)
            set = EmbeddingSet(entity: entity, ids: file.ids.ids.map(\.value),
                               vectors: contentModel.embedNewItems(fieldNames: ListingsFile.featureNames, content: file.content))
        } else {
            guard let embedding = model as? any EmbeddingModel else {
                throw DataError(.invalidArgument, "artifact holds a '\(type(of: model).artifactKind)', not a model with embeddings",
                                path: modelPath)
            }
            set = Self.indexed(entity, entity == "items" ? embedding.itemEmbeddings : embedding.userEmbeddings)
        }
        try set.save(to: path)
        console.progress("wrote \(set.ids.count) \(entity) embeddings of width \(set.vectors.columns) to \(path) in \(formattedSeconds(clock.elapsedSeconds))")
        if json {
            console.result(try jsonObjectLine(["out": path, "entity": entity, "count": set.ids.count, "width": set.vectors.columns,
                                               "seconds": clock.elapsedSeconds]))
        }
    }

    static func indexed(_ entity: String, _ vectors: Matrix) -> EmbeddingSet {
        EmbeddingSet(entity: entity, ids: (0..<vectors.rows).map(String.init), vectors: vectors)
    }
}
