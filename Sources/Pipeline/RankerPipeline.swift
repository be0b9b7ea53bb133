import BuildInfo
import Events
import Experiments
import Features
import Foundation
import Ranking
import Registry
import RummageCore
import Training

/// A surface's learned ranker, trained from the event log and registered like any model:
///
/// ```
/// data (RankerTrainingSet: impressions labelled by engagement, point-in-time features)
///   → train (gradient-boosted trees, LambdaMART) → evaluate (NDCG@20 on the held-out, newest lists)
///   → gate → register → promote
/// ```
///
/// The evaluation ranks each held-out list three ways: by the ranker, by retrieval's score (what the
/// surface serves without a ranker) and in the order it was shown. The gate asks the ranker to beat
/// retrieval's order, to be no more than 0.005 below the version its alias holds, and its saved model to
/// load and score as trained. A version holds `ranker.json` (XGBoost's JSON) and `ranker-features.json`
/// (the columns, in order, and the feature set's version).
public enum RankerPipeline {
    public static let artifactKind = "xgboost-ranker"
    /// How far below the current holder of the alias a new version's NDCG may be.
    public static let tolerance = 0.005
    /// The NDCG cut-off of training's evaluation, the held-out metrics and the gate: a surface's page.
    public static let cutoff = 20
    /// The version's metric: `ndcg@20`; `[retrieval]` and `[logged]` suffixes name the other orders'.
    public static let metric = "ndcg@\(cutoff)"

    /// The gate's off-policy check: the candidate's CTR against the champion's (retrieval's order when the
    /// alias holds none), estimated (doubly robust, `RankerOffPolicyEvaluation`) on the fully explored lists
    /// of `surface` that the ranker did not train on.
    public struct OffPolicyGate: Sendable {
        public var surface: String
        /// The lower end of the uplift's 95 % interval must reach this.
        public var minimumUplift: Double
        /// The estimate is refused as too weak below this effective sample size (`OffPolicyEstimates`).
        public var minimumEffectiveSampleSize: Double

        public static let defaultMinimumEffectiveSampleSize = 1_000.0

        public init(surface: String, minimumUplift: Double = 0, minimumEffectiveSampleSize: Double = Self.defaultMinimumEffectiveSampleSize) {
            (self.surface, self.minimumUplift, self.minimumEffectiveSampleSize) = (surface, minimumUplift, minimumEffectiveSampleSize)
        }
    }

    public struct Result: Sendable {
        public var manifest: Manifest
        public var gate: GateReport
    }

    /// Reads `key=value` settings: `rounds`, `max_depth`, `eta`, `min_child_weight`, `subsample`, `lambda`,
    /// `objective` (`rank:ndcg` or `binary:logistic`), `seed`; unknown keys are refused.
    public static func parameters(_ settings: HyperParameters, threads: Int) throws(TrainingError) -> GradientBoostedTrees.Parameters {
        var p = GradientBoostedTrees.Parameters()
        p.evaluationCutoff = cutoff
        p.rounds = try settings.int("rounds", default: p.rounds, in: 1...100_000)
        p.maxDepth = try settings.int("max_depth", default: p.maxDepth, in: 1...32)
        p.learningRate = try settings.double("eta", default: p.learningRate, in: 1e-6...1)
        p.minChildWeight = try settings.double("min_child_weight", default: p.minChildWeight, in: 0...1e6)
        p.subsample = try settings.double("subsample", default: p.subsample, in: 0.01...1)
        p.l2 = try settings.double("lambda", default: p.l2, in: 0...1e6)
        p.objective = GradientBoostedTrees.Parameters.Objective(rawValue: try settings.string(
            "objective", default: p.objective.rawValue, allowed: GradientBoostedTrees.Parameters.Objective.allCases.map(\.rawValue)))!
        p.seed = UInt64(try settings.int("seed", default: Int(p.seed), in: 0...Int.max))
        p.threads = threads
        try settings.checkAllUsed(model: artifactKind)
        return p
    }

