import ArgumentParsing
import Datasets
import RummageCore

/// What `evaluate` and `train` share on the command line: the dataset, the model with its settings,
/// the worker threads and `--quiet`.
struct ModelRun: Sendable {
    let dataset: DatasetSpec
    let model: String
    let settings: [(key: String, value: String)]
    let threads: Int
    let quiet: Bool

    /// The shared options; `modelHelp` describes which models the command takes.
    static func options(modelHelp: String) -> [OptionSpec] {
        [
            .value("dataset", "SPEC", help: "Dataset as KIND:DIR (ncf-ml1m, lightgcn, synthetic) or log:PATH|URI (an event log).", required: true),
            .value("model", "NAME", help: modelHelp, required: true),
            .repeated("set", "KEY=VALUE", help: "Model setting, e.g. seed=7."),
            .value("threads", "N", help: "Worker threads.", default: String(Parallel.defaultThreadCount)),
            .flag("quiet", help: "No progress on stderr."),
        ]
    }

    /// Parses the shared options; a model outside `allowed` is a usage error worded by `refusal`.
    init(_ arguments: ParsedArguments, allowed: [String], refusal: (String) -> String) throws {
        dataset = try DatasetSpec(parsing: try arguments.requiredString("dataset"))
        model = try arguments.requiredString("model")
        guard allowed.contains(model) else { throw UsageError(refusal(model)) }
        settings = try arguments.keyValues("set")
        threads = try arguments.requiredInt("threads", in: 1...1024)
        quiet = arguments.flag("quiet")
    }
}
