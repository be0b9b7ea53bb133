import ArgumentParsing
import Backends
import BuildInfo
import Datasets
import Registry
import RummageCore
import Training

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
    /// With `--record`: the registry whose run store keeps the run.
    let recordTo: ModelRegistry?

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
            .flag("record", help: "Keep the run (settings, metrics, history, artifact checksums) in the registry's run store ('rummage runs')."),
            .value("registry", "DIR", help: "Registry directory (with --record, its run store keeps the run).", default: ".rummage/registry"),
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
        recordTo = arguments.flag("record") ? ModelRegistry(root: try arguments.requiredString("registry")) : nil
    }

    /// With `--record`, stores the run: `parameters` as the model resolved them, the training `history`,
    /// `metrics`, the SHA-256 of each file of `artifacts`. Says where on the console.
    func record(_ command: String, parameters: HyperParameters, history: TrainingHistory, metrics: [String: Double],
                artifacts: [String], seconds: Double, console: Console) throws {
        guard let recordTo else { return }
        var checksums: [String: String] = [:]
        for path in artifacts { checksums[path] = try SHA256Hasher.hex(ofFile: path) }
        let run = try RunStore(registry: recordTo).record(TrackedRun(
            command: command, kind: model, settings: parameters.resolved, dataset: dataset.description, threads: threads,
            metrics: metrics, history: history.steps, artifacts: checksums, source: history.notes.isEmpty ? nil : history.notes,
            codeVersion: BuildInfo.codeVersion, hardware: BuildInfo.hardware, seconds: seconds))
        console.progress("recorded run \(run.id) in \(RunStore(registry: recordTo).root) (rummage runs list)")
    }

    /// The split: files read by their loader, an event log opened through the backends.
    func split() throws -> Split {
        try dataset.load(openLog: openExistingEventLog, asOf: asOf, windowDays: windowDays)
    }
}
