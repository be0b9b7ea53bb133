import ArgumentParsing
import Foundation
import Pipeline
import Registry
import RummageCore
import Training

extension RegistryError: UserFacingError {}

/// `rummage pipeline run`: the whole path from data to a blessed, registered model.
struct PipelineRunCommand: Command {
    static let configuration = CommandConfiguration(
        name: "pipeline run",
        abstract: "Run a training pipeline: data → features → train → evaluate → gate → register → promote.",
        discussion: """
        The config (JSON, docs/pipeline.md; example: examples/pipeline.json) names the model, the registry
        directory, the data (generated or existing), the training settings and the gate. The new version is
        registered whether or not the gate blesses it; only a blessed one moves the alias (default champion).
        With --json the last line of stdout is a JSON object: model, registry, version, blessed, metrics,
        artifact_sha256 (of model.rmg), data_fingerprint.

        Exit codes (for schedulers such as a systemd timer or an Airflow task): 0 blessed and promoted;
        3 registered but not blessed (the alias stays); 2 bad usage or bad input (config, data); 1 any
        other failure.
        """,
        options: [
            .value("pipeline", "FILE|NAME", help: "Pipeline configuration (JSON or YAML), or the name of one under 'pipelines' in the configuration file.", required: true),
            .flag("json", help: "Print the result as one JSON object on the last line of stdout."),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let config: PipelineConfig
    let json: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        config = try PipelineSource.load(try arguments.requiredString("pipeline"),
                                         configPath: arguments.string("config") ?? ProcessInfo.processInfo.environment["RUMMAGE_CONFIG"])
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        try Self.run(config, json: json, console: Console(output: output, quiet: quiet))
    }

    /// Runs `config`, prints the result, and throws `NotBlessed` (exit 3) when the gate did not bless it.
    static func run(_ config: PipelineConfig, json: Bool, console: Console) throws {
        let result = try Pipeline(config: config, progress: { console.progress($0) }).run()
        try PipelineRunCommand.print(result, json: json, console: console)
        if !result.gate.blessed {
            let gate = ModelRegistry(root: result.registry).versionDirectory(result.manifest.model, result.manifest.version) + "/gate.md"
            throw NotBlessed(message: "\(result.manifest.model) v\(result.manifest.version) registered but not blessed; "
                                      + "\(config.alias ?? "champion") did not move (see \(gate))")
        }
    }

    static func print(_ result: PipelineResult, json asJSON: Bool, console: Console) throws {
        let m = result.manifest
        console.result("\(m.model) v\(m.version): \(result.gate.blessed ? "blessed" : "not blessed"); "
            + "recall@20 \(String(format: "%.4f", m.metrics["recall@20"] ?? 0)); model.rmg sha256 \(result.modelSHA256.prefix(16))…")
        if let source = m.source, let error = source["parity_max_abs_error"] {
            console.result("imported from \(source["handoff"] ?? "a hand-off"): parity \(error) (max abs; tolerance \(source["parity_tolerance"] ?? "?")), "
                           + "\(source["matched"] ?? "")")
        }
        if asJSON {
            var object: [String: Any] = ["model": m.model, "registry": result.registry, "version": m.version, "blessed": result.gate.blessed,
                                         "metrics": m.metrics, "artifact_sha256": result.modelSHA256, "data_fingerprint": m.dataFingerprint]
            if let source = m.source { object["source"] = source }
            console.result(try jsonObjectLine(object))
        }
    }
}

/// `rummage pipeline reproduce`: re-runs a registered version from its manifest and compares.
struct PipelineReproduceCommand: Command {
    static let configuration = CommandConfiguration(
        name: "pipeline reproduce",
        abstract: "Re-run a registered version's pipeline and compare artifacts and metrics.",
        discussion: """
        Reads the version's pipeline.json, runs it again into a scratch registry (the real one is not
        touched), and reports whether the data fingerprint matches and whether model.rmg is bit-identical
        (expected with 1 training thread) or, if not, whether every metric is within --tolerance.
        Exits 0 when reproduced, 1 when not.
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", required: true),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .value("version", "REF", help: "Version number or alias.", required: true),
            .value("tolerance", "X", help: "Largest metric difference accepted when artifacts differ.", default: "0.002"),
            .flag("json", help: "Print the comparison as JSON."),
        ])

    let registry: ModelRegistry
    let model: String
    let reference: String
    let tolerance: Double
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        reference = try arguments.requiredString("version")
        guard let tolerance = Double(try arguments.requiredString("tolerance")), tolerance >= 0 else {
            throw UsageError("--tolerance must be a non-negative number")
        }
        self.tolerance = tolerance
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: json)
        let r = try Pipeline.reproduce(registry: registry, model: model, reference: reference, tolerance: tolerance,
                                       progress: { console.progress($0) })
        console.progress("data fingerprint \(r.sameData ? "matches" : "DIFFERS"); model.rmg \(r.bitIdentical ? "bit-identical" : "differs"); "
            + "largest metric difference \(String(format: "%.6f", r.worstMetricDifference))")
        console.result(try jsonObjectLine(["model": model, "version": r.version, "reproduced": r.reproduced, "bit_identical": r.bitIdentical,
                                           "data_fingerprint_matches": r.sameData, "max_metric_difference": r.worstMetricDifference,
                                           "threads": r.threads]))
        if !r.reproduced { throw ReproductionFailure() }
    }
}

/// A pipeline run that registered its version without the gate's blessing: exit code 3.
struct NotBlessed: ExitCodeError {
    var message: String
    var exitCode: Int32 { ExitCode.notBlessed }
    var description: String { message }
}

struct ReproductionFailure: Error, CustomStringConvertible {
    var description: String { "not reproduced (see above)" }
}

/// One registry action (`list`, `show`, …) as a command of its own: `rummage registry list`.
protocol RegistryAction: Sendable {
    static var name: String { get }
    static var abstract: String { get }
}

enum RegistryList: RegistryAction {
    static let name = "list", abstract = "List models, their versions and aliases."
}

enum RegistryShow: RegistryAction {
    static let name = "show", abstract = "Print a version's manifest (JSON)."
}

enum RegistryDiff: RegistryAction {
    static let name = "diff", abstract = "Configuration, data and metric differences between two versions."
}

enum RegistryPromote: RegistryAction {
    static let name = "promote", abstract = "Point an alias (default champion) at a version, after checking its artifacts."
}

enum RegistryRollback: RegistryAction {
    static let name = "rollback", abstract = "Move an alias back to where it pointed before its latest move."
}

struct RegistrySubcommand<Action: RegistryAction>: Command {
    static var configuration: CommandConfiguration { RegistryCommand.configuration(Action.name, Action.abstract) }
    let inner: RegistryCommand
    init(_ arguments: ParsedArguments) throws { inner = try RegistryCommand(action: Action.name, arguments) }
    func run(output: CommandOutput) throws { try inner.run(output: output) }
}

/// The registry actions' shared options and implementation.
struct RegistryCommand: Sendable {
    static func configuration(_ action: String, _ abstract: String) -> CommandConfiguration {
        CommandConfiguration(
            name: "registry \(action)",
            abstract: abstract,
            discussion: """
            REF is a version number or an alias. Alias moves are atomic (write, fsync, rename under a file
            lock) and kept in alias-history.jsonl with who and when. The registry layout: docs/pipeline.md.
            """,
            options: [
                .value("registry", "DIR|S3", help: "Registry directory, or a shared registry s3://BUCKET/PREFIX[?endpoint=URL].", default: ".rummage/registry"),
                .value("model", "NAME", help: "Registered model name\(action == "list" ? " (default: every model)" : "").",
                       required: action != "list"),
            ] + (["show", "diff", "promote"].contains(action) ? [.value("version", "REF", help: "Version number or alias.", required: true)] : [])
              + (action == "diff" ? [.value("against", "REF", help: "The version number or alias to compare with.", required: true)] : [])
              + (["promote", "rollback"].contains(action) ? [.value("alias", "NAME", help: "The alias to move.", default: "champion")] : [])
              + [.flag("json", help: "Print JSON.")])
    }

    let action: String
    let location: RegistryLocation
    let registry: ModelRegistry
    let model: String?
    let version: String?
    let to: String?
    let alias: String
    let json: Bool

    init(action: String, _ arguments: ParsedArguments) throws {
        self.action = action
        location = try RegistryLocation(try arguments.requiredString("registry"))
        registry = location.registry
        model = arguments.string("model")
        // Each action declares only its own options (see `configuration`).
        version = ["show", "diff", "promote"].contains(action) ? arguments.string("version") : nil
        to = action == "diff" ? arguments.string("against") : nil
        alias = ["promote", "rollback"].contains(action) ? arguments.string("alias") ?? "champion" : "champion"
        json = arguments.flag("json")
    }

    func requireModel() throws -> String {
        guard let model else { throw UsageError("registry \(action) needs --model NAME") }
        return model
    }

    func requireVersion(_ value: String?, _ option: String) throws -> Int {
        guard let value else { throw UsageError("registry \(action) needs --\(option) REF") }
        return try registry.resolve(try requireModel(), value)
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        try location.refresh(model)
        switch action {
        case "list":
            guard FileManager.default.fileExists(atPath: registry.root) else {
                throw DataError(.fileNotFound, "no registry here (a pipeline run creates it; --registry DIR names another)", path: registry.root)
            }
            if let model, registry.versions(model).isEmpty {
                throw DataError(.fileNotFound, "no model '\(model)' in this registry" + didYouMean(model, among: registry.models()), path: registry.root)
            }
            let names = model.map { [$0] } ?? registry.models()
            if names.isEmpty && !json { console.result("no models registered in \(registry.root)") }
            var listing: [[String: Any]] = []
            for name in names {
                let aliases = registry.aliases(name)
                let versions = registry.versions(name)
                listing.append(["model": name, "versions": versions, "aliases": aliases])
                if !json {
                    console.result("\(name): versions \(versions.map(String.init).joined(separator: ", "))"
                        + (aliases.isEmpty ? "" : "; " + aliases.sorted { $0.key < $1.key }.map { "\($0.key) → v\($0.value)" }.joined(separator: ", ")))
                    for v in versions {
                        if let m = try? registry.manifest(name, v) {
                            console.result("  v\(v)  \(m.kind)  \(m.blessed ? "blessed" : "not blessed")  recall@20 "
                                + String(format: "%.4f", m.metrics["recall@20"] ?? 0) + "  \(m.createdAt)  code \(m.codeVersion)")
                        }
                    }
                }
            }
            if json { console.result(try jsonObjectLine(["registry": registry.root, "models": listing])) }
        case "show":
            let name = try requireModel()
            let v = try requireVersion(version, "version")
            console.result(String(decoding: try registry.manifest(name, v).encoded(), as: UTF8.self))
        case "diff":
            let name = try requireModel()
            let a = try registry.manifest(name, try requireVersion(version, "version"))
            let b = try registry.manifest(name, try requireVersion(to, "against"))
            let diff = Self.diff(a, b)
            if json {
                console.result(try jsonObjectLine(diff))
            } else {
                console.result("v\(a.version) → v\(b.version)")
                for (section, value) in diff.sorted(by: { $0.key < $1.key }) {
                    guard let entries = value as? [String: [String: Any]] else { continue }
                    for (key, change) in entries.sorted(by: { $0.key < $1.key }) {
                        console.result("  \(section) \(key): \(change["from"] ?? "–") → \(change["to"] ?? "–")"
                            + (change["change"].map { " (\($0))" } ?? ""))
                    }
                }
            }
        case "promote":
            let name = try requireModel()
            let v = try requireVersion(version, "version")
            try registry.verify(name, v)
            try location.setAlias(name, alias, to: v)
            console.result(json ? try jsonObjectLine(["model": name, "alias": alias, "version": v]) : "\(name): \(alias) → v\(v)")
        case "rollback":
            let name = try requireModel()
            let restored = try location.rollback(name, alias)
            console.result(json ? try jsonObjectLine(["model": name, "alias": alias, "version": restored ?? NSNull()])
                : "\(name): \(alias) → \(restored.map { "v\($0)" } ?? "nothing")")
        default:
            preconditionFailure()
        }
    }

    /// Differences in configuration, data and metrics: key → {from, to[, change]}.
    static func diff(_ a: Manifest, _ b: Manifest) -> [String: Any] {
        func changes(_ x: [String: String], _ y: [String: String]) -> [String: [String: Any]] {
            var out: [String: [String: Any]] = [:]
            for key in Set(x.keys).union(y.keys) where x[key] != y[key] {
                out[key] = ["from": x[key] ?? NSNull(), "to": y[key] ?? NSNull()]
            }
            return out
        }
        var metrics: [String: [String: Any]] = [:]
        for key in Set(a.metrics.keys).union(b.metrics.keys) where a.metrics[key] != b.metrics[key] {
            var entry: [String: Any] = ["from": a.metrics[key] ?? NSNull(), "to": b.metrics[key] ?? NSNull()]
            if let x = a.metrics[key], let y = b.metrics[key] { entry["change"] = y - x }
            metrics[key] = entry
        }
        let data = changes(["fingerprint": a.dataFingerprint, "data": a.data, "feature_set_version": a.featureSetVersion ?? "",
                            "code_version": a.codeVersion],
                           ["fingerprint": b.dataFingerprint, "data": b.data, "feature_set_version": b.featureSetVersion ?? "",
                            "code_version": b.codeVersion])
        return ["from": a.version, "to": b.version,
                "configuration": changes(a.configuration.merging(["kind": a.kind, "seed": "\(a.seed)", "threads": "\(a.threads)"]) { $1 },
                                         b.configuration.merging(["kind": b.kind, "seed": "\(b.seed)", "threads": "\(b.threads)"]) { $1 }),
                "data": data, "metrics": metrics]
    }
}

/// `rummage gate`: the deployment gate as a CI step.
struct GateCommand: Command {
    static let configuration = CommandConfiguration(
        name: "gate",
        abstract: "Check a registered candidate against a baseline; exit 0 when blessed, 1 when not.",
        discussion: """
        Applies a gate policy (the candidate's own pipeline.json gate, or --pipeline FILE) to the candidate's
        metrics against the baseline's, re-checks that the candidate's artifacts match their checksums and
        that its model loads and answers, and measures its scoring latency on this machine. Prints the
        report (Markdown, or JSON with --json).
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .value("candidate", "V", help: "Candidate version number or alias.", required: true),
            .value("baseline", "V", help: "Baseline version number or alias.", default: "champion"),
            .value("pipeline", "FILE", help: "Pipeline configuration whose gate to apply (default: the candidate's)."),
            .flag("json", help: "Print the report as JSON."),
        ])

    let registry: ModelRegistry
    let model: String
    let candidate: String
    let baseline: String
    let configPath: String?
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        candidate = try arguments.requiredString("candidate")
        baseline = try arguments.requiredString("baseline")
        configPath = arguments.string("pipeline")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let report = try Pipeline.gateRegistered(registry: registry, model: model, candidate: candidate, baseline: baseline,
                                                 configPath: configPath)
        console.result(json ? String(decoding: report.json, as: UTF8.self) : report.markdown)
        if !report.blessed { throw GateRefusal() }
    }
}

/// The gate did not bless the candidate: exit code 3, as for a pipeline run.
struct GateRefusal: ExitCodeError {
    var exitCode: Int32 { ExitCode.notBlessed }
    var description: String { "not blessed" }
}
