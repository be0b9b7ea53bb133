import Foundation
import RummageCore

/// Moves registered versions between machines: `export` writes some versions of a model (and its aliases)
/// into one file, `import` adds them to another registry. The file is a POSIX tar (ustar) archive
/// compressed with xz, so `tar -tJf` lists it; its first entry, `rummage-export.json`, names every file
/// with its SHA-256. Import refuses an archive in which any file differs from that list or from its
/// version's own manifest (corruption or tampering), any path outside `MODEL/versions/N/`, and a version
/// number the target already holds with other content (versions are immutable); a version it already
/// holds identically is skipped.
public enum RegistryArchive {
    static let indexName = "rummage-export.json"
    static let format = "rummage-registry-export"

    /// What an archive holds (`rummage-export.json`).
    public struct Index: Codable, Sendable, Equatable {
        public var format: String
        public var formatVersion: Int
        public var model: String
        public var versions: [Int]
        /// The model's aliases at export time that point at an exported version.
        public var aliases: [String: Int]
        /// Every other file of the archive (`MODEL/versions/N/FILE`) and its SHA-256.
        public var files: [String: String]
        public var exportedAt: String

        enum CodingKeys: String, CodingKey {
            case format, model, versions, aliases, files
            case formatVersion = "format_version", exportedAt = "exported_at"
        }
    }

    /// Writes `versions` of `model` (every version when empty) into `path`; returns the index.
    @discardableResult
    public static func export(_ registry: ModelRegistry, model: String, versions: [Int] = [], to path: String) throws -> Index {
        let chosen = versions.isEmpty ? registry.versions(model) : versions
        guard !chosen.isEmpty else { throw RegistryError("model '\(model)' has no versions in \(registry.root)") }
        var tar = TarWriter()
        var files: [String: String] = [:]
        var contents: [(name: String, bytes: [UInt8])] = []
        for version in chosen {
            try registry.verify(model, version)  // never export a corrupt version
            let directory = registry.versionDirectory(model, version)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            for name in names {
                guard let data = FileManager.default.contents(atPath: directory + "/" + name) else {
                    throw RegistryError("\(directory)/\(name): unreadable")
                }
                let entry = "\(model)/versions/\(version)/\(name)"
                files[entry] = SHA256Hasher.hex(of: Array(data))
                contents.append((entry, Array(data)))
            }
        }
        let aliases = registry.aliases(model).filter { chosen.contains($0.value) }
        let index = Index(format: format, formatVersion: 1, model: model, versions: chosen, aliases: aliases, files: files,
                          exportedAt: ModelRegistry.now())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try tar.add(indexName, Array(try encoder.encode(index)))
        for (name, bytes) in contents { try tar.add(name, bytes) }
        try Data(XZ.compress(tar.finished())).write(to: URL(fileURLWithPath: path), options: .atomic)
        return index
    }

    /// What an import did.
    public struct Imported: Sendable, Equatable {
        public var model: String
        public var added: [Int]
        public var skipped: [Int]
        public var aliasesMoved: [String: Int]
    }

    /// Adds the archive's versions to `registry`, each assembled aside and renamed into place; with
    /// `applyingAliases`, then points the archive's aliases at them (recorded in the alias history).
    public static func `import`(_ path: String, into registry: ModelRegistry, applyingAliases: Bool,
                                who: String = ModelRegistry.currentUser) throws -> Imported {
        guard let compressed = FileManager.default.contents(atPath: path) else { throw DataError(.fileNotFound, "cannot read", path: path) }
        let entries: [(name: String, bytes: [UInt8])]
        do { entries = try TarReader.entries(try XZ.decompress(Array(compressed), path: path)) } catch let error as DataError {
            throw error
        } catch {
            throw DataError(.corrupt, "not a registry export: \(error)", path: path)
        }
        guard let first = entries.first, first.name == indexName,
              let index = try? JSONDecoder().decode(Index.self, from: Data(first.bytes)), index.format == format else {
            throw DataError(.corrupt, "not a registry export (no \(indexName) first)", path: path)
        }
        guard index.formatVersion == 1 else { throw DataError(.corrupt, "export format version \(index.formatVersion) is not 1", path: path) }
        // Every file: listed, where a version's file belongs, and with the listed checksum; and every listed file present.
        var byVersion: [Int: [String: [UInt8]]] = [:]
        for (name, bytes) in entries.dropFirst() {
            let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4, parts[0] == index.model, parts[1] == "versions", let version = Int(parts[2]), version > 0,
                  index.versions.contains(version), !parts[3].isEmpty, !parts[3].hasPrefix("."), parts[3] != ".." else {
                throw DataError(.corrupt, "refused: '\(name)' is not a file of an exported version", path: path)
            }
            guard let expected = index.files[name] else { throw DataError(.corrupt, "refused: '\(name)' is not listed in \(indexName)", path: path) }
            guard SHA256Hasher.hex(of: bytes) == expected else {
                throw DataError(.corrupt, "refused: '\(name)' does not match its checksum (the archive was corrupted or tampered with)", path: path)
            }
            byVersion[version, default: [:]][parts[3]] = bytes
        }
        let missing = Set(index.files.keys).subtracting(entries.dropFirst().map(\.name))
        guard missing.isEmpty else { throw DataError(.corrupt, "refused: \(missing.sorted().first!) is listed but missing", path: path) }
        // Each version against its own manifest.
        for version in index.versions {
            let files = byVersion[version] ?? [:]
            guard let manifestBytes = files["manifest.json"], let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(manifestBytes)),
                  manifest.model == index.model, manifest.version == version else {
                throw DataError(.corrupt, "refused: version \(version) has no valid manifest", path: path)
            }
            for (file, sha) in manifest.artifacts where files[file].map({ SHA256Hasher.hex(of: $0) }) != sha {
                throw DataError(.corrupt, "refused: \(index.model) v\(version)/\(file) does not match its manifest", path: path)
            }
        }
        var imported = Imported(model: index.model, added: [], skipped: [], aliasesMoved: [:])
        for version in index.versions.sorted() {
            let files = byVersion[version] ?? [:]
            if registry.versions(index.model).contains(version) {
                let here = registry.versionDirectory(index.model, version)
                let same = files.allSatisfy { name, bytes in FileManager.default.contents(atPath: here + "/" + name).map(Array.init) == bytes }
                guard same else {
                    throw RegistryError("\(index.model) v\(version) already exists in \(registry.root) with other content: versions are immutable; "
                                        + "not imported")
                }
                imported.skipped.append(version)
                continue
            }
            try registry.place(index.model, version: version, files: files)
            imported.added.append(version)
        }
        if applyingAliases {
            for (alias, version) in index.aliases.sorted(by: { $0.key < $1.key }) where registry.aliases(index.model)[alias] != version {
                try registry.setAlias(index.model, alias, to: version, who: who)
                imported.aliasesMoved[alias] = version
            }
        }
        return imported
    }
}

