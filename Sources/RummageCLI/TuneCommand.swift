import ArgumentParsing
import Datasets
import Foundation
import Pipeline
import RummageCore
import Training

/// `rummage tune`: chooses a model's settings on a validation split carved from the training part.
struct TuneCommand: Command {
    static let configuration = CommandConfiguration(
        name: "tune",
        abstract: "Search a model's settings on a validation split carved from the training part only (never the test part).",
        discussion: """
        The validation split: each user with at least two training interactions gives up one of them (a
        sampled protocol such as NCF's, ranked against as many sampled negatives) or a fifth of them (full
        ranking), drawn with --seed; the model trains on the rest. The test part is never read. Each trial
        trains the model with a point of its grid (all points when there are at most --budget, else
        --budget points drawn with --seed) plus the --set settings, and is judged on --metric (default
        NDCG@10 sampled, NDCG@20 full ranking). Prints every trial as a table and the best settings;
        --out writes them as JSON. Grids: \(ModelTuning.spaces.keys.sorted().map { kind in
            "\(kind) (" + ModelTuning.spaces[kind]!.map { "\($0.key) \($0.values.joined(separator: "|"))" }.joined(separator: "; ") + ")"
        }.joined(separator: ", ")).
        """,
        options: ModelRun.options(modelHelp: "Model to tune (\(ModelTuning.spaces.keys.sorted().joined(separator: ", "))).") + [
            .value("budget", "N", help: "The most trials to run.", default: "20"),
            .value("metric", "NAME", help: "The validation metric to maximise, e.g. ndcg@10, recall@20."),
            .value("seed", "N", help: "Seed of the validation split and of the search.", default: "1"),
            .value("out", "FILE", help: "Write the best settings and every trial as JSON."),
            .flag("json", help: "End stdout with one JSON object: the best settings and every trial."),
        ])

    let modelRun: ModelRun
    let budget: Int
    let metric: String?
    let seed: UInt64
    let out: String?
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        modelRun = try ModelRun(arguments, allowed: ModelTuning.spaces.keys.sorted()) { model in
            "nothing to tune in '\(model)'; models with settings to tune: \(ModelTuning.spaces.keys.sorted().joined(separator: ", "))"
        }
        budget = try arguments.requiredInt("budget", in: 1...100_000)
        metric = arguments.string("metric")
        seed = UInt64(try arguments.requiredInt("seed", in: 0...Int.max))
        out = arguments.string("out")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: modelRun.quiet)
        let split = try modelRun.split()
        let validation = split.validation(seed: seed)
        console.progress("tune: \(validation.name): \(validation.train.interactionCount) interactions train, "
                         + "\(validation.evaluation.name) validation")
        let clock = Stopwatch()
        var bestSoFar = -Double.infinity
        let result = try ModelTuning.run(model: modelRun.model, validation: validation, budget: budget, seed: seed, fixed: modelRun.settings,
                                         metric: metric, threads: modelRun.threads) { trial, total in
            let value = trial.metrics[metric ?? ModelTuning.defaultMetric(validation.evaluation)] ?? 0
            bestSoFar = max(bestSoFar, value)
            let done = 20 * trial.number / total
            console.progress("tune: [" + String(repeating: "#", count: done) + String(repeating: ".", count: 20 - done)
                             + "] trial \(trial.number)/\(total) " + Self.describe(trial.settings)
                             + String(format: ": %.4f (best %.4f) in %@", value, bestSoFar, formattedSeconds(trial.seconds)))
        }
        let keys = Array(Set(result.trials.flatMap(\.settings.keys))).sorted()
        console.result(([" #"] + keys + [result.metric, "seconds"]).joined(separator: "\t"))
        for trial in result.trials {
            console.result(([String(format: "%2d", trial.number)] + keys.map { trial.settings[$0] ?? "" }
                            + [String(format: "%.4f", trial.metrics[result.metric] ?? 0), String(format: "%.1f", trial.seconds)]).joined(separator: "\t"))
        }
        let best = result.best
        console.result("best: \(modelRun.model) " + Self.describe(best.settings) + String(format: " (%@ %.4f on validation; %d trials in %@)",
                                                                                      result.metric, best.metrics[result.metric] ?? 0,
                                                                                      result.trials.count, formattedSeconds(clock.elapsedSeconds)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        struct Body: Encodable { var model: String; var dataset: String; var metric: String; var best: ModelTuning.Trial; var trials: [ModelTuning.Trial] }
        let body = try encoder.encode(Body(model: modelRun.model, dataset: modelRun.dataset.description, metric: result.metric, best: best,
                                           trials: result.trials))
        if let out { try body.write(to: URL(fileURLWithPath: out)) }
        try modelRun.record("tune", parameters: HyperParameters(best.settings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
                            history: TrainingHistory(), metrics: best.metrics, artifacts: [], seconds: clock.elapsedSeconds, console: console)
        if json { console.result(String(decoding: body, as: UTF8.self)) }
    }

    static func describe(_ settings: [String: String]) -> String {
        settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}
