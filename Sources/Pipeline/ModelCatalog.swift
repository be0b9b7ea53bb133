import Baselines
import Datasets
import Evaluation
import LinearAlgebra
import LinearModels
import MatrixFactorization
import RummageCore
import Training
import TwoTower

/// A kind of model Rummage trains: its name, how it reads its `key=value` settings (unknown keys
/// refused), how it trains, and, for kinds that save, the artifact kind and loader of its saved form.
/// Adding a model is adding one of these to `ModelCatalog.kinds`.
public protocol ModelKind: Sendable {
    /// The name `--kind` and a pipeline's `train.kind` use.
    static var name: String { get }
    /// The kind written in its saved artifact's header; nil for kinds that cannot be saved (and so
    /// cannot be registered or served).
    static var artifactKind: String? { get }
    /// Reads `settings` and trains on `split`'s training part. Settings every kind reads: `seed`
    /// (already in `context`).
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender
    /// Loads what `train` saved (kinds with an artifact kind).
    static func load(path: String) throws -> any PersistentRecommender
    /// Whether `train` returns a model that can be saved (registered, served): kinds with an artifact
    /// kind, and the import of a hand-off, whose models save as the kind they are.
    static var saves: Bool { get }
    /// Whether serving needs the loaded model (it embeds new listings from content, or runs a user side at
    /// request time); otherwise a version of this kind serves from its embeddings alone.
    static var servingUsesModel: Bool { get }
}

extension ModelKind {
    public static var artifactKind: String? { nil }
    public static var servingUsesModel: Bool { false }
    public static var saves: Bool { artifactKind != nil }
    public static func load(path: String) throws -> any PersistentRecommender {
        throw DataError(.invalidArgument, "\(name) models are not saved", path: path)
    }
}

/// Every model kind, by name.
public enum ModelCatalog {
    public static let kinds: [any ModelKind.Type] = [RandomKind.self, PopularityKind.self, CategoryPopularityKind.self, ItemKNNKind.self, EASEKind.self, GraphFilterKind.self,
                                                     ImplicitALSKind.self, BPRKind.self, TwoTowerKind.self, HandOffKind.self]
    /// Every kind's name.
    public static var names: [String] { kinds.map { $0.name } }
    /// The kinds whose trained form can be saved (registered, served).
    public static var persistentNames: [String] { kinds.filter { $0.saves }.map { $0.name } }

    public static func kind(named name: String) throws(TrainingError) -> any ModelKind.Type {
        guard let kind = kinds.first(where: { $0.name == name }) else {
            throw TrainingError(.unknownModel, "unknown model '\(name)'; models: \(names.joined(separator: ", "))")
        }
        return kind
    }

    /// Loads a saved model of any persistent kind, by the artifact kind its header names.
    public static func load(path: String) throws -> any PersistentRecommender {
        let artifact = try ArtifactReader(path: path).kind
        guard let kind = kinds.first(where: { $0.artifactKind == artifact }) else {
            throw DataError(.invalidArgument, "artifact holds a '\(artifact)', not a model", path: path)
        }
        return try kind.load(path: path)
    }

    /// What serving loads of a version's model artifact: the model when its kind serves through it, nil
    /// when the version serves from its embeddings alone (`Serving.ModelLoader`).
    public static func loadForServing(path: String) throws -> (any Recommender)? {
        let artifact = try ArtifactReader(path: path).kind
        guard let kind = kinds.first(where: { $0.artifactKind == artifact }) else {
            throw DataError(.invalidArgument, "artifact holds a '\(artifact)', not a model", path: path)
        }
        return kind.servingUsesModel ? try kind.load(path: path) : nil
    }

    /// Trains model `name` on the split's training part. Settings every model reads: `seed` (default 42).
    public static func train(_ name: String, settings: HyperParameters, split: Split, threads: Int,
                             progress: @escaping @Sendable (String) -> Void, history: TrainingHistory = TrainingHistory())
        throws(TrainingError) -> any Recommender {
        let kind = try kind(named: name)
        let seed = UInt64(try settings.int("seed", default: 42, in: 0...Int.max))
        let model = try kind.train(settings, split: split, context: TrainingContext(threads: threads, seed: seed, progress: progress,
                                                                                     history: history))
        try settings.checkAllUsed(model: name)
        return model
    }
}

