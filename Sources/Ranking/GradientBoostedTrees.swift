import CXGBoost
import Foundation

/// Gradient-boosted trees through XGBoost's C API (libxgboost, Debian): trained on rows of float
/// features with labels and, for ranking objectives, query groups (one group per served list), and
/// applied to rows at request time.
///
/// Objectives: `rank:ndcg` (LambdaMART: gradients of pairwise swaps weighted by their change in NDCG, so
/// the top of a list matters most; graded labels) and `binary:logistic` (a click probability per row).
/// Training is deterministic for a seed and a thread count. A model is kept and moved as XGBoost's own
/// JSON (`modelJSON`), which XGBoost reads back exactly.
///
/// `predict` scores with the trees laid out as complete binary trees (`CompleteTreeForest`: the same
/// scores, faster than XGBoost's own per-row walk), or for models that
/// layout does not cover with XGBoost's in-place prediction, which XGBoost makes safe to call from
/// several threads on one booster; a served model is shared.
public final class GradientBoostedTrees: @unchecked Sendable {
    // @unchecked because: the booster handle is only read after training (prediction is thread-safe in
    // XGBoost ≥ 1.4) and freed in deinit; `forest` is set before the model is handed out.
    private let booster: BoosterHandle
    private var forest: CompleteTreeForest?

    /// Settings of a training run (XGBoost's parameter names in brackets).
    public struct Parameters: Sendable, Equatable {
        public enum Objective: String, Sendable, CaseIterable {
            case lambdaMART = "rank:ndcg"
            case logistic = "binary:logistic"
        }

        public var objective: Objective = .lambdaMART
        /// Boosting rounds (trees).
        public var rounds = 100
        /// [max_depth]
        public var maxDepth = 6
        /// Learning rate [eta].
        public var learningRate = 0.1
        /// [min_child_weight]
        public var minChildWeight = 1.0
        /// Row sampling per tree [subsample]; 1 keeps every row (and the run independent of the seed).
        public var subsample = 1.0
        /// L2 regularisation of leaf weights [lambda].
        public var l2 = 1.0
        /// NDCG is computed at this cut-off for `rank:ndcg`'s evaluation [eval_metric ndcg@k].
        public var evaluationCutoff = 10
        public var seed: UInt64 = 42
        /// [nthread]
        public var threads = 1

        public init() {}

        var pairs: [(String, String)] {
            [("objective", objective.rawValue), ("max_depth", String(maxDepth)), ("eta", String(learningRate)),
             ("min_child_weight", String(minChildWeight)), ("subsample", String(subsample)), ("lambda", String(l2)),
             ("seed", String(seed)), ("nthread", String(threads)), ("tree_method", "hist"), ("verbosity", "0"),
             ("eval_metric", objective == .lambdaMART ? "ndcg@\(evaluationCutoff)" : "logloss")]
        }
    }

    /// Rows of features: `values` row-major, `columns` per row; labels and group sizes for training.
    public struct Rows: Sendable {
        public var values: [Float]
        public var columns: Int
        public var labels: [Float]
        /// Consecutive rows that form one list (ranking objectives); empty for `binary:logistic`.
        public var groups: [Int]

        public init(values: [Float], columns: Int, labels: [Float] = [], groups: [Int] = []) {
            precondition(columns > 0 && values.count % columns == 0)
            self.values = values
            self.columns = columns
            self.labels = labels
            self.groups = groups
        }

        public var count: Int { values.count / columns }
    }

    private init(booster: BoosterHandle) { self.booster = booster }

    deinit { XGBoosterFree(booster) }

