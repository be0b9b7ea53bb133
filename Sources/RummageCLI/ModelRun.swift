import ArgumentParsing
import Backends
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
    /// With a `log:` dataset: the data as of this time, and only the interactions of this many days.
    let asOf: Int64?
    let windowDays: Int?

    /// The shared options; `modelHelp` describes which models the command takes.
    static func options(modelHelp: String) -> [OptionSpec] {
        [
            .value("dataset", "SPEC", help: "Dataset as KIND:DIR (ncf-ml1m, lightgcn, synthetic) or log:PATH|URI (an event log).", required: true),
            .value("kind", "KIND", help: modelHelp, required: true),
            .repeated("set", "KEY=VALUE", help: "Model setting, e.g. seed=7."),
            .value("threads", "N", help: "Worker threads.", default: String(Parallel.defaultThreadCount)),
            .flag("quiet", help: "No progress on stderr."),
            .value("as-of", "UNIX", help: "With a log: dataset: the data as of this Unix time (default: the latest event)."),
            .value("window-days", "N", help: "With a log: dataset: only the interactions of the last N days before as-of."),
        ]
    }

    /// Parses the shared options; a model outside `allowed` is a usage error worded by `refusal`.
    init(_ arguments: ParsedArguments, allowed: [String], refusal: (String) -> String) throws {
        dataset = try DatasetSpec(parsing: try arguments.requiredString("dataset"))
        model = try arguments.requiredString("kind")
        guard allowed.contains(model) else { throw UsageError(refusal(model)) }
        settings = try arguments.keyValues("set")
        threads = try arguments.requiredInt("threads", in: 1...1024)
        quiet = arguments.flag("quiet")
        asOf = try arguments.int("as-of", in: 946_684_800...Int(Int32.max) * 4).map(Int64.init)
        windowDays = try arguments.int("window-days", in: 1...100_000)
        if case .eventLog = dataset {} else if asOf != nil || windowDays != nil {
            throw UsageError("--as-of and --window-days go with a log: dataset")
        }
    }

    /// The split: files read by their loader, an event log opened through the backends.
    func split() throws -> Split {
        try dataset.load(openLog: openExistingEventLog, asOf: asOf, windowDays: windowDays)
    }
}
