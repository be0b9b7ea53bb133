import ArgumentParsing
import Backends
import Events
import Foundation
import Pipeline
import Registry
import RummageCore
import Training

/// `rummage ranker train`: a surface's learned ranker from the impressions and engagement in the log.
struct RankerTrainCommand: Command {
    static let configuration = CommandConfiguration(
        name: "ranker train",
        abstract: "Train a surface's learned ranker (gradient-boosted trees) from its logged impressions, evaluate, gate and register it.",
        discussion: """
        The data: every impression of the surface in the log (surfaces with log_impressions: true, or any
        during an experiment), labelled by the strongest engagement with that listing naming the impression's
        ranking_id within an hour (view 1, like or save 2, add to bag 3, purchase 4), with the ranker's
        features computed point in time (docs/serving.md, "Learned ranker"). The newest 20 % of lists are
        held out: NDCG@20 of the ranker, of retrieval's order and of the order shown are the version's
        metrics. The gate asks the ranker to beat retrieval's order and to stay within 0.005 of the version
        the alias holds; a blessed version moves the alias. With --ope-surface it also asks for an
        off-policy CTR uplift over the alias's version (or retrieval's order) on that surface's fully
        explored lists the ranker did not train on: the lower end of the 95 % interval at least
        --ope-min-uplift, with an effective sample size of at least --ope-min-ess (docs/experiments.md,
        "Off-policy evaluation of a ranker").

        Settings (--set): rounds (100), max_depth (6), eta (0.1), min_child_weight (1), subsample (1),
        lambda (1), objective (rank:ndcg, LambdaMART; or binary:logistic), seed (42).

        Exit codes as 'pipeline run': 0 promoted; 3 registered but not blessed.
        """,
        options: [
            .value("log", "PATH", help: "Event log: a SQLite file or a postgresql:// URI.", default: ".rummage/events.sqlite"),
            .value("surface", "NAME", help: "The surface whose impressions train the ranker.", default: "home"),
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name of the ranker, e.g. home-ranker.", required: true),
            .value("alias", "NAME", help: "The alias a blessed version moves.", default: "champion"),
            .value("as-of", "UNIX", help: "Use the events before this time (default: all)."),
            .repeated("set", "KEY=VALUE", help: "A training setting, e.g. rounds=300."),
            .value("ope-surface", "NAME", help: "Gate on an off-policy CTR uplift estimated on this surface's fully explored lists."),
            .value("ope-min-uplift", "X", help: "The least lower bound (95 %) of the off-policy CTR uplift.", default: "0"),
            .value("ope-min-ess", "N", help: "The least effective sample size of the off-policy estimate.",
                   default: String(Int(RankerPipeline.OffPolicyGate.defaultMinimumEffectiveSampleSize))),
            .value("threads", "N", help: "XGBoost's threads.", default: String(Parallel.defaultThreadCount)),
            .flag("json", help: "Print the result as one JSON object on the last line of stdout."),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let log: String
    let surface: String
    let registry: ModelRegistry
    let model: String
    let alias: String
    let asOf: Int64?
    let settings: [(key: String, value: String)]
    let threads: Int
    let offPolicy: RankerPipeline.OffPolicyGate?
    let json: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        log = try arguments.requiredString("log")
        surface = try arguments.requiredString("surface")
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        alias = try arguments.requiredString("alias")
        asOf = try arguments.int("as-of", in: 0...Int(Int32.max) * 4).map(Int64.init)
        settings = try arguments.keyValues("set")
        threads = try arguments.requiredInt("threads", in: 1...1024)
        let minimumUplift = try arguments.double("ope-min-uplift", in: -1...1)!
        let minimumSize = try arguments.double("ope-min-ess", in: 0...1e12)!
        offPolicy = arguments.string("ope-surface").map { .init(surface: $0, minimumUplift: minimumUplift, minimumEffectiveSampleSize: minimumSize) }
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let eventLog = try openExistingEventLog(log)
        let sequence = try eventLog.lastSequence()
        var events: [Event] = []
        try eventLog.readAll { event in if asOf.map({ event.timestamp < $0 }) ?? true { events.append(event) } }
        console.progress("ranker: read \(events.count) events from \(log)")
        let result = try RankerPipeline.run(
            events: events, data: "log:\(log)" + (asOf.map { " as of \($0)" } ?? ""), logSequence: sequence, surface: surface,
            registry: registry, model: model, alias: alias, settings: HyperParameters(settings), threads: threads, offPolicy: offPolicy,
            progress: { console.progress($0) })
        let m = result.manifest
        let metric = RankerPipeline.metric
        console.result(String(format: "%@ v%d: %@; held-out \(metric) %.4f (retrieval's order %.4f, as shown %.4f)", m.model, m.version,
                              result.gate.blessed ? "blessed" : "not blessed", m.metrics[metric] ?? 0,
                              m.metrics[metric + "[retrieval]"] ?? 0, m.metrics[metric + "[logged]"] ?? 0))
        if json {
            console.result(try jsonObjectLine(["model": m.model, "version": m.version, "blessed": result.gate.blessed, "metrics": m.metrics,
                                               "registry": registry.root]))
        }
        if !result.gate.blessed {
            throw NotBlessed(message: "\(m.model) v\(m.version) registered but not blessed; \(alias) did not move "
                             + "(see \(registry.versionDirectory(m.model, m.version))/gate.md)")
        }
    }
}
