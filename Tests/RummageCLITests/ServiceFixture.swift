import Backends
import Pipeline
import Registry
import Serving

extension AccessPolicy {
    /// The key tests serve with: every scope.
    static let testKey = "test-key-with-every-scope-0123"
    static let testing = AccessPolicy(keys: [try! AccessPolicy.key(name: "test", scopes: Set(Scope.allCases), key: testKey)])
    static let testAuthorization = ["Authorization": "Bearer \(testKey)"]
}

extension RecommendationService {
    /// The service as `rummage serve` builds it: the event log at `logPath` (created if missing), models
    /// loaded through the model catalogue.
    convenience init(registry: ModelRegistry, model: String, reference: String, logPath: String, experiment: Experiment? = nil,
                     precomputed: (any PrecomputedRecommendationStore)? = nil, surfaces: [Surface] = []) throws {
        try self.init(registry: registry, model: model, reference: reference, log: try openEventLog(logPath), loadModel: ModelCatalog.loadForServing,
                      experiment: experiment, precomputed: precomputed, surfaces: surfaces)
    }
}
