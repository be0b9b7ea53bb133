import Foundation
import RummageCore
import Storage

/// A registry kept in an S3 bucket, shared by machines, and mirrored into a local directory (`cache`) that
/// the commands read as any registry. Layout under the location's prefix:
///
/// ```
/// MODEL/versions/N/FILE …, manifest.json   immutable: each file created once (If-None-Match: *), the
///                                           manifest last, so a version is visible only once complete
/// MODEL/aliases.json                        {"champion": 3}: replaced only if unchanged since read (If-Match)
/// MODEL/alias-history/TIME-ID.json          one object per alias move: alias, from, to, who, at
/// ```
///
/// `pull` brings versions (verified against their manifests) and aliases into the cache; `push` uploads a
/// local registry's versions; `setAlias` moves an alias in the bucket with a compare-and-swap, so two
/// machines moving aliases at once never lose a move.
public final class S3Registry: Sendable {
    public let location: String
    public let cache: ModelRegistry
    private let client: S3Client
    private let prefix: String

    /// `location`: `s3://BUCKET/PREFIX[?endpoint=URL]`; `cache`: the local directory mirroring it.
    public init(location: String, cache: String, environment: [String: String]) throws(StorageError) {
        self.location = location
        (client, prefix) = try S3Client.location(location, environment: environment)
        self.cache = ModelRegistry(root: cache)
    }

    private func key(_ parts: String...) -> String { ([prefix] + parts).filter { !$0.isEmpty }.joined(separator: "/") }

    /// Model names in the bucket.
    public func models() throws(StorageError) -> [String] {
        let keys = try client.list(prefix: key() + (prefix.isEmpty ? "" : "/"))
        return Set(keys.compactMap { key -> String? in
            let rest = prefix.isEmpty ? key : String(key.dropFirst(prefix.count + 1))
            let parts = rest.split(separator: "/")
            return parts.count >= 3 && parts[1] == "versions" ? String(parts[0]) : nil
        }).sorted()
    }

    /// The complete versions of `model` in the bucket (those whose manifest is there).
    public func versions(_ model: String) throws(StorageError) -> [Int] {
        try client.list(prefix: key(model, "versions") + "/").compactMap { key -> Int? in
            let parts = key.split(separator: "/")
            return parts.last == "manifest.json" ? Int(parts[parts.count - 2]) : nil
        }.sorted()
    }

    /// The bucket's aliases of `model` and the ETag they were read at (nil: no aliases yet).
    func aliases(_ model: String) throws(StorageError) -> (aliases: [String: Int], etag: String?) {
        guard let (bytes, etag) = try client.get(key(model, "aliases.json")) else { return ([:], nil) }
        guard let aliases = try? JSONDecoder().decode([String: Int].self, from: Data(bytes)) else {
            throw StorageError(code: -1, "\(location): \(model)/aliases.json is not a map of aliases to versions")
        }
        return (aliases, etag)
    }

