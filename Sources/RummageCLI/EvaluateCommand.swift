import ArgumentParsing
import Backends
import Datasets
import Evaluation
import Foundation
import Pipeline
import RummageCore
import Training

/// `rummage evaluate`: trains a model on a split's training part and evaluates it with the
/// split's own protocol.
struct EvaluateCommand: Command {
    static let configuration = CommandConfiguration(
        name: "evaluate",
        abstract: "Train a model on a dataset split and evaluate it with the split's protocol.",
        discussion: """
        Datasets (KIND:DIR):
          ncf-ml1m:DIR   NCF MovieLens-1M leave-one-out split; test item vs its 99 listed negatives (HR, NDCG)
          lightgcn:DIR   train.txt/test.txt; full ranking, training items masked (Recall, NDCG, Precision)
          synthetic:DIR  output of 'rummage generate'; temporal split, full ranking over unsold listings
        Models: \(ModelCatalog.names.joined(separator: ", ")). Settings with --set, e.g. --set neighbours=200.
        """,
        options: ModelRun.options(modelHelp: "Model to train (\(ModelCatalog.names.joined(separator: ", "))).")
            + [.flag("json", help: "End stdout with one JSON object of metrics and timings.")])

    let modelRun: ModelRun
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        modelRun = try ModelRun(arguments, allowed: ModelCatalog.names) { model in
            "unknown model '\(model)'; models: \(ModelCatalog.names.joined(separator: ", "))"
        }
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let (dataset, model, settings, threads) = (modelRun.dataset, modelRun.model, modelRun.settings, modelRun.threads)
        let console = Console(output: output, quiet: modelRun.quiet)
        let loading = Stopwatch()
        let split = try modelRun.split()
        let train = split.train
        console.progress("loaded \(split.name): \(train.userCount) users, \(train.itemCount) items, "
            + "\(train.interactionCount) training interactions in \(formattedSeconds(loading.elapsedSeconds))")

        let training = Stopwatch()
        let parameters = HyperParameters(settings), history = TrainingHistory()
        let recommender = try ModelCatalog.train(model, settings: parameters, split: split,
                                                 threads: threads, progress: { console.progress($0) }, history: history)
        let trainSeconds = training.elapsedSeconds
        console.progress("trained \(model) in \(formattedSeconds(trainSeconds))")

        let evaluating = Stopwatch()
        let report = ModelTuning.evaluate(recommender, on: split.evaluation, threads: threads)
        let evalSeconds = evaluating.elapsedSeconds
        console.progress("evaluated \(report.userCount) users (\(split.evaluation.name)) in \(formattedSeconds(evalSeconds))")

        console.result("\(model) on \(split.name): \(report)")
        var metrics: [String: Double] = [:]
        for name in report.names { metrics[name] = report[name] }
        try modelRun.record("evaluate", parameters: parameters, history: history, metrics: metrics, artifacts: [],
                            seconds: trainSeconds + evalSeconds, console: console)
        if json {
            var object: [String: Any] = ["model": model, "dataset": dataset.description, "protocol": split.evaluation.name,
                                         "users": report.userCount, "train_seconds": trainSeconds,
                                         "eval_seconds": evalSeconds]
            object.merge(metrics) { $1 }
            console.result(try jsonObjectLine(object))
        }
    }
}
