import CYAML
import Foundation

/// A configuration document's value: what YAML (through Debian's libyaml) or JSON (a subset of YAML 1.2)
/// holds, with where each value was written, so every error names its key path and line.
public indirect enum ConfigValue: Sendable, Equatable {
    /// A scalar as written; `quoted` scalars are always strings, plain ones may read as numbers or booleans.
    case scalar(String, quoted: Bool, line: Int)
    case list([ConfigValue], line: Int)
    /// Keys in the order written.
    case map([(key: String, value: ConfigValue)], line: Int)

    public static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case let (.scalar(x, qx, _), .scalar(y, qy, _)): x == y && qx == qy
        case let (.list(x, _), .list(y, _)): x == y
        case let (.map(x, _), .map(y, _)): x.map(\.key) == y.map(\.key) && zip(x, y).allSatisfy { $0.value == $1.value }
        default: false
        }
    }

    /// The line (1-based) the value starts on.
    public var line: Int {
        switch self {
        case .scalar(_, _, let line), .list(_, let line), .map(_, let line): line
        }
    }

    /// The entries of a map (nil for a scalar or a list).
    public var entries: [(key: String, value: ConfigValue)]? {
        if case .map(let entries, _) = self { return entries }
        return nil
    }

    /// The value under `key` of a map.
    public subscript(key: String) -> ConfigValue? { entries?.first { $0.key == key }?.value }

    /// The value at a dotted path (`serving.port`).
    public func value(at path: String) -> ConfigValue? {
        path.split(separator: ".").reduce(Optional(self)) { node, key in node?[String(key)] }
    }

    /// A plain scalar's text: "true"/"false" for YAML's booleans, numbers as written; nil for a list or map.
    public var text: String? {
        guard case .scalar(let text, let quoted, _) = self else { return nil }
        if !quoted, ["true", "True", "TRUE"].contains(text) { return "true" }
        if !quoted, ["false", "False", "FALSE"].contains(text) { return "false" }
        return text
    }

    /// A plain scalar YAML reads as null (`~`, `null`, or nothing).
    public var isNull: Bool {
        guard case .scalar(let text, let quoted, _) = self else { return false }
        return !quoted && ["", "~", "null", "Null", "NULL"].contains(text)
    }

    /// The value as Foundation JSON objects (plain scalars resolved by YAML 1.2's core schema: null,
    /// booleans, integers, floats; anything else a string), for `JSONDecoder`.
    public var jsonObject: Any {
        switch self {
        case .scalar(let text, let quoted, _):
            if quoted { return text }
            if isNull { return NSNull() }
            if let flag = self.text, flag == "true" || flag == "false" { return flag == "true" }
            if let n = Int(text) { return n }
            if let x = Double(text), text.rangeOfCharacter(from: .letters) == nil { return x }
            return text
        case .list(let items, _): return items.map(\.jsonObject)
        case .map(let entries, _): return Dictionary(entries.map { ($0.key, $0.value.jsonObject) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// Parses a YAML (or JSON) document; an empty document is an empty map. Throws `ConfigError` with
    /// the line of a syntax error, a key used twice, or a non-scalar key.
    public static func parse(_ text: String, source: String) throws(ConfigError) -> ConfigValue {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw ConfigError(source: source, "cannot start the YAML parser") }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        var document = yaml_document_t()
        let loaded = bytes.withUnsafeBufferPointer { buffer -> Int32 in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            return yaml_parser_load(&parser, &document)
        }
        guard loaded == 1 else {
            let problem = parser.problem.map { String(cString: $0) } ?? "not YAML"
            throw ConfigError(source: source, line: Int(parser.problem_mark.line) + 1, "not valid YAML: \(problem)")
        }
        defer { yaml_document_delete(&document) }
        guard let root = yaml_document_get_root_node(&document) else { return .map([], line: 1) }
        return try convert(root, in: &document, source: source, path: "")
    }

    private static func convert(_ node: UnsafeMutablePointer<yaml_node_t>, in document: inout yaml_document_t, source: String,
                                path: String) throws(ConfigError) -> ConfigValue {
        let line = Int(node.pointee.start_mark.line) + 1
        switch node.pointee.type {
        case YAML_SCALAR_NODE:
            let scalar = node.pointee.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            return .scalar(text, quoted: scalar.style != YAML_PLAIN_SCALAR_STYLE, line: line)
        case YAML_SEQUENCE_NODE:
            var items: [ConfigValue] = []
            var item = node.pointee.data.sequence.items.start
            while item != node.pointee.data.sequence.items.top {
                guard let child = yaml_document_get_node(&document, item!.pointee) else { break }
                items.append(try convert(child, in: &document, source: source, path: "\(path)[\(items.count)]"))
                item = item! + 1
            }
            return .list(items, line: line)
        case YAML_MAPPING_NODE:
            var entries: [(key: String, value: ConfigValue)] = []
            var pair = node.pointee.data.mapping.pairs.start
            while pair != node.pointee.data.mapping.pairs.top {
                guard let keyNode = yaml_document_get_node(&document, pair!.pointee.key),
                      let valueNode = yaml_document_get_node(&document, pair!.pointee.value) else { break }
                guard case .scalar(let key, _, let keyLine) = try convert(keyNode, in: &document, source: source, path: path) else {
                    throw ConfigError(source: source, line: line, "\(path.isEmpty ? "the document" : "'\(path)'"): a key must be a plain name")
                }
                let keyPath = path.isEmpty ? key : "\(path).\(key)"
                guard !entries.contains(where: { $0.key == key }) else {
                    throw ConfigError(source: source, line: keyLine, "'\(keyPath)' is given twice")
                }
                // A block map or list starts on the line after its key: it is reported at its key.
                var value = try convert(valueNode, in: &document, source: source, path: keyPath)
                switch value {
                case .map(let children, _): value = .map(children, line: keyLine)
                case .list(let items, _): value = .list(items, line: keyLine)
                case .scalar: break
                }
                entries.append((key, value))
                pair = pair! + 1
            }
            return .map(entries, line: line)
        default:
            return .map([], line: line)
        }
    }
}

/// A configuration that cannot be used: where (file and line) and what, with the key path in the message.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var source: String
    public var line: Int?
    public var message: String

    public init(source: String, line: Int? = nil, _ message: String) {
        self.source = source
        self.line = line
        self.message = message
    }

    public var description: String { "\(source)\(line.map { ":\($0)" } ?? ""): \(message)" }
}