    /// Trains, evaluates, gates and registers the ranker of `surface` from `events` (the log as of a time);
    /// promotes it to `alias` when blessed.
    public static func run(events: [Event], data: String, logSequence: Int64?, surface: String, registry: ModelRegistry,
                           model: String, alias: String, settings: HyperParameters, threads: Int, offPolicy: OffPolicyGate? = nil,
                           progress: @Sendable (String) -> Void) throws -> Result {
        let parameters = try parameters(settings, threads: threads)
        let set = RankerTrainingSet.build(events: events, options: .init(surface: surface))
        progress("ranker: \(set.impressions) impressions of surface '\(surface)', \(set.engaged) engaged; "
                 + "\(set.training.groups.count) lists to train on, \(set.validation.groups.count) held out"
                 + (set.validationRandomized ? " (fully explored lists)" : " (the newest; no fully explored lists to hold out)"))
        guard !set.training.groups.isEmpty, !set.validation.groups.isEmpty else {
            throw TrainingError(.invalidData, "not enough engaged impressions of surface '\(surface)' to train and evaluate a ranker "
                                + "(\(set.training.groups.count) lists to train on, \(set.validation.groups.count) to evaluate): log them with "
                                + "the surface's log_impressions: true, and send events with their ranking_id")
        }
        let clock = Stopwatch()
        let ranker = try GradientBoostedTrees.train(set.training, parameters: parameters, validation: set.validation) { round, value in
            if (round + 1) % 50 == 0 || round + 1 == parameters.rounds {
                progress("ranker: round \(round + 1)/\(parameters.rounds)" + (value.map { String(format: ", validation \(Self.metric) %.4f", $0) } ?? ""))
            }
        }
        progress("ranker: trained in \(formattedSeconds(clock.elapsedSeconds))")
        let columns = RankingFeatures.names.count, retrieval = RankingFeatures.names.firstIndex(of: "retrieval_score")!
        let validation = set.validation
        let scores = try ranker.predict(validation.values, columns: columns)
        let retrievalScores = (0..<validation.count).map { validation.values[$0 * columns + retrieval] }
        // Rows of a list are in the order they were shown.
        var shownOrder: [Float] = []
        for size in validation.groups { shownOrder += (0..<size).map { Float(-$0) } }
        let metric = Self.metric, ranked = validation.meanNDCG(scores: scores, cutoff: cutoff)
        let retrievalOrder = validation.meanNDCG(scores: retrievalScores, cutoff: cutoff)
        // The gain over retrieval's order, paired by list, with its 95 % interval.
        let gain = RatioEstimate(mean: zip(validation.ndcgPerGroup(scores: scores, cutoff: cutoff),
                                           validation.ndcgPerGroup(scores: retrievalScores, cutoff: cutoff)).compactMap { a, b in
            a.flatMap { a in b.map { a - $0 } }
        })
        var metrics: [String: Double] = [
            metric: ranked, metric + "[retrieval]": retrievalOrder,
            metric + "[logged]": validation.meanNDCG(scores: shownOrder, cutoff: cutoff),
            metric + "_gain": gain.value, metric + "_gain_low": gain.interval95.low, metric + "_gain_high": gain.interval95.high,
            "impressions": Double(set.impressions), "engaged_impressions": Double(set.engaged),
            "training_lists": Double(set.training.groups.count), "validation_lists": Double(validation.groups.count),
            "validation_randomized": set.validationRandomized ? 1 : 0,
        ]
        progress(String(format: "ranker: held-out \(metric) %.4f (retrieval's order %.4f, as shown %.4f); gain %+.4f [%+.4f, %+.4f]",
                        ranked, retrievalOrder, metrics[metric + "[logged]"]!, gain.value, gain.interval95.low, gain.interval95.high))

        let staging = NSTemporaryDirectory() + "rummage-ranker-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let json = try ranker.modelJSON()
        try TextFile.write(json, to: staging + "/" + RankerFiles.model)
        let description = try JSONSerialization.data(withJSONObject: ["columns": RankingFeatures.names, "surface": surface,
                                                                      "feature_set_version": FeatureSet.marketplace.version],
                                                     options: [.prettyPrinted, .sortedKeys])
        try description.write(to: URL(fileURLWithPath: staging + "/" + RankerFiles.columns))

        let champion = registry.aliases(model)[alias]
        let baseline = try champion.map { version throws(RegistryError) in (version, try registry.manifest(model, version).metrics) }
        var checks = [GateReport.Check(name: "\(metric) ≥ retrieval's order", passed: ranked >= retrievalOrder,
                                       detail: String(format: "%.4f against %.4f", ranked, retrievalOrder))]
        if let (version, old) = baseline, let previous = old[metric] {
            checks.append(.init(name: "\(metric) ≥ v\(version)'s − \(tolerance)", passed: ranked >= previous - tolerance,
                                detail: String(format: "%.4f against %.4f", ranked, previous)))
        }
        if let offPolicy {
            let (check, values) = try offPolicyChecks(offPolicy, events: events, set: set, ranker: ranker, registry: registry, model: model,
                                                      champion: champion, threads: threads, progress: progress)
            checks += check
            metrics.merge(values) { $1 }
        }
        let reloaded = try GradientBoostedTrees(modelJSON: json).predict(validation.values, columns: columns)
        checks.append(.init(name: "artifact loads and answers", passed: reloaded == scores,
                            detail: "\(RankerFiles.model) scores the \(validation.count) held-out rows " + (reloaded == scores ? "as trained" : "differently")))
        let next = (registry.versions(model).last ?? 0) + 1
        let gate = GateReport(candidate: "\(model) v\(next)", baseline: baseline.map { "\(model) v\($0.0) (\(alias))" }, checks: checks)
        try gate.json.write(to: URL(fileURLWithPath: staging + "/gate.json"))
        try Data(gate.markdown.utf8).write(to: URL(fileURLWithPath: staging + "/gate.md"))

        var hasher = SHA256Hasher()
        hasher.update("\(data) surface \(surface) impressions \(set.impressions) engaged \(set.engaged)\n")
        let manifest = Manifest(
            model: model, version: 0, kind: artifactKind, configuration: settings.resolved, seed: parameters.seed, threads: threads,
            dataFingerprint: hasher.finalize(), data: "\(data): impressions of surface '\(surface)'",
            featureSetVersion: FeatureSet.marketplace.version, codeVersion: BuildInfo.codeVersion, toolchain: BuildInfo.toolchain,
            hardware: BuildInfo.hardware, metrics: metrics, artifacts: [:], createdAt: ISO8601DateFormatter().string(from: Date()),
            parent: champion, blessed: gate.blessed, gateReport: "gate.md").withData(schemaVersion: nil, logSequence: logSequence)
        let files = [RankerFiles.model, RankerFiles.columns, "gate.json", "gate.md"]
        let stored = try registry.register(manifest, artifacts: Dictionary(uniqueKeysWithValues: files.map { ($0, staging + "/" + $0) }))
        progress("ranker: registered \(model) v\(stored.version); gate \(gate.blessed ? "blessed" : "NOT blessed")")
        if gate.blessed {
            try registry.setAlias(model, alias, to: stored.version)
            progress("ranker: \(alias) → v\(stored.version)")
        }
        return Result(manifest: stored, gate: gate)
    }

