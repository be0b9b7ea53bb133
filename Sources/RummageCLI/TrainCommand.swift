import ArgumentParsing
import Datasets
import RummageCore
import Training

/// `rummage train`: trains a model on a split's training part and saves it as an artifact.
struct TrainCommand: Command {
    static let configuration = CommandConfiguration(
        name: "train",
        abstract: "Train a model on a dataset's training part and save it as a binary artifact.",
        discussion: """
        Models that can be saved: ials, bpr, two-tower. Settings as for 'rummage evaluate'. The artifact
        is versioned and checksummed; 'rummage embed' reads it.
        """,
        options: [
            .value("dataset", "SPEC", help: "Dataset as KIND:DIR (see 'rummage evaluate --help').", required: true),
            .value("model", "NAME", help: "Model to train.", required: true),
            .value("out", "PATH", help: "Artifact file to write.", required: true),
            .repeated("set", "KEY=VALUE", help: "Model setting, e.g. epochs=10."),
            .value("threads", "N", help: "Worker threads.", default: String(Parallel.defaultThreadCount)),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let dataset: DatasetSpec
    let model: String
    let path: String
    let settings: [(key: String, value: String)]
    let threads: Int
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        dataset = try DatasetSpec(parsing: try arguments.requiredString("dataset"))
        model = try arguments.requiredString("model")
        guard ModelCatalog.persistentNames.contains(model) else {
            throw UsageError("model '\(model)' cannot be saved; models that can: \(ModelCatalog.persistentNames.joined(separator: ", "))")
        }
        path = try arguments.requiredString("out")
        settings = try arguments.keyValues("set")
        threads = try arguments.requiredInt("threads", in: 1...1024)
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let split = try dataset.load()
        let clock = Stopwatch()
        let trained = try ModelCatalog.train(model, settings: HyperParameters(settings), split: split, threads: threads,
                                             progress: { console.progress($0) })
        guard let persistent = trained as? any PersistentRecommender else {
            preconditionFailure("\(model) is listed as persistent but is not")
        }
        try persistent.save(to: path)
        console.result("trained \(model) on \(split.name) in \(seconds(clock.elapsedSeconds)); saved to \(path)")
    }
}
