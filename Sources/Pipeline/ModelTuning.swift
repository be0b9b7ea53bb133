import Datasets
import Evaluation
import Foundation
import RummageCore
import Training

/// `rummage tune`: a seeded search over a model's settings, each trial trained and evaluated on a
/// validation split carved from the training part alone (`Split.validation`), so that the settings a
/// model ships with are never chosen on a test split.
public enum ModelTuning {
    /// One setting's candidate values.
    public struct Dimension: Sendable {
        public var key: String
        public var values: [String]
        public init(_ key: String, _ values: [String]) { (self.key, self.values) = (key, values) }
    }

    /// The settings searched per model kind, on log-spaced grids around each model's usual range.
    public static let spaces: [String: [Dimension]] = [
        "ease": [.init("l2", ["10", "30", "100", "300", "1000", "3000", "10000"])],
        "graph-filter": [.init("low_pass", ["32", "64", "128", "256", "512"]), .init("ideal_weight", ["0", "0.3", "1", "3", "10", "30"])],
        "itemknn": [.init("neighbours", ["20", "50", "100", "200", "500"]), .init("shrink", ["0", "10", "50", "200"])],
        // Rendle et al. 2022's formulation: unobserved weight, frequency-scaled regularisation.
        "ials": [.init("factors", ["128", "256", "512"]), .init("unobserved_weight", ["0.03", "0.1", "0.3", "1"]),
                 .init("regularization", ["0.003", "0.01", "0.03", "0.1"]), .init("regularization_exponent", ["1"])],
        "bpr": [.init("factors", ["32", "64", "128"]), .init("learning_rate", ["0.01", "0.05", "0.1"]),
                .init("regularization", ["0.0005", "0.002", "0.01"])],
        "two-tower": [.init("dimension", ["32", "64", "128"]), .init("temperature", ["0.05", "0.1", "0.2"]),
                      .init("learning_rate", ["0.003", "0.01", "0.03"])],
    ]

    public struct Trial: Sendable, Codable {
        public var number: Int
        public var settings: [String: String]
        public var metrics: [String: Double]
        public var seconds: Double
    }

    public struct Result: Sendable {
        /// The metric trials are compared on (higher is better).
        public var metric: String
        /// Every trial, in the order run.
        public var trials: [Trial]
        /// The best trial (the first of equals).
        public var best: Trial { trials.max { ($0.metrics[metric] ?? 0, -$0.number) < ($1.metrics[metric] ?? 0, -$1.number) }! }
    }

    /// The metric a split's protocol is judged on by default: NDCG@10 sampled, NDCG@20 full ranking.
    public static func defaultMetric(_ evaluation: EvaluationProtocol) -> String {
        switch evaluation {
        case .sampled: "ndcg@10"
        case .fullRanking: "ndcg@20"
        }
    }

    /// The grid's points to try: all of them in order when there are at most `budget`, else `budget`
    /// distinct points drawn with `seed`.
    public static func points(_ space: [Dimension], budget: Int, seed: UInt64) -> [[String: String]] {
        let total = space.reduce(1) { $0 * $1.values.count }
        var indices = Array(0..<total)
        if total > budget {
            var rng = SeededGenerator(seed: seed)
            for i in 0..<budget { indices.swapAt(i, i + rng.nextInt(below: total - i)) }
            indices = Array(indices.prefix(budget))
        }
        return indices.map { index in
            var rest = index, point: [String: String] = [:]
            for dimension in space.reversed() {
                point[dimension.key] = dimension.values[rest % dimension.values.count]
                rest /= dimension.values.count
            }
            return point
        }
    }

    /// Runs up to `budget` trials of `model` on `validation` (a split from `Split.validation`), each with
    /// `fixed` settings besides the point tried; `trialDone` hears of each trial as it ends.
    public static func run(model: String, validation: Split, budget: Int, seed: UInt64, fixed: [(key: String, value: String)] = [],
                           metric: String? = nil, threads: Int, trialDone: (Trial, Int) -> Void = { _, _ in }) throws -> Result {
        guard let space = spaces[model] else {
            throw TrainingError(.unknownModel, "nothing to tune in '\(model)'; models with settings to tune: "
                                + spaces.keys.sorted().joined(separator: ", "))
        }
        let searched = space.filter { dimension in !fixed.contains { $0.key == dimension.key } }
        let points = points(searched, budget: budget, seed: seed)
        let metric = metric ?? defaultMetric(validation.evaluation)
        var trials: [Trial] = []
        for (number, point) in points.enumerated() {
            let settings = fixed + point.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            let clock = Stopwatch()
            let recommender = try ModelCatalog.train(model, settings: HyperParameters(settings), split: validation, threads: threads,
                                                     progress: { _ in })
            let report = evaluate(recommender, on: validation.evaluation, threads: threads)
            guard report.names.contains(metric) else {
                throw TrainingError(.invalidHyperParameter, "no metric '\(metric)' in the validation protocol (\(report.names.joined(separator: ", ")))")
            }
            let trial = Trial(number: number + 1, settings: Dictionary(settings, uniquingKeysWith: { $1 }),
                              metrics: report.values, seconds: clock.elapsedSeconds)
            trials.append(trial)
            trialDone(trial, points.count)
        }
        return Result(metric: metric, trials: trials)
    }

    /// `recommender` evaluated with `evaluation`.
    public static func evaluate(_ recommender: any Recommender, on evaluation: EvaluationProtocol, threads: Int) -> MetricReport {
        switch evaluation {
        case .sampled(let spec): spec.evaluate(threads: threads) { user, items in recommender.scores(for: user, items: items) }
        case .fullRanking(let spec): spec.evaluate(threads: threads) { user, scores in recommender.scoreAll(for: user, into: scores) }
        }
    }
}