    /// The off-policy gate's checks (uplift's lower bound, effective sample size) and the metrics it records.
    static func offPolicyChecks(_ gate: OffPolicyGate, events: [Event], set: RankerTrainingSet, ranker: GradientBoostedTrees, registry: ModelRegistry,
                                model: String, champion: Int?, threads: Int,
                                progress: @Sendable (String) -> Void) throws -> ([GateReport.Check], [String: Double]) {
        let upliftName = String(format: "off-policy CTR uplift ≥ %g (95 %% lower bound)", gate.minimumUplift)
        let sizeName = String(format: "off-policy effective sample size ≥ %g", gate.minimumEffectiveSampleSize)
        let explored = ExploredLists.build(events: events, surface: gate.surface) { !set.trainingLists.contains($0.rankingID ?? "") }
        guard !explored.lists.isEmpty else {
            let detail = "no fully explored lists of surface '\(gate.surface)' that the ranker did not train on (docs/experiments.md, \"Off-policy evaluation of a ranker\")"
            return ([.init(name: upliftName, passed: false, detail: detail), .init(name: sizeName, passed: false, detail: detail)], [:])
        }
        let baseline = try champion.map { version in
            try RankerFiles.load(files: try registry.verify(model, version), version: "\(model) v\(version)", columns: RankingFeatures.names, threads: threads)
        }
        let evaluation = try RankerOffPolicyEvaluation(explored, rows: explored.rankerRows(events: events), candidate: ranker, baseline: baseline)
        let against = champion.map { "v\($0)" } ?? "retrieval's order"
        let candidate = evaluation.candidate.doublyRobust!, reference = evaluation.baseline.doublyRobust!, uplift = evaluation.uplift.doublyRobust!
        let size = evaluation.candidate.effectiveSampleSize
        progress(String(format: "ranker: off-policy on %d explored lists of '%@': CTR %.4f against %.4f (%@), uplift %+.4f [%+.4f, %+.4f], effective sample size %.0f",
                        evaluation.lists, gate.surface, candidate.value, reference.value, against, uplift.value, uplift.low, uplift.high, size))
        let checks: [GateReport.Check] = [
            .init(name: upliftName, passed: uplift.low >= gate.minimumUplift,
                  detail: String(format: "%+.4f [%+.4f, %+.4f]: CTR %.4f against %.4f (%@), doubly robust, %d explored lists",
                                 uplift.value, uplift.low, uplift.high, candidate.value, reference.value, against, evaluation.lists)),
            .init(name: sizeName, passed: size >= gate.minimumEffectiveSampleSize,
                  detail: String(format: "%.0f of %d slots", size, evaluation.candidate.rounds)),
        ]
        return (checks, ["ope_ctr": candidate.value, "ope_ctr_baseline": reference.value, "ope_uplift": uplift.value, "ope_uplift_low": uplift.low,
                         "ope_uplift_high": uplift.high, "ope_effective_sample_size": size, "ope_lists": Double(evaluation.lists)])
    }
}
