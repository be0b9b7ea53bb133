import Baselines
import Datasets
import LinearAlgebra
import MatrixFactorization
import RummageCore
import Training
import TwoTower

/// Every model `rummage` can train, by name, with how its `--set key=value` settings are read.
enum ModelCatalog {
    /// Models whose trained form can be saved (`PersistentRecommender`).
    static let persistentNames = ["ials", "bpr", "two-tower"]
    static let names = ["random", "toppop", "category-pop", "itemknn", "ials", "bpr", "two-tower"]

    /// Loads a saved model of any persistent kind, by the kind its artifact names.
    static func load(path: String) throws -> any PersistentRecommender {
        let kind = try ArtifactReader(path: path).kind
        switch kind {
        case TwoTowerModel.artifactKind: return try TwoTowerModel.load(from: path)
        case FactorizationModel.artifactKind: return try FactorizationModel.load(from: path)
        default: throw DataError(.invalidArgument, "artifact holds a '\(kind)', not a model", path: path)
        }
    }

    /// A model's user or item vectors (`entity`: "users" or "items"), for models that have them.
    static func vectors(of model: any Recommender, entity: String) -> Matrix? {
        switch model {
        case let m as TwoTowerModel: entity == "items" ? m.itemEmbeddings : m.userEmbeddings
        case let m as FactorizationModel: entity == "items" ? m.itemFactors : m.userFactors
        default: nil
        }
    }

    /// Trains model `name` on the split's training part. Settings every model reads: `seed` (default 42).
    static func train(_ name: String, settings: HyperParameters, split: Split, threads: Int,
                      progress: @escaping @Sendable (String) -> Void, history: TrainingHistory = TrainingHistory())
        throws(TrainingError) -> any Recommender {
        let data = split.train
        let seed = UInt64(try settings.int("seed", default: 42, in: 0...Int.max))
        let context = TrainingContext(threads: threads, seed: seed, progress: progress, history: history)
        let model: any Recommender
        switch name {
        case "random":
            model = RandomRecommender(userCount: data.userCount, itemCount: data.itemCount, seed: seed)
        case "toppop":
            model = PopularityRecommender(training: data)
        case "category-pop":
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
            model = CategoryPopularityRecommender(training: data, categories: field, prior: prior)
        case "itemknn":
            let defaults = ItemKNNRecommender.Configuration()
            let configuration = ItemKNNRecommender.Configuration(
                neighbours: try settings.int("neighbours", default: defaults.neighbours, in: 1...1_000_000),
                shrink: Float(try settings.double("shrink", default: Double(defaults.shrink), in: 0...1e9)))
            try settings.checkAllUsed(model: name)
            model = ItemKNNRecommender(training: data, configuration: configuration, context: context)
        case "ials":
            var c = ImplicitALS.Configuration()
            c.factors = try settings.int("factors", default: c.factors, in: 1...4096)
            c.iterations = try settings.int("iterations", default: c.iterations, in: 0...100_000)
            c.regularization = Float(try settings.double("regularization", default: Double(c.regularization), in: 0...1e6))
            c.alpha = Float(try settings.double("alpha", default: Double(c.alpha), in: 0...1e6))
            c.cgSteps = try settings.int("cg_steps", default: c.cgSteps, in: 1...1000)
            c.lossEvery = try settings.int("loss_every", default: c.lossEvery, in: 0...100_000)
            let solver = try settings.string("solver", default: c.solver.rawValue, allowed: ImplicitALS.Solver.allCases.map(\.rawValue))
            c.solver = ImplicitALS.Solver(rawValue: solver)!
            if c.solver == .cholesky && c.regularization == 0 {
                throw TrainingError(.invalidHyperParameter, "solver=cholesky needs regularization > 0")
            }
            try settings.checkAllUsed(model: name)
            model = ImplicitALS.fit(data, configuration: c, context: context)
        case "bpr":
            var c = BPR.Configuration()
            c.factors = try settings.int("factors", default: c.factors, in: 1...4096)
            c.epochs = try settings.int("epochs", default: c.epochs, in: 0...100_000)
            c.learningRate = Float(try settings.double("learning_rate", default: Double(c.learningRate), in: 1e-9...1e3))
            c.regularization = Float(try settings.double("regularization", default: Double(c.regularization), in: 0...1e6))
            let sampling = try settings.string("negatives", default: c.negativeSampling.rawValue,
                                               allowed: BPR.NegativeSampling.allCases.map(\.rawValue))
            c.negativeSampling = BPR.NegativeSampling(rawValue: sampling)!
            c.popularityExponent = try settings.double("popularity_exponent", default: c.popularityExponent, in: 0...4)
            let optimizer = try settings.string("optimizer", default: c.optimizer.rawValue,
                                                allowed: BPR.Optimizer.allCases.map(\.rawValue))
            c.optimizer = BPR.Optimizer(rawValue: optimizer)!
            c.initScale = Float(try settings.double("init_scale", default: Double(c.initScale), in: 0...10))
            try settings.checkAllUsed(model: name)
            model = BPR.fit(data, configuration: c, context: context)
        case "two-tower":
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
            c.extraNegatives = try settings.int("negatives", default: c.extraNegatives, in: 0...1_000_000)
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
                progress("two-tower: point-in-time features from the feature store for \(data.interactionCount) "
                         + "training interactions in \(seconds(clock.elapsedSeconds))")
            }
            model = TwoTowerTrainer.fit(data, userFeatures: split.userFeatures, itemFeatures: split.itemFeatures,
                                        dynamic: dynamic, configuration: c, context: context)
        default:
            throw TrainingError(.unknownModel, "unknown model '\(name)'; models: \(names.joined(separator: ", "))")
        }
        try settings.checkAllUsed(model: name)
        return model
    }
}