    /// Trains on `training`; with `validation`, reports its metric after each round through `progress`
    /// (round, value). Throws when XGBoost refuses the data or a parameter.
    public static func train(_ training: Rows, parameters: Parameters, validation: Rows? = nil,
                             progress: (Int, Double?) -> Void = { _, _ in }) throws(RankingError) -> GradientBoostedTrees {
        guard training.labels.count == training.count else {
            throw RankingError("\(training.labels.count) labels for \(training.count) rows")
        }
        if parameters.objective == .lambdaMART && training.groups.reduce(0, +) != training.count {
            throw RankingError("groups cover \(training.groups.reduce(0, +)) rows of \(training.count)")
        }
        let train = try matrix(training, withLabels: true)
        defer { XGDMatrixFree(train) }
        let check = try validation.map { rows throws(RankingError) in try matrix(rows, withLabels: true) }
        defer { if let check { XGDMatrixFree(check) } }
        var handles: [DMatrixHandle?] = [train] + (check.map { [$0] } ?? [])
        var booster: BoosterHandle? = nil
        try call(XGBoosterCreate(&handles, bst_ulong(handles.count), &booster))
        let model = GradientBoostedTrees(booster: booster!)
        for (key, value) in parameters.pairs { try call(XGBoosterSetParam(booster, key, value)) }
        for round in 0..<parameters.rounds {
            try call(XGBoosterUpdateOneIter(booster, Int32(round), train))
            guard let check else { progress(round, nil); continue }
            var evalHandles: [DMatrixHandle?] = [check]
            var names: [UnsafePointer<CChar>?] = []
            var result: UnsafePointer<CChar>? = nil
            let status = "validation".withCString { name in
                names = [name]
                return XGBoosterEvalOneIter(booster, Int32(round), &evalHandles, &names, 1, &result)
            }
            try call(status)
            // "[round]\tvalidation-ndcg@10:0.83"
            let text = result.map { String(cString: $0) } ?? ""
            progress(round, text.split(separator: ":").last.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) })
        }
        model.forest = CompleteTreeForest(modelJSON: try model.modelJSON())
        return model
    }

    /// One score per row of `values` (row-major, `columns` per row): higher ranks first; NaN is missing.
    public func predict(_ values: [Float], columns: Int) throws(RankingError) -> [Float] {
        let rows = Rows(values: values, columns: columns)
        guard rows.count > 0 else { return [] }
        if let forest, columns >= forest.featureCount, let scores = forest.predict(values, columns: columns) { return scores }
        return try predictInPlace(values, columns: columns)
    }

    /// Whether `predict` uses the complete-tree layout (false: XGBoost's own prediction).
    public var usesCompleteTrees: Bool { forest != nil }

    /// XGBoost's in-place prediction on the caller's buffer (`inplace_predict`: no DMatrix is built).
    private func predictInPlace(_ values: [Float], columns: Int) throws(RankingError) -> [Float] {
        let rows = Rows(values: values, columns: columns)
        guard rows.count > 0 else { return [] }
        var shape: UnsafePointer<bst_ulong>? = nil
        var dimension: bst_ulong = 0
        var result: UnsafePointer<Float>? = nil
        let config = #"{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "cache_id": 0, "missing": NaN}"#
        try Self.call(values.withUnsafeBufferPointer { buffer in
            let address = UInt(bitPattern: buffer.baseAddress)
            let array = #"{"data": [\#(address), true], "shape": [\#(rows.count), \#(columns)], "typestr": "<f4", "version": 3}"#
            return XGBoosterPredictFromDense(booster, array, config, nil, &shape, &dimension, &result)
        })
        return Array(UnsafeBufferPointer(start: result, count: rows.count))
    }

    /// The same scores through a DMatrix (XGBoost's reference path, missing values as NaN): the oracle of
    /// `predict`'s tests.
    public func predictThroughMatrix(_ values: [Float], columns: Int) throws(RankingError) -> [Float] {
        try predictThroughMatrix(values, columns: columns, type: 0, outputsPerRow: 1)
    }

    /// XGBoost's prediction of `type` (0: scores, 2: contributions) through a DMatrix.
    private func predictThroughMatrix(_ values: [Float], columns: Int, type: Int, outputsPerRow: Int) throws(RankingError) -> [Float] {
        let rows = Rows(values: values, columns: columns)
        guard rows.count > 0 else { return [] }
        let data = try Self.matrix(rows, withLabels: false)
        defer { XGDMatrixFree(data) }
        var shape: UnsafePointer<bst_ulong>? = nil
        var dimension: bst_ulong = 0
        var result: UnsafePointer<Float>? = nil
        let config = #"{"type": \#(type), "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}"#
        try Self.call(XGBoosterPredictFromDMatrix(booster, data, config, &shape, &dimension, &result))
        return Array(UnsafeBufferPointer(start: result, count: rows.count * outputsPerRow))
    }

    /// Each row's per-feature contributions to its score (SHAP values, XGBoost's `pred_contribs`): `columns
    /// + 1` values per row, the last the bias; a row's sum is its score.
    public func contributions(_ values: [Float], columns: Int) throws(RankingError) -> [Float] {
        try predictThroughMatrix(values, columns: columns, type: 2, outputsPerRow: columns + 1)
    }

    /// Features the model was trained with.
    public var featureCount: Int {
        var count: bst_ulong = 0
        _ = XGBoosterGetNumFeature(booster, &count)
        return Int(count)
    }

    /// The model as XGBoost's JSON.
    public func modelJSON() throws(RankingError) -> [UInt8] {
        var length: bst_ulong = 0
        var bytes: UnsafePointer<CChar>? = nil
        try Self.call(XGBoosterSaveModelToBuffer(booster, #"{"format": "json"}"#, &length, &bytes))
        return bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(length))) } ?? []
    }

    /// A model from XGBoost's JSON (as `modelJSON` wrote it, or the `save_model` of XGBoost's Python package).
    /// `threads`: how many threads one prediction uses (serving: 1, as requests already run in parallel);
    /// nil: XGBoost's default, every core.
    public convenience init(modelJSON: [UInt8], threads: Int? = nil) throws(RankingError) {
        var booster: BoosterHandle? = nil
        try Self.call(XGBoosterCreate(nil, 0, &booster))
        self.init(booster: booster!)
        try Self.call(modelJSON.withUnsafeBytes { raw in XGBoosterLoadModelFromBuffer(booster, raw.baseAddress, bst_ulong(raw.count)) })
        if let threads { try Self.call(XGBoosterSetParam(booster, "nthread", String(threads))) }
        forest = CompleteTreeForest(modelJSON: modelJSON)
    }

    // MARK: XGBoost calls

    private static func matrix(_ rows: Rows, withLabels: Bool) throws(RankingError) -> DMatrixHandle {
        var handle: DMatrixHandle? = nil
        try call(rows.values.withUnsafeBufferPointer { values in
            XGDMatrixCreateFromMat(values.baseAddress, bst_ulong(rows.count), bst_ulong(rows.columns), Float.nan, &handle)
        })
        guard withLabels else { return handle! }
        do {
            try call(rows.labels.withUnsafeBufferPointer { labels in
                XGDMatrixSetFloatInfo(handle, "label", labels.baseAddress, bst_ulong(labels.count))
            })
            if !rows.groups.isEmpty {
                let groups = rows.groups.map { UInt32($0) }
                try call(groups.withUnsafeBufferPointer { groups in
                    XGDMatrixSetUIntInfo(handle, "group", groups.baseAddress, bst_ulong(groups.count))
                })
            }
        } catch {
            XGDMatrixFree(handle)
            throw error
        }
        return handle!
    }

    private static func call(_ status: Int32) throws(RankingError) {
        guard status == 0 else { throw RankingError("XGBoost: " + String(cString: XGBGetLastError())) }
    }
}

