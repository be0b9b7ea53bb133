import ArgumentParsing
import Foundation
import Registry
import RummageCore

/// `rummage registry export`: versions of a model (and their aliases) into one archive for another machine.
struct RegistryExportCommand: Command {
    static let configuration = CommandConfiguration(
        name: "registry export",
        abstract: "Write versions of a model and their aliases into one archive (tar.xz with checksums) for another registry.",
        discussion: "Import it elsewhere with 'rummage registry import --from FILE'. Every version is verified before it is written.",
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .repeated("version", "REF", help: "A version number or alias to export (repeat for several; default: every version)."),
            .value("out", "FILE", help: "The archive to write (.tar.xz).", required: true),
            .flag("json", help: "Print JSON."),
        ])

    let registry: ModelRegistry
    let model: String
    let references: [String]
    let out: String
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        references = arguments.strings("version")
        out = try arguments.requiredString("out")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        guard FileManager.default.fileExists(atPath: registry.root) else {
            throw DataError(.fileNotFound, "no registry here", path: registry.root)
        }
        let versions = try references.map { reference throws(RegistryError) in try registry.resolve(model, reference) }
        let index = try RegistryArchive.export(registry, model: model, versions: versions, to: out)
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        if json {
            output.standardOutput(try jsonObjectLine(["model": model, "versions": index.versions, "aliases": index.aliases,
                                                      "files": index.files.count, "out": out, "bytes": size]) + "\n")
        } else {
            output.standardOutput("exported \(model) v\(index.versions.map(String.init).joined(separator: ", v"))"
                                  + (index.aliases.isEmpty ? "" : " (aliases " + index.aliases.sorted { $0.key < $1.key }.map { "\($0.key) → v\($0.value)" }
                                        .joined(separator: ", ") + ")")
                                  + " to \(out): \(index.files.count) files, \(size) bytes\n")
        }
    }
}

/// `rummage registry import`: adds the versions of an export to this registry.
struct RegistryImportCommand: Command {
    static let configuration = CommandConfiguration(
        name: "registry import",
        abstract: "Add the versions of an archive from 'registry export' to this registry, refusing a tampered archive.",
        discussion: """
            Every file is checked against the archive's checksums and its version's manifest; a tampered or
            corrupt archive is refused and nothing is added. A version this registry already holds identically
            is skipped; one it holds with other content is refused (versions are immutable). Aliases move only
            with --aliases (recorded in the alias history); serving replicas that poll an alias then hot-swap.
            """,
        options: [
            .value("registry", "DIR", help: "Registry directory (created if missing).", default: ".rummage/registry"),
            .value("from", "FILE", help: "The archive 'registry export' wrote.", required: true),
            .flag("aliases", help: "Also point the archive's aliases at its versions."),
            .flag("json", help: "Print JSON."),
        ])

    let registry: ModelRegistry
    let from: String
    let aliases: Bool
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        from = try arguments.requiredString("from")
        aliases = arguments.flag("aliases")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let imported = try RegistryArchive.import(from, into: registry, applyingAliases: aliases)
        if json {
            output.standardOutput(try jsonObjectLine(["model": imported.model, "added": imported.added, "skipped": imported.skipped,
                                                      "aliases_moved": imported.aliasesMoved, "registry": registry.root]) + "\n")
        } else {
            var line = "imported \(imported.model) into \(registry.root): added " + (imported.added.isEmpty ? "none" : imported.added.map { "v\($0)" }.joined(separator: ", "))
            if !imported.skipped.isEmpty { line += "; already here: " + imported.skipped.map { "v\($0)" }.joined(separator: ", ") }
            if !imported.aliasesMoved.isEmpty {
                line += "; moved " + imported.aliasesMoved.sorted { $0.key < $1.key }.map { "\($0.key) → v\($0.value)" }.joined(separator: ", ")
            }
            output.standardOutput(line + "\n")
        }
    }
}

/// `rummage registry push`: versions of a local registry into a shared one in S3.
struct RegistryPushCommand: Command {
    static let configuration = CommandConfiguration(
        name: "registry push",
        abstract: "Upload versions of a local registry (e.g. a pipeline's) to a shared registry in S3, optionally with their aliases.",
        discussion: """
            Each version is verified, its files created once in the bucket (If-None-Match) and its manifest last,
            so other machines see it whole or not at all; a version the bucket holds identically is skipped, one
            it holds with other content refused. With --aliases, the local aliases that point at pushed versions
            are moved in the bucket too (a compare-and-swap): replicas serving from S3 hot-swap at their next poll.
            Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment.
            """,
        options: [
            .value("registry", "DIR", help: "The local registry directory.", default: ".rummage/registry"),
            .value("to", "S3", help: "The shared registry: s3://BUCKET/PREFIX[?endpoint=URL].", required: true),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .repeated("version", "REF", help: "A version number or alias to push (repeat for several; default: every version)."),
            .flag("aliases", help: "Also move the bucket's aliases to where the local ones point (for the versions pushed)."),
            .flag("json", help: "Print JSON."),
        ])

    let local: ModelRegistry
    let to: String
    let model: String
    let references: [String]
    let aliases: Bool
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        local = ModelRegistry(root: try arguments.requiredString("registry"))
        to = try arguments.requiredString("to")
        guard to.hasPrefix("s3://") else { throw UsageError("--to must be an s3://BUCKET/PREFIX location, got '\(to)'") }
        model = try arguments.requiredString("model")
        references = arguments.strings("version")
        aliases = arguments.flag("aliases")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        guard let shared = try RegistryLocation(to).shared else { return }
        let versions = try references.map { reference throws(RegistryError) in try local.resolve(model, reference) }
        let chosen = versions.isEmpty ? local.versions(model) : versions
        guard !chosen.isEmpty else { throw DataError(.fileNotFound, "no versions of '\(model)' here", path: local.root) }
        let uploaded = try shared.push(model, versions: chosen, from: local)
        var moved: [String: Int] = [:]
        if aliases {
            for (alias, version) in local.aliases(model).sorted(by: { $0.key < $1.key }) where chosen.contains(version) {
                try shared.setAlias(model, alias, to: version)
                moved[alias] = version
            }
        }
        if json {
            output.standardOutput(try jsonObjectLine(["model": model, "to": Settings.masked(to), "uploaded": uploaded,
                                                      "already_there": chosen.filter { !uploaded.contains($0) }, "aliases_moved": moved]) + "\n")
        } else {
            output.standardOutput("pushed \(model) to \(to): uploaded " + (uploaded.isEmpty ? "none" : uploaded.map { "v\($0)" }.joined(separator: ", "))
                                  + (moved.isEmpty ? "" : "; moved " + moved.sorted { $0.key < $1.key }.map { "\($0.key) → v\($0.value)" }.joined(separator: ", "))
                                  + "\n")
        }
    }
}