struct RandomKind: ModelKind {
    static let name = "random"
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        RandomRecommender(userCount: split.train.userCount, itemCount: split.train.itemCount, seed: context.seed)
    }
}

struct PopularityKind: ModelKind {
    static let name = "toppop"
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        PopularityRecommender(training: split.train)
    }
}

struct CategoryPopularityKind: ModelKind {
    static let name = "category-pop"
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        func itemField(_ key: String, default value: String, extra: [String]) throws(TrainingError) -> CategoricalFeatures.Field? {
            let fields = split.itemFeatures.fields
            let fieldName = try settings.string(key, default: value, allowed: fields.map(\.name) + extra)
            if fieldName == "none" { return nil }
            guard let field = fields.first(where: { $0.name == fieldName }) else {
                throw TrainingError(.invalidData, "dataset has no item feature '\(fieldName)' (features: \(fields.map(\.name).joined(separator: ", ")))")
            }
            return field
        }
        let field = try itemField("field", default: "category", extra: ["category"])!
        let prior = try itemField("prior", default: "none", extra: ["none"])
        try settings.checkAllUsed(model: name)
        return CategoryPopularityRecommender(training: split.train, categories: field, prior: prior)
    }
}

struct ItemKNNKind: ModelKind {
    static let name = "itemknn"
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        let defaults = ItemKNNRecommender.Configuration()
        let configuration = ItemKNNRecommender.Configuration(
            neighbours: try settings.int("neighbours", default: defaults.neighbours, in: 1...1_000_000),
            shrink: Float(try settings.double("shrink", default: Double(defaults.shrink), in: 0...1e9)))
        try settings.checkAllUsed(model: name)
        return ItemKNNRecommender(training: split.train, configuration: configuration, context: context)
    }
}

struct EASEKind: ModelKind {
    static let name = "ease"
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        let l2 = try settings.double("l2", default: Double(EASERecommender.Configuration().l2), in: 1e-6...1e9)
        try settings.checkAllUsed(model: name)
        return try EASERecommender(training: split.train, configuration: .init(l2: Float(l2)), context: context)
    }
}

struct GraphFilterKind: ModelKind {
    static let name = "graph-filter"
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        let d = GraphFilterRecommender.Configuration()
        let configuration = GraphFilterRecommender.Configuration(
            lowPass: try settings.int("low_pass", default: d.lowPass, in: 0...100_000),
            idealWeight: Float(try settings.double("ideal_weight", default: Double(d.idealWeight), in: 0...1e6)),
            powerIterations: try settings.int("power_iterations", default: d.powerIterations, in: 0...100))
        try settings.checkAllUsed(model: name)
        return try GraphFilterRecommender(training: split.train, configuration: configuration, context: context)
    }
}

struct ImplicitALSKind: ModelKind {
    static let name = "ials"
    static let artifactKind: String? = FactorizationModel.artifactKind
    static func load(path: String) throws -> any PersistentRecommender { try FactorizationModel.load(from: path) }
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        var c = ImplicitALS.Configuration()
        c.factors = try settings.int("factors", default: c.factors, in: 1...4096)
        c.iterations = try settings.int("iterations", default: c.iterations, in: 0...100_000)
        c.regularization = Float(try settings.double("regularization", default: Double(c.regularization), in: 0...1e6))
        c.alpha = Float(try settings.double("alpha", default: Double(c.alpha), in: 0...1e6))
        // 0: Hu et al.'s loss; above 0: Rendle et al.'s with that unobserved weight.
        let unobserved = try settings.double("unobserved_weight", default: Double(c.unobservedWeight ?? 0), in: 0...1e6)
        c.unobservedWeight = unobserved > 0 ? Float(unobserved) : nil
        c.regularizationExponent = Float(try settings.double("regularization_exponent", default: Double(c.regularizationExponent), in: 0...4))
        c.cgSteps = try settings.int("cg_steps", default: c.cgSteps, in: 1...1000)
        c.lossEvery = try settings.int("loss_every", default: c.lossEvery, in: 0...100_000)
        let solver = try settings.string("solver", default: c.solver.rawValue, allowed: ImplicitALS.Solver.allCases.map(\.rawValue))
        c.solver = ImplicitALS.Solver(rawValue: solver)!
        if c.solver == .cholesky && c.regularization == 0 {
            throw TrainingError(.invalidHyperParameter, "solver=cholesky needs regularization > 0")
        }
        try settings.checkAllUsed(model: name)
        return ImplicitALS.fit(split.train, configuration: c, context: context)
    }
}

