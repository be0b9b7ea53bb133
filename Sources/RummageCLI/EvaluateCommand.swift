import ArgumentParsing
import Datasets
import Evaluation
import Foundation
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
        options: [
            .value("dataset", "SPEC", help: "Dataset as KIND:DIR.", required: true),
            .value("model", "NAME", help: "Model to train (\(ModelCatalog.names.joined(separator: ", "))).", required: true),
            .repeated("set", "KEY=VALUE", help: "Model setting, e.g. seed=7."),
            .value("threads", "N", help: "Worker threads for training and evaluation.", default: String(Parallel.defaultThreadCount)),
            .flag("json", help: "End stdout with one JSON object of metrics and timings."),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let dataset: DatasetSpec
    let model: String
    let settings: [(key: String, value: String)]
    let threads: Int
    let json: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        dataset = try DatasetSpec(parsing: try arguments.requiredString("dataset"))
        model = try arguments.requiredString("model")
        guard ModelCatalog.names.contains(model) else {
            throw UsageError("unknown model '\(model)'; models: \(ModelCatalog.names.joined(separator: ", "))")
        }
        settings = try arguments.keyValues("set")
        threads = try arguments.requiredInt("threads", in: 1...1024)
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let loading = Stopwatch()
        let split = try dataset.load()
        let train = split.train
        console.progress("loaded \(split.name): \(train.userCount) users, \(train.itemCount) items, "
            + "\(train.interactionCount) training interactions in \(seconds(loading.elapsedSeconds))")

        let training = Stopwatch()
        let recommender = try ModelCatalog.train(model, settings: HyperParameters(settings), split: split,
                                                 threads: threads, progress: { console.progress($0) })
        let trainSeconds = training.elapsedSeconds
        console.progress("trained \(model) in \(seconds(trainSeconds))")

        let evaluating = Stopwatch()
        let report: MetricReport
        switch split.evaluation {
        case .sampled(let protocolSpec):
            report = protocolSpec.evaluate(threads: threads) { user, items in recommender.scores(for: user, items: items) }
        case .fullRanking(let protocolSpec):
            report = protocolSpec.evaluate(threads: threads) { user, scores in recommender.scoreAll(for: user, into: scores) }
        }
        let evalSeconds = evaluating.elapsedSeconds
        console.progress("evaluated \(report.userCount) users (\(split.evaluation.name)) in \(seconds(evalSeconds))")

        console.result("\(model) on \(split.name): \(report)")
        if json {
            var object: [String: Any] = ["model": model, "dataset": dataset.description, "protocol": split.evaluation.name,
                                         "users": report.userCount, "train_seconds": trainSeconds,
                                         "eval_seconds": evalSeconds]
            for name in report.names { object[name] = report[name] }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            console.result(String(decoding: data, as: UTF8.self))
        }
    }
}
