import Backends
import Pipeline
import Registry
import Serving

extension RecommendationService {
    /// The service as `rummage serve` builds it: the event log at `logPath` (created if missing), models
    /// loaded through the model catalogue.
    convenience init(registry: ModelRegistry, model: String, reference: String, logPath: String, experiment: Experiment? = nil,
                     precomputed: (any PrecomputedRecommendationStore)? = nil) throws {
        try self.init(registry: registry, model: model, reference: reference, log: try openEventLog(logPath), loadModel: ModelCatalog.loadForServing,
                      experiment: experiment, precomputed: precomputed)
    }
}
