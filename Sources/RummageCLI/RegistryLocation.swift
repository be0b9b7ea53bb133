import Foundation
import Registry
import RummageCore
import Storage

/// What `--registry` names: a directory, or a shared registry in S3 (`s3://BUCKET/PREFIX[?endpoint=URL]`)
/// mirrored into a local directory (`$RUMMAGE_REGISTRY_CACHE`, default `.rummage/registry-cache/ID`) that
/// the command then reads as any registry (docs/deploy.md).
struct RegistryLocation: Sendable {
    /// The registry the command reads: the directory itself, or the mirror of the shared one.
    let registry: ModelRegistry
    /// The shared registry, when `--registry` is an S3 location.
    let shared: S3Registry?

    init(_ location: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard location.hasPrefix("s3://") else {
            registry = ModelRegistry(root: location)
            shared = nil
            return
        }
        let cache = environment["RUMMAGE_REGISTRY_CACHE"]
            ?? ".rummage/registry-cache/" + String(SHA256Hasher.hex(of: Array(location.utf8)).prefix(16))
        let s3 = try S3Registry(location: location, cache: cache, environment: environment)
        registry = s3.cache
        shared = s3
    }

    /// Brings the mirror up to date for `model` (every model when nil); nothing to do for a directory.
    func refresh(_ model: String?) throws {
        guard let shared else { return }
        for name in try model.map { [$0] } ?? shared.models() { try shared.pull(name) }
    }

    /// Points `alias` at `version`: in the shared registry when there is one (then mirrored), else here.
    func setAlias(_ model: String, _ alias: String, to version: Int?) throws {
        if let shared { try shared.setAlias(model, alias, to: version) } else { try registry.setAlias(model, alias, to: version) }
    }

    /// Moves `alias` back to where it pointed before its latest move.
    func rollback(_ model: String, _ alias: String) throws -> Int? {
        if let shared { return try shared.rollback(model, alias) }
        return try registry.rollback(model, alias)
    }
}
