import ArgumentParsing
import Foundation
import Pipeline
import Serving
import RummageCore

/// `rummage config check`: validates the configuration file and prints the effective configuration (each
/// value with where it came from, passwords masked).
struct ConfigCheckCommand: Command {
    static let configuration = CommandConfiguration(
        name: "config check",
        abstract: "Check a configuration file and print the effective configuration, passwords masked.",
        discussion: """
            Reads --config FILE (or $RUMMAGE_CONFIG), refuses unknown keys and values of the wrong kind with
            their key path and line, and prints every key that has a value, from the file or from a RUMMAGE_*
            environment variable (which wins). Keys: docs/configuration.md.
            """,
        options: [.flag("json", help: "Print JSON.")])

    let path: String
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        guard let path = arguments.string("config") ?? ProcessInfo.processInfo.environment["RUMMAGE_CONFIG"] else {
            throw UsageError("give --config FILE (or set $RUMMAGE_CONFIG)")
        }
        self.path = path
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let tool = RummageCLI.tool
        let document = try Settings.load(path, tool: tool)
        let environment = ProcessInfo.processInfo.environment
        var values: [(key: String, value: String, from: String)] = []
        for key in Settings.schema(tool).paths where !key.hasPrefix("pipelines") && !key.hasPrefix("surfaces") {
            let variable = OptionSpec.environmentVariable(forKey: key)
            if let value = environment[variable] {
                values.append((key, Settings.masked(value), "$" + variable))
            } else if let node = document.value(at: key), let value = node.text, !node.isNull {
                values.append((key, value, "\(path):\(node.line)"))
            }
        }
        let pipelines = document["pipelines"]?.entries?.map(\.key) ?? []
        for name in pipelines {
            _ = try PipelineSource.configured(name, in: document, source: path)  // each must be a valid pipeline
        }
        let surfaces = try SurfaceSource.decode(document["surfaces"], source: path).map(\.name)
        if json {
            var object: [String: Any] = ["config": path, "pipelines": pipelines, "surfaces": surfaces]
            object["values"] = Dictionary(uniqueKeysWithValues: values.map { ($0.key, ["value": $0.value, "from": $0.from]) })
            output.standardOutput(try jsonObjectLine(object) + "\n")
        } else {
            let width = values.map(\.key.count).max() ?? 0
            var text = "\(path): valid\n"
            for v in values { text += "  \(v.key.padding(toLength: width, withPad: " ", startingAt: 0))  \(v.value)  (\(v.from))\n" }
            if !pipelines.isEmpty { text += "  pipelines: \(pipelines.joined(separator: ", "))\n" }
            if !surfaces.isEmpty { text += "  surfaces: \(surfaces.joined(separator: ", "))\n" }
            output.standardOutput(text)
        }
    }
}

/// `rummage config reference`: the reference of every configuration key, in markdown (docs/configuration.md
/// is this output; a test keeps them equal).
struct ConfigReferenceCommand: Command {
    static let configuration = CommandConfiguration(
        name: "config reference",
        abstract: "Print the reference of every configuration key (markdown), generated from the commands' options.",
        options: [])

    init(_ arguments: ParsedArguments) throws {}

    func run(output: CommandOutput) throws { output.standardOutput(Self.reference(RummageCLI.tool)) }

