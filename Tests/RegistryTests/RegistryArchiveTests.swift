import Foundation
import Registry
import RummageCore
import RummageTestSupport
import Testing

/// [14/19]: versions move between machines as one archive; a tampered or corrupt one is refused whole.
@Suite struct RegistryArchiveTests {
    let fixtures = ModelRegistryTests()

    @Test func versionsAndAliasesMoveToAnotherRegistry() throws {
        let (source, dir) = try fixtures.twoVersions()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try source.setAlias("m", "champion", to: 2)
        let archive = dir + "/m.tar.xz"
        let index = try RegistryArchive.export(source, model: "m", to: archive)
        #expect(index.versions == [1, 2] && index.aliases == ["champion": 2] && index.files.count == 4)
        let target = ModelRegistry(root: dir + "/elsewhere")
        let imported = try RegistryArchive.import(archive, into: target, applyingAliases: true, who: "ops")
        #expect(imported.added == [1, 2] && imported.skipped.isEmpty && imported.aliasesMoved == ["champion": 2])
        #expect(try target.verify("m", 2).keys.sorted() == ["model.rmg"])
        #expect(try target.manifest("m", 2) == source.manifest("m", 2))
        #expect(FileManager.default.contents(atPath: target.versionDirectory("m", 1) + "/model.rmg") == Data("first model".utf8))
        #expect(target.history("m").last?.who == "ops")
        // Importing again changes nothing; without --aliases no alias moves.
        let again = try RegistryArchive.import(archive, into: target, applyingAliases: false)
        #expect(again.added.isEmpty && again.skipped == [1, 2])
        // Only the versions asked for, with the aliases pointing at them.
        let one = try RegistryArchive.export(source, model: "m", versions: [1], to: dir + "/v1.tar.xz")
        #expect(one.versions == [1] && one.aliases.isEmpty)
    }

    /// The archive's bytes, with `edit` applied to the tar inside.
    func tampered(_ archive: String, _ edit: (inout [UInt8]) -> Void) throws -> String {
        var tar = try XZ.decompress(Array(try #require(FileManager.default.contents(atPath: archive))))
        edit(&tar)
        let path = archive + ".tampered.tar.xz"
        try Data(XZ.compress(tar)).write(to: URL(fileURLWithPath: path))
        return path
    }

    func replace(_ old: String, with new: String, in bytes: inout [UInt8]) {
        let o = Array(old.utf8), n = Array(new.utf8)
        guard o.count == n.count else {
            Issue.record("a replacement must keep the length")
            return
        }
        guard let at = (0...(bytes.count - o.count)).first(where: { Array(bytes[$0..<$0 + o.count]) == o }) else {
            Issue.record("'\(old)' not in the archive")
            return
        }
        bytes.replaceSubrange(at..<at + o.count, with: n)
    }

    /// Renames a tar entry in place, recomputing its header's checksum (a forged but well-formed archive).
    func renameEntry(_ old: String, to new: String, in tar: inout [UInt8]) {
        let o = Array(old.utf8), n = Array(new.utf8)
        guard let block = stride(from: 0, to: tar.count - 512, by: 512).first(where: { Array(tar[$0..<$0 + o.count]) == o && tar[$0 + o.count] == 0 }),
              n.count <= 100 else {
            Issue.record("no entry '\(old)'")
            return
        }
        for i in 0..<100 { tar[block + i] = i < n.count ? n[i] : 0 }
        for i in 148..<156 { tar[block + i] = UInt8(ascii: " ") }
        let sum = tar[block..<block + 512].reduce(0) { $0 + Int($1) }
        let digits = Array(String(String(sum, radix: 8).reversed()).padding(toLength: 6, withPad: "0", startingAt: 0).reversed())
        for (i, c) in digits.enumerated() { tar[block + 148 + i] = c.asciiValue! }
        tar[block + 154] = 0
    }

    @Test func aTamperedArchiveIsRefusedAndNothingIsAdded() throws {
        let (source, dir) = try fixtures.twoVersions()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/m.tar.xz"
        try RegistryArchive.export(source, model: "m", to: archive)
        let target = ModelRegistry(root: dir + "/elsewhere")
        func refusal(_ path: String) -> String {
            do { _ = try RegistryArchive.import(path, into: target, applyingAliases: true); return "" } catch { return "\(error)" }
        }
        // An artifact changed.
        let artifact = try tampered(archive) { replace("first model", with: "first m0del", in: &$0) }
        #expect(refusal(artifact).contains("'m/versions/1/model.rmg' does not match its checksum"), "\(refusal(artifact))")
        // An artifact changed and the archive's own list forged to match: the version's manifest still disagrees.
        let oldSum = SHA256Hasher.hex(of: Array("first model".utf8)), newSum = SHA256Hasher.hex(of: Array("first m0del".utf8))
        let forged = try tampered(archive) { tar in
            replace("first model", with: "first m0del", in: &tar)
            replace("\"m/versions/1/model.rmg\" : \"\(oldSum)\"", with: "\"m/versions/1/model.rmg\" : \"\(newSum)\"", in: &tar)
        }
        #expect(refusal(forged).contains("m v1/model.rmg does not match its manifest"), "\(refusal(forged))")
        // A path outside a version's directory, listed in the index and with a well-formed header.
        let escaping = try tampered(archive) { tar in
            replace("\"m/versions/2/model.rmg\"", with: "\"m/versions/2/../../etc\"", in: &tar)
            renameEntry("m/versions/2/model.rmg", to: "m/versions/2/../../etc", in: &tar)
        }
        #expect(refusal(escaping).contains("is not a file of an exported version"), "\(refusal(escaping))")
        // Truncated.
        let truncated = dir + "/truncated.tar.xz"
        let bytes = try #require(FileManager.default.contents(atPath: archive))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        #expect(refusal(truncated).contains("corrupt or truncated"), "\(refusal(truncated))")
        #expect(target.versions("m").isEmpty, "nothing was added")
    }

    @Test func aVersionHeldWithOtherContentIsNotReplaced() throws {
        let (source, dir) = try fixtures.twoVersions()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/m.tar.xz"
        try RegistryArchive.export(source, model: "m", to: archive)
        let target = ModelRegistry(root: dir + "/elsewhere")
        _ = try target.register(fixtures.manifest(), artifacts: ["model.rmg": Fixtures.write("another first", to: "other.rmg", in: dir)])
        #expect { try RegistryArchive.import(archive, into: target, applyingAliases: false) } throws: {
            "\($0)".contains("m v1 already exists") && "\($0)".contains("versions are immutable")
        }
        #expect(FileManager.default.contents(atPath: target.versionDirectory("m", 1) + "/model.rmg") == Data("another first".utf8))
    }
}