/// Writes a POSIX ustar archive in memory.
struct TarWriter {
    private var bytes: [UInt8] = []

    mutating func add(_ name: String, _ contents: [UInt8]) throws {
        var header = [UInt8](repeating: 0, count: 512)
        var path = Array(name.utf8), prefix: [UInt8] = []
        if path.count > 100 {
            // Split at a slash: up to 155 bytes of prefix, up to 100 of name.
            guard let cut = path.indices.last(where: { path[$0] == UInt8(ascii: "/") && $0 <= 155 && path.count - $0 - 1 <= 100 }) else {
                throw RegistryError("'\(name)' is too long for a tar archive")
            }
            prefix = Array(path[..<cut])
            path = Array(path[(cut + 1)...])
        }
        func put(_ field: [UInt8], at offset: Int) { for (i, byte) in field.enumerated() { header[offset + i] = byte } }
        func octal(_ value: Int, width: Int) -> [UInt8] { Array(String(value, radix: 8).leftPadded(to: width - 1).utf8) + [0] }
        put(path, at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(contents.count, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        put(Array("        ".utf8), at: 148)  // the checksum field counts as spaces
        header[156] = UInt8(ascii: "0")
        put(Array("ustar".utf8) + [0] + Array("00".utf8), at: 257)
        put(prefix, at: 345)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(Array(String(sum, radix: 8).leftPadded(to: 6).utf8) + [0, UInt8(ascii: " ")], at: 148)
        bytes += header + contents + [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
    }

    /// The archive with its end marker (two zero blocks).
    func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}

/// Reads the regular files of a ustar archive, checking each header's checksum.
enum TarReader {
    static func entries(_ archive: [UInt8]) throws -> [(name: String, bytes: [UInt8])] {
        var entries: [(name: String, bytes: [UInt8])] = []
        var offset = 0
        while offset + 512 <= archive.count {
            let header = Array(archive[offset..<offset + 512])
            if header.allSatisfy({ $0 == 0 }) { return entries }
            func text(_ from: Int, _ length: Int) -> String {
                String(decoding: header[from..<from + length].prefix { $0 != 0 }, as: UTF8.self)
            }
            func number(_ from: Int, _ length: Int) -> Int? { Int(text(from, length).trimmingCharacters(in: .whitespaces), radix: 8) }
            var unsummed = header
            for i in 148..<156 { unsummed[i] = UInt8(ascii: " ") }
            guard let size = number(124, 12), let sum = number(148, 8), sum == unsummed.reduce(0, { $0 + Int($1) }) else {
                throw DataError(.corrupt, "a tar header at byte \(offset) is damaged")
            }
            let prefix = text(345, 155)
            let name = prefix.isEmpty ? text(0, 100) : prefix + "/" + text(0, 100)
            let start = offset + 512
            guard start + size <= archive.count else { throw DataError(.corrupt, "'\(name)' is truncated") }
            guard header[156] == UInt8(ascii: "0") || header[156] == 0 else { throw DataError(.corrupt, "'\(name)' is not a regular file") }
            entries.append((name, Array(archive[start..<start + size])))
            offset = start + (size + 511) / 512 * 512
        }
        throw DataError(.corrupt, "the archive has no end marker (truncated)")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
