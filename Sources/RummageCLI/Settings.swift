import ArgumentParsing
import Foundation
import Pipeline
import Serving
import RummageCore

/// The configuration file and the environment: where a command's options get the values its command
/// line leaves out (docs/configuration.md). One file (`--config FILE` or `$RUMMAGE_CONFIG`; YAML, or JSON,
/// which YAML reads too) serves every command: each key has one meaning wherever it is read. Precedence:
/// the command line, then `RUMMAGE_<KEY>` in the environment, then the file, then the option's default.
///
/// A value holding a password (a URL such as `postgresql://user:secret@host/db`) is refused on the command
/// line (the process list shows it) and in the file (it is copied around): give it in the environment, or
/// use the store's own password file (`~/.pgpass`).
enum Settings {
    static let configOption = OptionSpec.value("config", "FILE",
                                               help: "Configuration file (YAML or JSON; default: $RUMMAGE_CONFIG). Keys: docs/configuration.md.")

    /// Keys shared by every command that takes the option.
    static let sharedKeys: [String: String] = [
        "log": "log", "registry": "registry", "online-store": "online_store", "schema": "schema", "model": "model",
        "precomputed": "precomputed", "queue": "queue", "features": "features",
    ]

    /// Keys of one command's options, by command.
    static let commandKeys: [String: [String: String]] = [
        "serve": Dictionary(uniqueKeysWithValues: [
            "version", "host", "port", "threads", "poll", "audit-log", "tls-cert", "tls-key", "allowed-hosts", "allowed-origins",
            "max-connections", "max-connections-per-client", "header-timeout", "idle-timeout", "max-clock-skew", "request-deadline",
            "max-buffered", "max-body", "experiment", "split", "experiment-surface", "interleave", "publish-events",
        ].map { ($0, "serving." + $0.replacingOccurrences(of: "-", with: "_")) }
            + [("api-keys", "serving.api_keys_file"), ("admin-token-file", "serving.admin_token_file")]),
        "ingest": ["from": "ingest.from", "batch-size": "ingest.batch_size", "producer": "ingest.producer", "idle-exit": "ingest.idle_exit", "group": "ingest.group"],
        "publish": ["to": "publish.to", "per-message": "publish.per_message", "producer": "publish.producer"],
        "batch-recommend": ["version": "batch.version", "k": "batch.k", "ttl": "batch.ttl", "method": "batch.method", "to": "batch.to"],
    ]

    /// The configuration key of `option` in `command`, if the file can give it.
    static func key(command: String, option: String) -> String? {
        commandKeys[command]?[option] ?? sharedKeys[option]
    }

    /// Every key the file may hold: each option's key, `pipelines.NAME` (a pipeline, docs/pipeline.md) and
    /// `surfaces.NAME` (a surface, docs/serving.md).
    static func schema(_ tool: CommandLineTool) -> ConfigSchema {
        var schema = ConfigSchema()
        for command in tool.commands {
            for option in tool.assembled(command).options {
                guard let key = option.configKey else { continue }
                schema.add(key, option.kind == .repeated ? .list : .scalar)
            }
        }
        schema.add(PipelineConfig.schema, under: "pipelines.*")
        for (key, isList) in Surface.definitionKeys { schema.add("surfaces.*." + key, isList ? .list : .scalar) }
        return schema
    }

    /// Reads and checks the configuration file: unknown keys and values of the wrong kind are refused
    /// with their key path and line, and so are passwords.
    static func load(_ path: String, tool: CommandLineTool) throws -> ConfigValue {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DataError(.fileNotFound, "no such configuration file", path: path)
        }
        do {
            let document = try ConfigValue.parse(text, source: path)
            if document["train"] != nil && document["gate"] != nil && document["pipelines"] == nil {
                throw UsageError("\(path) is a pipeline, not a configuration file: give it with --pipeline FILE")
            }
            try schema(tool).check(document, source: path)
            try refusePasswords(in: document, path: "", source: path)
            return document
        } catch let error as UsageError {
            throw error
        } catch {
            throw UsageError("\(error)")
        }
    }

    private static func refusePasswords(in value: ConfigValue, path: String, source: String) throws(ConfigError) {
        switch value {
        case .scalar:
            if let text = value.text, holdsPassword(text) {
                throw ConfigError(source: source, line: value.line, "'\(path)' holds a password: give this value in the environment "
                                  + "($\(OptionSpec.environmentVariable(forKey: path))) or use the store's password file, never in the configuration file")
            }
        case .list(let items, _):
            for item in items { try refusePasswords(in: item, path: path, source: source) }
        case .map(let entries, _):
            for (key, item) in entries { try refusePasswords(in: item, path: path.isEmpty ? key : "\(path).\(key)", source: source) }
        }
    }

    /// Whether `text` is a URL with a password (`scheme://user:password@host…`).
    static func holdsPassword(_ text: String) -> Bool {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@") else { return false }
        let userInfo = text[scheme.upperBound..<at]
        return !userInfo.contains("/") && userInfo.contains(":")
    }

    /// `text` with the password of a URL replaced by `****`.
    static func masked(_ text: String) -> String {
        guard holdsPassword(text), let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@"),
              let colon = text[scheme.upperBound..<at].firstIndex(of: ":") else { return text }
        return String(text[..<text.index(after: colon)]) + "****" + String(text[at...])
    }

    /// The values `command` gets from the environment and the file for the options its command line
    /// leaves out. A password on the command line is refused here too.
    static func fallbacks(for command: CommandConfiguration, given: [String: [String]], environment: [String: String],
                          tool: CommandLineTool) throws -> [String: (value: String, origin: String)] {
        for option in command.options {
            if let value = given[option.name]?.first(where: holdsPassword) {
                throw UsageError("'--\(option.name) \(masked(value))' holds a password, which the process list would show: "
                                 + "give it in the environment (\(option.environmentVariable.map { "$" + $0 } ?? "a variable")) or use the store's password file")
            }
        }
        let path = given["config"]?.last ?? environment["RUMMAGE_CONFIG"]
        let document = try path.map { try load($0, tool: tool) }
        var found: [String: (value: String, origin: String)] = [:]
        for option in command.options where given[option.name] == nil {
            guard let key = option.configKey, let variable = option.environmentVariable else { continue }
            if let value = environment[variable] {
                found[option.name] = (value, "$\(variable)")
            } else if let path, let node = document?.value(at: key), !node.isNull {
                guard let value = node.text else { continue }  // lists: checked by the schema, none used yet
                found[option.name] = (value, "'\(key)' (\(path):\(node.line))")
            }
        }
        return found
    }
}
