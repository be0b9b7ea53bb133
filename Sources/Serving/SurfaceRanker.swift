import Features
import Foundation
import Ranking
import Registry
import Synchronization

/// A surface's learned ranker as served: a registered version of `RankerPipeline`'s output (`ranker.json`
/// and `ranker-features.json`), loaded from the registry, checked to read the columns `RankingFeatures`
/// computes, and swapped when its alias moves (`refresh`, on the server's alias poll). A request keeps the
/// trees it started with.
final class SurfaceRanker: Sendable {
    let registry: ModelRegistry
    let model: String
    let reference: String
    private let loaded: Mutex<(version: Int, trees: GradientBoostedTrees)>

    init(registry: ModelRegistry, model: String, reference: String) throws {
        self.registry = registry
        self.model = model
        self.reference = reference
        loaded = Mutex(try Self.load(registry: registry, model: model, version: try registry.resolve(model, reference)))
    }

    /// The version served and its trees.
    var current: (version: Int, trees: GradientBoostedTrees) { loaded.withLock { $0 } }

    /// Loads the version the alias points at now when it moved; returns the versions before and after.
    /// Throws (keeping the current trees) when the new version cannot be loaded.
    @discardableResult
    func refresh() throws -> (from: Int, to: Int) {
        let from = current.version
        let target = try registry.resolve(model, reference)
        guard target != from else { return (from, from) }
        let fresh = try Self.load(registry: registry, model: model, version: target)
        loaded.withLock { $0 = fresh }
        return (from, fresh.version)
    }

    private static func load(registry: ModelRegistry, model: String, version: Int) throws -> (version: Int, trees: GradientBoostedTrees) {
        let files = try registry.verify(model, version)
        do {
            return (version, try RankerFiles.load(files: files, version: "\(model) v\(version)", columns: RankingFeatures.names, threads: 1))
        } catch { throw SurfaceError(error.message) }
    }
}
