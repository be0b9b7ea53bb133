import Foundation
import RummageCore

/// An error from the registry: a missing model, version or alias, a corrupt artifact, a lock.
public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The embedded model registry: a directory.
///
/// ```
/// REGISTRY/NAME/versions/1/manifest.json, model.rmg, …   immutable once registered
/// REGISTRY/NAME/aliases.json                              {"champion": 3, "challenger": 4}
/// REGISTRY/NAME/alias-history.jsonl                       one line per move: alias, from, to, who, at
/// REGISTRY/NAME/.lock                                     flock(2) for writers
/// ```
///
/// Versions are assembled in a temporary directory (each file fsync'd, then the directory) and renamed
/// into place (then the parent directory fsync'd), so a version directory is
/// either complete or absent. Aliases are rewritten whole (write to a temporary file, fsync, rename)
/// under an exclusive lock, so concurrent writers never leave a broken or half-written alias file.
public struct ModelRegistry: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    func modelDirectory(_ name: String) -> String { root + "/" + name }
    public func versionDirectory(_ name: String, _ version: Int) -> String { modelDirectory(name) + "/versions/\(version)" }

    /// Registered model names.
    public func models() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .filter { FileManager.default.fileExists(atPath: modelDirectory($0) + "/versions") }.sorted()
    }

    /// Version numbers of `name`, ascending.
    public func versions(_ name: String) -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: modelDirectory(name) + "/versions")) ?? [])
            .compactMap(Int.init).sorted()
    }

    /// Registers a new version: copies `artifacts` (file name → source path) into it, fills in the
    /// manifest's version number and checksums, and writes it. Returns the manifest as stored.
    public func register(_ manifest: Manifest, artifacts: [String: String]) throws(RegistryError) -> Manifest {
        let fm = FileManager.default
        let model = modelDirectory(manifest.model)
        do {
            try fm.createDirectory(atPath: model + "/versions", withIntermediateDirectories: true)
        } catch {
            throw RegistryError("\(model): cannot create: \(error.localizedDescription)")
        }
        let staging = model + "/.staging-\(UUID().uuidString)"
        var stored = manifest
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
            stored.artifacts = [:]
            for (name, source) in artifacts.sorted(by: { $0.key < $1.key }) {
                try fm.copyItem(atPath: source, toPath: staging + "/" + name)
                Self.syncToDisk(staging + "/" + name)
                stored.artifacts[name] = try SHA256Hasher.hex(ofFile: staging + "/" + name)
            }
        } catch {
            try? fm.removeItem(atPath: staging)
            throw RegistryError("cannot stage artifacts: \(error)")
        }
        return try withLock(manifest.model) { () throws(RegistryError) in
            let version = (versions(manifest.model).last ?? 0) + 1
            stored.version = version
            do {
                try stored.encoded().write(to: URL(fileURLWithPath: staging + "/manifest.json"))
                Self.syncToDisk(staging + "/manifest.json")
                Self.syncToDisk(staging)
                try fm.moveItem(atPath: staging, toPath: versionDirectory(manifest.model, version))
                Self.syncToDisk(model + "/versions")
            } catch {
                try? fm.removeItem(atPath: staging)
                throw RegistryError("cannot register version \(version) of \(manifest.model): \(error.localizedDescription)")
            }
            return stored
        }
    }

    /// Places a version that was registered elsewhere (an import): `files` (name → contents, its
    /// manifest.json included) are written aside, fsync'd and renamed into `versions/N` under the lock.
    /// Throws if the version exists.
    func place(_ name: String, version: Int, files: [String: [UInt8]]) throws(RegistryError) {
        let fm = FileManager.default
        let model = modelDirectory(name)
        let staging = model + "/.staging-\(UUID().uuidString)"
        do {
            try fm.createDirectory(atPath: model + "/versions", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
            for (file, bytes) in files.sorted(by: { $0.key < $1.key }) {
                try Data(bytes).write(to: URL(fileURLWithPath: staging + "/" + file))
                Self.syncToDisk(staging + "/" + file)
            }
            Self.syncToDisk(staging)
        } catch {
            try? fm.removeItem(atPath: staging)
            throw RegistryError("cannot stage \(name) v\(version): \(error.localizedDescription)")
        }
        try withLock(name) { () throws(RegistryError) in
            defer { try? fm.removeItem(atPath: staging) }
            guard !versions(name).contains(version) else { throw RegistryError("\(name) v\(version) already exists in \(root)") }
            do {
                try fm.moveItem(atPath: staging, toPath: versionDirectory(name, version))
                Self.syncToDisk(model + "/versions")
            } catch {
                throw RegistryError("cannot place \(name) v\(version): \(error.localizedDescription)")
            }
        }
    }

    public func manifest(_ name: String, _ version: Int) throws(RegistryError) -> Manifest {
        let path = versionDirectory(name, version) + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RegistryError("model '\(name)' has no version \(version) (\(path))")
        }
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw RegistryError("\(path): not a valid manifest: \(error)")
        }
    }

    /// Checks every artifact of a version against its manifest's SHA-256; returns the artifact paths.
    @discardableResult
    public func verify(_ name: String, _ version: Int) throws(RegistryError) -> [String: String] {
        let m = try manifest(name, version)
        var paths: [String: String] = [:]
        for (file, expected) in m.artifacts {
            let path = versionDirectory(name, version) + "/" + file
            let actual: String
            do { actual = try SHA256Hasher.hex(ofFile: path) } catch { throw RegistryError("\(path): missing or unreadable") }
            guard actual == expected else {
                throw RegistryError("\(path): checksum mismatch (manifest \(expected.prefix(12))…, file \(actual.prefix(12))…): the artifact is corrupt")
            }
            paths[file] = path
        }
        return paths
    }

    // MARK: Aliases

    public func aliases(_ name: String) -> [String: Int] {
        guard let data = FileManager.default.contents(atPath: modelDirectory(name) + "/aliases.json"),
              let object = try? JSONDecoder().decode([String: Int].self, from: data) else { return [:] }
        return object
    }

    /// A version number from `"3"` or an alias name.
    public func resolve(_ name: String, _ reference: String) throws(RegistryError) -> Int {
        if let number = Int(reference) {
            guard versions(name).contains(number) else { throw RegistryError("model '\(name)' has no version \(number)") }
            return number
        }
        guard let version = aliases(name)[reference] else {
            throw RegistryError("model '\(name)' has no alias '\(reference)' (aliases: \(aliases(name).keys.sorted().joined(separator: ", ")))")
        }
        return version
    }

    /// One alias move, as kept in `alias-history.jsonl`.
    public struct AliasMove: Codable, Sendable, Equatable {
        public var alias: String
        public var from: Int?
        public var to: Int?
        public var who: String
        public var at: String
    }

    public func history(_ name: String) -> [AliasMove] {
        guard let text = try? String(contentsOfFile: modelDirectory(name) + "/alias-history.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(AliasMove.self, from: Data($0.utf8)) }
    }

    /// Points `alias` at `version` (nil removes it), atomically, and records the move.
    public func setAlias(_ name: String, _ alias: String, to version: Int?, who: String = ModelRegistry.currentUser)
        throws(RegistryError) {
        guard !alias.isEmpty, Int(alias) == nil, alias.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw RegistryError("alias '\(alias)' must be a name of letters, digits, - or _ (not a number)")
        }
        if let version { _ = try manifest(name, version) }
        try withLock(name) { () throws(RegistryError) in
            var current = aliases(name)
            let from = current[alias]
            current[alias] = version
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let path = modelDirectory(name) + "/aliases.json"
            do {
                try Self.writeAtomically(try encoder.encode(current), to: path)
                let move = AliasMove(alias: alias, from: from, to: version, who: who, at: Self.now())
                let lineEncoder = JSONEncoder()
                lineEncoder.outputFormatting = [.sortedKeys]
                var line = try lineEncoder.encode(move)
                line.append(0x0A)
                try Self.append(line, to: modelDirectory(name) + "/alias-history.jsonl")
            } catch {
                throw RegistryError("cannot move alias '\(alias)': \(error)")
            }
        }
    }

    /// Replaces the aliases of `name` with `aliases` (a mirror of a shared registry's: no history line
    /// here, the history is the shared registry's), atomically under the lock.
    func mirrorAliases(_ name: String, _ aliases: [String: Int]) throws(RegistryError) {
        guard aliases != self.aliases(name) else { return }
        try withLock(name) { () throws(RegistryError) in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do { try Self.writeAtomically(try encoder.encode(aliases), to: modelDirectory(name) + "/aliases.json") } catch {
                throw RegistryError("cannot mirror the aliases of \(name): \(error)")
            }
        }
    }

    /// Moves `alias` back to where it pointed before its latest move.
    @discardableResult
    public func rollback(_ name: String, _ alias: String, who: String = ModelRegistry.currentUser) throws(RegistryError) -> Int? {
        guard let last = history(name).last(where: { $0.alias == alias }) else {
            throw RegistryError("alias '\(alias)' of '\(name)' has never moved: nothing to roll back to")
        }
        guard aliases(name)[alias] == last.to else {
            throw RegistryError("alias '\(alias)' no longer points where its history says; refusing to guess")
        }
        try setAlias(name, alias, to: last.from, who: who)
        return last.from
    }

    /// The login name of this process's user (`USER`, else the password database, else the uid).
    public static var currentUser: String {
        if let user = ProcessInfo.processInfo.environment["USER"], !user.isEmpty { return user }
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(getuid())"
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    // MARK: Files

    /// Runs `body` holding an exclusive flock on the model's lock file (blocks until it is free).
    func withLock<R>(_ name: String, _ body: () throws(RegistryError) -> R) throws(RegistryError) -> R {
        let directory = modelDirectory(name)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(directory + "/.lock", O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw RegistryError("\(directory)/.lock: cannot open (errno \(errno))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw RegistryError("\(directory)/.lock: cannot lock (errno \(errno))") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    static func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw RegistryError("\(temporary): cannot write")
        }
        syncToDisk(temporary)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw RegistryError("\(path): cannot rename into place (errno \(errno))")
        }
        syncToDisk((path as NSString).deletingLastPathComponent)
    }

    /// fsyncs a file or a directory (a rename or a new entry is durable once its directory is synced).
    static func syncToDisk(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    static func append(_ data: Data, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            syncToDisk((path as NSString).deletingLastPathComponent)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw RegistryError("\(path): cannot append") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }
}