    /// Brings the cache up to date for `model`: every complete version the cache lacks (each file checked
    /// against its manifest before the version is placed) and the bucket's aliases. Returns the versions added.
    @discardableResult
    public func pull(_ model: String) throws -> [Int] {
        var added: [Int] = []
        for version in try versions(model) where !cache.versions(model).contains(version) {
            let base = key(model, "versions", String(version))
            guard let (manifestBytes, _) = try client.get(base + "/manifest.json"),
                  let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(manifestBytes)) else {
                throw RegistryError("\(location): \(model) v\(version) has no readable manifest")
            }
            var files: [String: [UInt8]] = ["manifest.json": manifestBytes]
            for name in try client.list(prefix: base + "/").map({ String($0.split(separator: "/").last ?? "") }) where name != "manifest.json" {
                guard let (bytes, _) = try client.get(base + "/" + name) else { throw RegistryError("\(location): \(base)/\(name) vanished") }
                if let expected = manifest.artifacts[name], SHA256Hasher.hex(of: bytes) != expected {
                    throw RegistryError("\(location): \(model) v\(version)/\(name) does not match its manifest: not pulled")
                }
                files[name] = bytes
            }
            for name in manifest.artifacts.keys where files[name] == nil {
                throw RegistryError("\(location): \(model) v\(version)/\(name) is missing")
            }
            try cache.place(model, version: version, files: files)
            added.append(version)
        }
        try cache.mirrorAliases(model, try aliases(model).aliases)
        return added
    }

    /// Uploads `versions` of `model` from `local` (every version when empty); a version the bucket already
    /// holds identically is skipped, one it holds with other content refused. Returns the versions uploaded.
    @discardableResult
    public func push(_ model: String, versions chosen: [Int] = [], from local: ModelRegistry) throws -> [Int] {
        var uploaded: [Int] = []
        let present = try versions(model)
        for version in chosen.isEmpty ? local.versions(model) : chosen {
            let paths = try local.verify(model, version)
            let base = key(model, "versions", String(version))
            guard let manifest = FileManager.default.contents(atPath: local.versionDirectory(model, version) + "/manifest.json") else {
                throw RegistryError("\(model) v\(version): no manifest")
            }
            if present.contains(version) {
                guard try client.get(base + "/manifest.json")?.bytes == Array(manifest) else {
                    throw RegistryError("\(location): \(model) v\(version) exists there with other content: versions are immutable; not pushed")
                }
                continue
            }
            let others = try FileManager.default.contentsOfDirectory(atPath: local.versionDirectory(model, version)).filter { $0 != "manifest.json" }
            for name in others.sorted() {
                let path = paths[name] ?? local.versionDirectory(model, version) + "/" + name
                guard let bytes = FileManager.default.contents(atPath: path) else { throw RegistryError("\(path): unreadable") }
                if try client.put(base + "/" + name, Array(bytes), condition: .absent) == nil,
                   try client.get(base + "/" + name)?.bytes != Array(bytes) {
                    throw RegistryError("\(location): \(base)/\(name) exists with other content (another machine is pushing v\(version)?)")
                }
            }
            // The manifest last: the version appears whole.
            guard try client.put(base + "/manifest.json", Array(manifest), condition: .absent) != nil else {
                throw RegistryError("\(location): \(model) v\(version) appeared meanwhile: not pushed")
            }
            uploaded.append(version)
        }
        return uploaded
    }

    /// Points `alias` at `version` (nil removes it) in the bucket: the aliases are read with their ETag and
    /// written back only if nobody changed them since (retried a few times); the move is recorded in the
    /// alias history, and the cache mirrors the result.
    public func setAlias(_ model: String, _ alias: String, to version: Int?, who: String = ModelRegistry.currentUser) throws {
        if let version { guard try versions(model).contains(version) else { throw RegistryError("\(location): \(model) has no version \(version)") } }
        for _ in 0..<8 {
            var (current, etag) = try aliases(model)
            let from = current[alias]
            current[alias] = version
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let body = Array(try encoder.encode(current))
            guard try client.put(key(model, "aliases.json"), body, condition: etag.map { .matches($0) } ?? .absent) != nil else { continue }
            let move = ModelRegistry.AliasMove(alias: alias, from: from, to: version, who: who, at: ModelRegistry.now())
            let stamp = ModelRegistry.now().replacingOccurrences(of: ":", with: "")
            _ = try client.put(key(model, "alias-history", "\(stamp)-\(UUID().uuidString).json"), Array(try JSONEncoder().encode(move)))
            try cache.mirrorAliases(model, current)
            return
        }
        throw RegistryError("\(location): \(model)/aliases.json kept changing under this move; try again")
    }

    /// Moves `alias` back to where it pointed before its latest move in the bucket's history.
    @discardableResult
    public func rollback(_ model: String, _ alias: String, who: String = ModelRegistry.currentUser) throws -> Int? {
        let keys = try client.list(prefix: key(model, "alias-history") + "/")
        var last: ModelRegistry.AliasMove? = nil
        for historyKey in keys.reversed() {
            guard let (bytes, _) = try client.get(historyKey), let move = try? JSONDecoder().decode(ModelRegistry.AliasMove.self, from: Data(bytes)),
                  move.alias == alias else { continue }
            last = move
            break
        }
        guard let last else { throw RegistryError("alias '\(alias)' of '\(model)' has never moved in \(location): nothing to roll back to") }
        guard try aliases(model).aliases[alias] == last.to else {
            throw RegistryError("alias '\(alias)' no longer points where its history says; refusing to guess")
        }
        try setAlias(model, alias, to: last.from, who: who)
        return last.from
    }
}
