/// The keys a configuration document may hold and the kind of value each takes. `check` refuses an
/// unknown key with the closest known ones, and a value of the wrong kind with what was expected; each
/// error names the key path and its line. A `*` segment stands for any key (`pipelines.*.model`).
public struct ConfigSchema: Sendable {
    public enum Kind: Sendable, Equatable {
        /// One value (a string, number or boolean).
        case scalar
        /// A list of single values.
        case list
        /// A map whose keys are those the schema lists under it.
        case section
        /// A map of any keys to single values (e.g. a model's settings).
        case freeMap
    }

    private var kinds: [String: Kind] = ["": .section]

    public init() {}

    /// Declares `path` (dotted) as holding a `kind`; the sections above it are declared too.
    public mutating func add(_ path: String, _ kind: Kind) {
        let parts = path.split(separator: ".")
        for n in 1..<max(1, parts.count) {
            let parent = parts.prefix(n).joined(separator: ".")
            if kinds[parent] == nil { kinds[parent] = .section }
        }
        kinds[path] = kind
    }

    /// Declares every path of `other` under `prefix`.
    public mutating func add(_ other: ConfigSchema, under prefix: String) {
        for (path, kind) in other.kinds { add(path.isEmpty ? prefix : "\(prefix).\(path)", kind) }
    }

    /// Every declared path but the root, sorted.
    public var paths: [String] { kinds.keys.filter { !$0.isEmpty }.sorted() }

    /// Throws the first problem of `value` against the schema.
    public func check(_ value: ConfigValue, source: String) throws(ConfigError) {
        try check(value, schemaPath: "", path: "", source: source)
    }

    private func children(of schemaPath: String) -> [String] {
        let prefix = schemaPath.isEmpty ? "" : schemaPath + "."
        return kinds.keys.filter { $0.hasPrefix(prefix) && $0 != schemaPath && !$0.dropFirst(prefix.count).contains(".") }
            .map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    private func check(_ value: ConfigValue, schemaPath: String, path: String, source: String) throws(ConfigError) {
        let kind = kinds[schemaPath] ?? .section
        let name = path.isEmpty ? "the document" : "'\(path)'"
        switch kind {
        case .scalar:
            guard value.text != nil else { throw ConfigError(source: source, line: value.line, "\(name) takes a single value, not a list or a map") }
        case .list:
            guard case .list(let items, _) = value, items.allSatisfy({ $0.text != nil }) else {
                throw ConfigError(source: source, line: value.line, "\(name) takes a list of values")
            }
        case .freeMap:
            guard let entries = value.entries else { throw ConfigError(source: source, line: value.line, "\(name) takes a map of names to values") }
            for (key, item) in entries where item.text == nil {
                throw ConfigError(source: source, line: item.line, "'\(path).\(key)' takes a single value")
            }
        case .section:
            guard let entries = value.entries else {
                throw ConfigError(source: source, line: value.line, "\(name) takes a map of keys (\(children(of: schemaPath).joined(separator: ", ")))")
            }
            let known = children(of: schemaPath)
            for (key, item) in entries {
                let keyPath = path.isEmpty ? key : "\(path).\(key)"
                let child = known.contains(key) ? key : (known.contains("*") ? "*" : nil)
                guard let child else {
                    let hint = didYouMean(key, among: known.filter { $0 != "*" })
                    throw ConfigError(source: source, line: item.line,
                                      "unknown key '\(keyPath)'\(hint.isEmpty ? "; known here: " + known.joined(separator: ", ") : hint)")
                }
                if item.isNull { continue }  // `key:` with no value: as if absent
                try check(item, schemaPath: schemaPath.isEmpty ? child : "\(schemaPath).\(child)", path: keyPath, source: source)
            }
        }
    }
}
