import Training

/// Settings of the two-tower model and its training (`--set key=value` names in brackets).
public struct TwoTowerConfiguration: Sendable, Equatable {
    /// Width of every embedding and of the towers' outputs [dimension].
    public var dimension = 64
    /// Widths of the dense + ReLU layers in each tower before the output projection [hidden, e.g. 128,64].
    public var hiddenLayers: [Int] = []
    /// The training loss [loss]: in-batch softmax with logQ correction, or SimpleX's cosine contrastive
    /// loss (`CosineContrastiveLoss`; with `hidden` none and no content the model is SimpleX's MF-CCL), whose
    /// negatives are the extra uniformly sampled items when `extraNegatives` > 0 (its default then: 1,000),
    /// else the batch's other positives.
    public enum Loss: String, Sendable, CaseIterable { case softmax, ccl }
    public var loss: Loss = .softmax
    /// Softmax temperature τ: scores are cosine / τ [temperature].
    public var temperature: Float = 0.1
    /// The cosine contrastive loss's margin m [margin] and negative weight w [negative_weight]: the best of
    /// four settings tried on NCF ML-1M's validation split (docs/evaluation.md), not yet a full search.
    public var margin: Float = 0.3
    public var negativeWeight: Float = 50
    public var epochs = 20
    public var batchSize = 1024
    public var learningRate: Float = 0.01
    public var optimizer: Optimizer.Kind = .adam
    /// Update only the embedding rows in the batch (true) or all rows every step (false) [lazy_tables].
    public var lazyTables = true
    public var schedule: LearningRateSchedule.Decay = .linear
    /// Linear warm-up, in batches [warmup].
    public var warmupSteps = 0
    /// Global gradient-norm clip; 0 disables [clip_norm].
    public var clipNorm: Float = 0
    /// Weight of the logQ correction: 1 removes the sampling bias fully, 0 not at all; in between keeps
    /// part of the popularity signal [logq_weight].
    public var logQWeight: Float = 1
    /// Extra uniformly sampled negative items per batch, besides the in-batch ones [negatives].
    public var extraNegatives = 0
    /// Probability of replacing an item's id with the unknown id during training [id_dropout].
    public var itemIDDropout: Float = 0
    /// Items of the user's training history averaged into the user tower (sampled per example, the
    /// example's own item excluded); 0 disables the history field [history].
    public var historyLength = 0
    /// Use the dataset's content features besides ids (needed to embed cold listings) [content].
    public var useContent = false
    /// Users whose one held-out training interaction forms the validation set; 0 disables
    /// validation and early stopping [validation_users].
    public var validationUsers = 1000
    /// Stop after this many epochs without a better validation HR@10 [patience].
    public var patience = 3

    public init() {}
}