struct BPRKind: ModelKind {
    static let name = "bpr"
    static let artifactKind: String? = FactorizationModel.artifactKind
    static func load(path: String) throws -> any PersistentRecommender { try FactorizationModel.load(from: path) }
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        var c = BPR.Configuration()
        c.factors = try settings.int("factors", default: c.factors, in: 1...4096)
        c.epochs = try settings.int("epochs", default: c.epochs, in: 0...100_000)
        c.learningRate = Float(try settings.double("learning_rate", default: Double(c.learningRate), in: 1e-9...1e3))
        c.regularization = Float(try settings.double("regularization", default: Double(c.regularization), in: 0...1e6))
        let sampling = try settings.string("negatives", default: c.negativeSampling.rawValue, allowed: BPR.NegativeSampling.allCases.map(\.rawValue))
        c.negativeSampling = BPR.NegativeSampling(rawValue: sampling)!
        c.popularityExponent = try settings.double("popularity_exponent", default: c.popularityExponent, in: 0...4)
        let optimizer = try settings.string("optimizer", default: c.optimizer.rawValue, allowed: BPR.Optimizer.allCases.map(\.rawValue))
        c.optimizer = BPR.Optimizer(rawValue: optimizer)!
        c.initScale = Float(try settings.double("init_scale", default: Double(c.initScale), in: 0...10))
        try settings.checkAllUsed(model: name)
        return BPR.fit(split.train, configuration: c, context: context)
    }
}

struct TwoTowerKind: ModelKind {
    static let name = "two-tower"
    static let servingUsesModel = true
    static let artifactKind: String? = TwoTowerModel.artifactKind
    static func load(path: String) throws -> any PersistentRecommender { try TwoTowerModel.load(from: path) }
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        var c = TwoTowerConfiguration()
        c.dimension = try settings.int("dimension", default: c.dimension, in: 1...4096)
        c.hiddenLayers = try settings.intList("hidden", default: c.hiddenLayers, in: 1...65536)
        c.temperature = Float(try settings.double("temperature", default: Double(c.temperature), in: 1e-4...100))
        c.epochs = try settings.int("epochs", default: c.epochs, in: 0...10_000)
        c.batchSize = try settings.int("batch_size", default: c.batchSize, in: 2...1_000_000)
        c.learningRate = Float(try settings.double("learning_rate", default: Double(c.learningRate), in: 1e-9...10))
        c.optimizer = Optimizer.Kind(rawValue: try settings.string("optimizer", default: c.optimizer.rawValue,
                                                                   allowed: Optimizer.Kind.allCases.map(\.rawValue)))!
        c.lazyTables = try settings.string("lazy_tables", default: c.lazyTables ? "true" : "false", allowed: ["true", "false"]) == "true"
        c.schedule = LearningRateSchedule.Decay(rawValue: try settings.string(
            "schedule", default: c.schedule.rawValue, allowed: LearningRateSchedule.Decay.allCases.map(\.rawValue)))!
        c.warmupSteps = try settings.int("warmup", default: c.warmupSteps, in: 0...10_000_000)
        c.clipNorm = Float(try settings.double("clip_norm", default: Double(c.clipNorm), in: 0...1e9))
        c.logQWeight = Float(try settings.double("logq_weight", default: Double(c.logQWeight), in: 0...1))
        c.loss = TwoTowerConfiguration.Loss(rawValue: try settings.string("loss", default: c.loss.rawValue,
                                                                          allowed: TwoTowerConfiguration.Loss.allCases.map(\.rawValue)))!
        c.margin = Float(try settings.double("margin", default: Double(c.margin), in: -1...1))
        c.negativeWeight = Float(try settings.double("negative_weight", default: Double(c.negativeWeight), in: 0...1e6))
        c.extraNegatives = try settings.int("negatives", default: c.loss == .ccl ? 1_000 : c.extraNegatives, in: 0...1_000_000)
        c.itemIDDropout = Float(try settings.double("id_dropout", default: Double(c.itemIDDropout), in: 0...1))
        c.historyLength = try settings.int("history", default: c.historyLength, in: 0...100_000)
        c.useContent = try settings.string("content", default: c.useContent ? "true" : "false", allowed: ["true", "false"]) == "true"
        c.validationUsers = try settings.int("validation_users", default: c.validationUsers, in: 0...100_000_000)
        c.patience = try settings.int("patience", default: c.patience, in: 1...10_000)
        let useStore = try settings.string("features", default: "false", allowed: ["true", "false"]) == "true"
        try settings.checkAllUsed(model: name)
        var dynamic: DynamicFeatures? = nil
        if useStore {
            guard let marketplace = split.marketplace else {
                throw TrainingError(.invalidHyperParameter, "features=true needs time-stamped events: a synthetic:DIR dataset")
            }
            let clock = Stopwatch()
            dynamic = MarketplaceDynamicFeatures.build(split: split, data: marketplace.data, splitTime: marketplace.splitTime)
            context.progress("two-tower: point-in-time features from the feature store for \(split.train.interactionCount) "
                             + "training interactions in \(formattedSeconds(clock.elapsedSeconds))")
        }
        return TwoTowerTrainer.fit(split.train, userFeatures: split.userFeatures, itemFeatures: split.itemFeatures,
                                   dynamic: dynamic, configuration: c, context: context)
    }
}