    static func reference(_ tool: CommandLineTool) -> String {
        struct Use { var commands: [String] = []; var help = ""; var defaultValue: String?; var variable = "" }
        var uses: [String: Use] = [:]
        for command in tool.commands {
            let c = tool.assembled(command)
            for option in c.options {
                guard let key = option.configKey else { continue }
                var use = uses[key] ?? Use()
                use.commands.append("`\(c.name) --\(option.name)`")
                if use.help.isEmpty { use.help = option.help }
                use.defaultValue = use.defaultValue ?? option.defaultValue
                use.variable = option.environmentVariable ?? ""
                uses[key] = use
            }
        }
        var text = "| key | environment | default | what it gives |\n|---|---|---|---|\n"
        for key in uses.keys.sorted() {
            let use = uses[key]!
            let help = use.help.replacingOccurrences(of: "|", with: "\\|")
            text += "| `\(key)` | `\(use.variable)` | \(use.defaultValue.map { "`\($0)`" } ?? "") | \(help) Read by \(use.commands.joined(separator: ", ")). |\n"
        }
        text += "| `pipelines.NAME` | | | A pipeline (the keys of a pipeline file, docs/pipeline.md): `rummage pipeline run --pipeline NAME`. |\n"
        text += "| `surfaces.NAME` | | | A surface `serve` answers at /v1/surfaces/NAME/recommendations (keys: "
            + Surface.definitionKeys.map { "`\($0.key)`" }.joined(separator: ", ") + "; docs/serving.md, \"Surfaces\"). |\n"
        return text
    }
}

/// Where `pipeline run --pipeline` finds its pipeline: a file, or `pipelines.NAME` in the configuration file.
enum PipelineSource {
    static func configured(_ name: String, in document: ConfigValue, source: String) throws -> PipelineConfig {
        guard let node = document["pipelines"]?[name] else {
            let names = document["pipelines"]?.entries?.map(\.key) ?? []
            throw DataError(.fileNotFound, "no pipeline file '\(name)', and no 'pipelines.\(name)' in the configuration"
                            + didYouMean(name, among: names), path: source)
        }
        return try PipelineConfig.decode(node, source: "\(source): pipelines.\(name)")
    }

    /// The pipeline `reference` names: a file if one exists there, else one of the configuration file's.
    static func load(_ reference: String, configPath: String?) throws -> PipelineConfig {
        if FileManager.default.fileExists(atPath: reference) || configPath == nil { return try PipelineConfig.load(path: reference) }
        let path = configPath!
        return try configured(reference, in: try Settings.load(path, tool: RummageCLI.tool), source: path)
    }
}

/// Where `serve` finds its surfaces: a file (`--surfaces FILE`: a map of names to definitions, JSON or
/// YAML), or the configuration file's `surfaces` section.
enum SurfaceSource {
    /// The surfaces of `node` (a map of names to definitions); each problem names its key path.
    static func decode(_ node: ConfigValue?, source: String) throws -> [Surface] {
        guard let node else { return [] }
        guard let entries = node.entries else { throw DataError(.malformedLine, "'surfaces' must map names to surface definitions", path: source) }
        var schema = ConfigSchema()
        for (key, isList) in Surface.definitionKeys { schema.add("*." + key, isList ? .list : .scalar) }
        do { try schema.check(node, source: source) } catch {
            throw DataError(.malformedLine, "surfaces: " + error.message, path: error.source, line: error.line)
        }
        return try entries.map { name, definition in
            let decoded: Surface.Definition
            do {
                decoded = try JSONDecoder().decode(Surface.Definition.self, from: JSONSerialization.data(withJSONObject: definition.jsonObject))
            } catch let error as DecodingError {
                throw DataError(.malformedLine, "surfaces.\(name): " + PipelineConfig.describe(error), path: source, line: definition.line)
            }
            do throws(SurfaceError) { return try Surface(name: name, definition: decoded) } catch {
                throw DataError(.malformedLine, error.message, path: source, line: definition.line)
            }
        }
    }

    /// The surfaces of `file` when given, else of the configuration file at `configPath`, else none.
    static func load(file: String?, configPath: String?) throws -> [Surface] {
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw DataError(.fileNotFound, "cannot read", path: file) }
            let document: ConfigValue
            do { document = try ConfigValue.parse(text, source: file) } catch {
                throw DataError(.malformedLine, error.message, path: file, line: error.line)
            }
            return try decode(document["surfaces"] ?? document, source: file)
        }
        guard let configPath else { return [] }
        return try decode(try Settings.load(configPath, tool: RummageCLI.tool)["surfaces"], source: configPath)
    }
}
