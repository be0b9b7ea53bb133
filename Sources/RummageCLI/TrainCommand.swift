import ArgumentParsing
import Backends
import Datasets
import Pipeline
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
        options: ModelRun.options(modelHelp: "Model to train (\(ModelCatalog.persistentNames.joined(separator: ", "))).")
            + [.value("out", "PATH", help: "Artifact file to write.", required: true), .flag("json", help: "Print a JSON summary on stdout.")])

    let modelRun: ModelRun
    let path: String
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        modelRun = try ModelRun(arguments, allowed: ModelCatalog.persistentNames) { model in
            "model '\(model)' cannot be saved; models that can: \(ModelCatalog.persistentNames.joined(separator: ", "))"
        }
        path = try arguments.requiredString("out")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let (model, settings, threads) = (modelRun.model, modelRun.settings, modelRun.threads)
        let console = Console(output: output, quiet: modelRun.quiet)
        let split = try modelRun.split()
        let clock = Stopwatch()
        let parameters = HyperParameters(settings), history = TrainingHistory()
        let trained = try ModelCatalog.train(model, settings: parameters, split: split, threads: threads,
                                             progress: { console.progress($0) }, history: history)
        guard let persistent = trained as? any PersistentRecommender else {
            preconditionFailure("\(model) is listed as persistent but is not")
        }
        try persistent.save(to: path)
        try modelRun.record("train", parameters: parameters, history: history, metrics: [:], artifacts: [path],
                            seconds: clock.elapsedSeconds, console: console)
        if json {
            console.result(try jsonObjectLine(["kind": model, "dataset": split.name, "out": path, "seconds": clock.elapsedSeconds]))
        } else {
            console.result("trained \(model) on \(split.name) in \(formattedSeconds(clock.elapsedSeconds)); saved to \(path)")
        }
    }
}