/// A model trained elsewhere, imported from a hand-off directory (`--set path=DIR`; docs/scientists.md):
/// an embeddings hand-off becomes a matrix-factorization model (scores are dot products), a two-tower
/// hand-off a two-tower model after its golden outputs reproduce. Either is mapped onto the split's
/// users and items by id, so it is evaluated, gated, registered and served like a model trained here.
struct HandOffKind: ModelKind {
    static let name = "handoff"
    static let saves = true
    static func train(_ settings: HyperParameters, split: Split, context: TrainingContext) throws(TrainingError) -> any Recommender {
        let path = try settings.requiredString("path", model: name)
        try settings.checkAllUsed(model: name)
        do {
            let handOff = try HandOff.read(directory: path)
            context.progress("handoff: \(handOff.specification.kind.rawValue) hand-off \(path) (\(handOff.userIDs.count) users, "
                             + "\(handOff.itemIDs.count) items; sha256 \(handOff.sha256.prefix(12))…)")
            for (key, value) in handOff.provenance { context.history.note(key, value) }
            let model: any Recommender, parity: ParityReport
            switch handOff.specification.kind {
            case .embeddings:
                let mapped = try handOff.embeddingMatrices(userIDs: split.userIDs, itemIDs: split.itemIDs)
                (model, parity) = (FactorizationModel(algorithm: name, userFactors: mapped.users, itemFactors: mapped.items), mapped.report)
            case .twoTower:
                (model, parity) = try handOff.twoTowerModel(userIDs: split.userIDs, itemIDs: split.itemIDs, userFeatures: split.userFeatures,
                                                            itemFeatures: split.itemFeatures, threads: context.threads)
            }
            context.history.note("parity_max_abs_error", String(parity.maxAbsError))
            context.history.note("parity_tensors", parity.comparisons.map(\.tensor).joined(separator: ","))
            context.history.note("matched", "\(parity.usersMatched)/\(parity.users) users, \(parity.itemsMatched)/\(parity.items) items")
            context.progress("handoff: \(parity.summary)")
            return model
        } catch {
            throw TrainingError(.invalidData, "cannot import \(path): \(error)")
        }
    }
}
