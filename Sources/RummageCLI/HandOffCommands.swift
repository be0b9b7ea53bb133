import ArgumentParsing
import Backends
import BuildInfo
import Datasets
import Foundation
import Pipeline
import Registry
import RummageCore
import Training
import TwoTower

extension HandOffError: UserFacingError {}

/// `rummage import`: a model trained elsewhere, registered through a pipeline's own steps.
struct ImportCommand: Command {
    static let configuration = CommandConfiguration(
        name: "import",
        abstract: "Import a model trained elsewhere (a hand-off directory: embeddings, or a PyTorch two-tower) into the registry.",
        discussion: """
        The hand-off contract is in docs/scientists.md: handoff.json, user_ids.txt and item_ids.txt, and
        safetensors (or .npy) files. A two-tower hand-off is refused unless Rummage's towers reproduce its
        golden outputs (and its embeddings, when shipped) within its tolerance (default 1e-4, max abs); the
        refusal names the first tensor that differs and the weights that feed it.

        The pipeline (FILE or NAME) gives the data, the registry, the model name and the gate; its train
        step is replaced by the import, mapped onto the data's users and items by id. Then the version is
        evaluated, indexed, gated, registered (its manifest's "source" records the hand-off's SHA-256 and
        the parity measured) and promoted like a model trained here. 'rummage evaluate --kind handoff
        --set path=DIR' evaluates a hand-off on any dataset without registering it.

        Exit codes as 'pipeline run': 0 promoted; 3 registered but not blessed; 65 a refused hand-off.
        """,
        options: [
            .value("handoff", "DIR", help: "Hand-off directory (handoff.json and its files).", required: true),
            .value("pipeline", "FILE|NAME", help: "Pipeline whose data, registry, model name and gate the import goes through.", required: true),
            .flag("json", help: "Print the result as one JSON object on the last line of stdout."),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let config: PipelineConfig
    let json: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        var config = try PipelineSource.load(try arguments.requiredString("pipeline"),
                                             configPath: arguments.string("config") ?? ProcessInfo.processInfo.environment["RUMMAGE_CONFIG"])
        config.train = PipelineConfig.TrainSpec(kind: "handoff", settings: ["path": try arguments.requiredString("handoff")],
                                                seed: config.train.seed, threads: config.train.threads)
        self.config = config
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        try PipelineRunCommand.run(config, json: json, console: Console(output: output, quiet: quiet))
    }
}

/// `rummage export-model`: a model in the hand-off format, for Python (`rummage.artifacts`) and PyTorch.
struct ExportModelCommand: Command {
    static let configuration = CommandConfiguration(
        name: "export-model",
        abstract: "Write a model as a hand-off directory (safetensors and ids) that Python and PyTorch load.",
        discussion: """
        From a registered version (--registry, --model, --version) or a saved artifact with the dataset it
        was trained on (--artifact, --dataset: ids come from the data). A two-tower is written with its
        towers (weights in torch.nn layout), golden inputs and outputs, and its embeddings; other models
        with embeddings (ials, bpr, an imported embeddings hand-off) as embeddings. Importing the hand-off
        onto the same data gives the same embeddings bit for bit. The contract: docs/scientists.md.
        """,
        options: [
            .value("registry", "DIR", help: "Registry to read the version from."),
            .value("model", "NAME", help: "Registered model name (with --registry)."),
            .value("version", "N|ALIAS", help: "Version or alias (with --registry).", default: "champion"),
            .value("artifact", "FILE", help: "A model artifact written by 'rummage train' (instead of --registry)."),
            .value("dataset", "SPEC", help: "The dataset the artifact was trained on (with --artifact): names its users and items."),
            .value("out", "DIR", help: "Hand-off directory to write (created if missing).", required: true),
            .flag("json", help: "Print a JSON summary on stdout."),
            .flag("quiet", help: "No progress on stderr."),
        ])

    enum Source {
        case registered(location: String, model: String, version: String)
        case artifact(path: String, dataset: DatasetSpec)
    }

    let source: Source
    let out: String
    let json: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        switch (arguments.string("registry"), arguments.string("artifact")) {
        case let (registry?, nil):
            guard let model = arguments.string("model") else { throw UsageError("--registry needs --model NAME") }
            if arguments.string("dataset") != nil { throw UsageError("--dataset goes with --artifact (a version names its own ids)") }
            source = .registered(location: registry, model: model, version: try arguments.requiredString("version"))
        case let (nil, artifact?):
            guard let dataset = arguments.string("dataset") else { throw UsageError("--artifact needs --dataset SPEC (the data it was trained on)") }
            source = .artifact(path: artifact, dataset: try DatasetSpec(parsing: dataset))
        default:
            throw UsageError("give either --registry with --model, or --artifact with --dataset")
        }
        out = try arguments.requiredString("out")
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let modelPath: String, userIDs: [String], itemIDs: [String], what: String
        switch source {
        case let .registered(location, name, reference):
            let registry = try RegistryLocation(location)
            try registry.refresh(name)
            let version = try registry.registry.resolve(name, reference)
            let paths = try registry.registry.verify(name, version)
            guard let model = paths[ServingBundle.File.model.rawValue], let users = paths[ServingBundle.File.userEmbeddings.rawValue],
                  let items = paths[ServingBundle.File.itemEmbeddings.rawValue] else {
                throw DataError(.invalidArgument, "\(name) v\(version) has no model with embeddings to export", path: location)
            }
            (modelPath, what) = (model, "\(name) v\(version)")
            userIDs = try EmbeddingSet.load(from: users).ids
            itemIDs = try EmbeddingSet.load(from: items).ids
        case let .artifact(path, dataset):
            let split = try dataset.load(openLog: openExistingEventLog)
            (modelPath, what, userIDs, itemIDs) = (path, path, split.userIDs, split.itemIDs)
        }
        let model = try ModelCatalog.load(path: modelPath)
        let producer = "rummage \(BuildInfo.codeVersion) export-model of \(what)"
        let kind: String
        if let twoTower = model as? TwoTowerModel {
            try twoTower.writeHandOff(to: out, userIDs: userIDs, itemIDs: itemIDs, producer: producer)
            kind = HandOffSpecification.Kind.twoTower.rawValue
        } else if let embedding = model as? any EmbeddingModel {
            guard embedding.userEmbeddings.rows == userIDs.count, embedding.itemEmbeddings.rows == itemIDs.count else {
                throw DataError(.invalidArgument, "the model has \(embedding.userEmbeddings.rows) users and \(embedding.itemEmbeddings.rows) "
                                + "items, the data \(userIDs.count) and \(itemIDs.count)", path: modelPath)
            }
            try HandOff.writeEmbeddings(to: out, userIDs: userIDs, users: embedding.userEmbeddings, itemIDs: itemIDs,
                                        items: embedding.itemEmbeddings, producer: producer)
            kind = HandOffSpecification.Kind.embeddings.rawValue
        } else {
            throw DataError(.invalidArgument, "a '\(type(of: model).artifactKind)' model has no embeddings to hand over", path: modelPath)
        }
        console.progress("wrote \(what) as a \(kind) hand-off to \(out)")
        if json { console.result(try jsonObjectLine(["out": out, "kind": kind, "source": what])) }
    }
}