/// The files of a registered ranker version: XGBoost's JSON, and the columns it reads in order (with the
/// feature set's version and the surface), written by the training pipeline and checked by serving.
public enum RankerFiles {
    public static let model = "ranker.json"
    public static let columns = "ranker-features.json"

    /// The ranker among a registered version's `files` (name → path, as the registry verified them),
    /// named `version` in errors; refused when the version is not a ranker or its ranker reads other
    /// columns than `columns` (the features this build computes).
    public static func load(files: [String: String], version: String, columns: [String], threads: Int) throws(RankingError) -> GradientBoostedTrees {
        guard let modelPath = files[model], let columnsPath = files[self.columns] else {
            throw RankingError("\(version) is not a ranker (no \(model) and \(self.columns)): train it with 'rummage ranker train'")
        }
        let description = FileManager.default.contents(atPath: columnsPath)
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        guard let read = description?["columns"] as? [String], read == columns else {
            throw RankingError("\(version) reads other columns than this build computes (\(columns.joined(separator: ", "))): "
                               + "retrain it with this version of rummage")
        }
        guard let json = FileManager.default.contents(atPath: modelPath) else { throw RankingError("\(modelPath): cannot read") }
        return try GradientBoostedTrees(modelJSON: [UInt8](json), threads: threads)
    }
}

/// A refusal from XGBoost or of the rows given to it, with XGBoost's own message.
public struct RankingError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension GradientBoostedTrees.Rows {
    /// Mean NDCG@`cutoff` over the groups when each group's rows are ordered by `scores` (ties: the
    /// earlier row first), with gains 2^label − 1; groups without any positive label are left out.
    public func meanNDCG(scores: [Float], cutoff: Int) -> Double {
        let values = ndcgPerGroup(scores: scores, cutoff: cutoff).compactMap { $0 }
        return values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Each group's NDCG@`cutoff` as `meanNDCG` computes it (nil for a group without any positive label).
    public func ndcgPerGroup(scores: [Float], cutoff: Int) -> [Double?] {
        precondition(scores.count == count)
        var start = 0
        return groups.map { size in
            let labels = self.labels[start..<start + size].map(Double.init), ranked = Array(scores[start..<start + size])
            start += size
            func dcg(_ order: [Int]) -> Double {
                order.prefix(cutoff).enumerated().reduce(0) { $0 + (pow(2, labels[$1.element]) - 1) / log2(Double($1.offset) + 2) }
            }
            let ideal = dcg(labels.indices.sorted { (labels[$0], -$0) > (labels[$1], -$1) })
            guard ideal > 0 else { return nil }
            return dcg(ranked.indices.sorted { (ranked[$0], -$0) > (ranked[$1], -$1) }) / ideal
        }
    }
}
