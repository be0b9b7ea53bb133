/// The options given to one command, checked against its `OptionSpec`s, with typed accessors that
/// throw `UsageError` naming the option when a value is missing or malformed.
public struct ParsedArguments: Sendable {
    public let command: String
    private var values: [String: [String]] = [:]
    private var flags: Set<String> = []
    private let specs: [String: OptionSpec]
    /// Where a value that did not come from the command line came from (`serving.port in rummage.yaml`).
    private var origins: [String: String] = [:]

    /// Parses `arguments` (without the command name). Throws on unknown options, a missing value,
    /// an option given twice, stray positional arguments or a missing required option.
    /// `fallbacks`: values for options the command line does not give (from a configuration file or the
    /// environment), each with where it came from, for error messages; a flag's value is "true" or "false".
    public init(command: String, options: [OptionSpec], arguments: [String],
                fallbacks: [String: (value: String, origin: String)] = [:]) throws(UsageError) {
        self.command = command
        var specs: [String: OptionSpec] = [:]
        for spec in options { specs[spec.name] = spec }
        self.specs = specs
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw UsageError("unexpected argument '\(argument)'")
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let spec = specs[name] else {
                throw UsageError("unknown option '--\(name)'" + didYouMean(name, among: options.map(\.name), prefix: "--"))
            }
            switch spec.kind {
            case .flag:
                guard inlineValue == nil else { throw UsageError("option '--\(name)' takes no value") }
                flags.insert(name)
            case .value, .repeated:
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard i + 1 < arguments.count, !arguments[i + 1].hasPrefix("--") else {
                        throw UsageError("option '--\(name)' needs a value (\(spec.valueName))")
                    }
                    i += 1
                    value = arguments[i]
                }
                if spec.kind == .value && values[name] != nil {
                    throw UsageError("option '--\(name)' given more than once")
                }
                values[name, default: []].append(value)
            }
            i += 1
        }
        for (name, fallback) in fallbacks {
            guard let spec = specs[name], values[name] == nil, !flags.contains(name) else { continue }
            origins[name] = fallback.origin
            switch spec.kind {
            case .flag:
                guard ["true", "false"].contains(fallback.value) else {
                    throw UsageError("\(fallback.origin) must be true or false, got '\(fallback.value)'")
                }
                if fallback.value == "true" { flags.insert(name) }
            case .value, .repeated:
                values[name] = [fallback.value]
            }
        }
        for spec in options where spec.isRequired && values[spec.name] == nil {
            throw UsageError("missing required option '--\(spec.name) \(spec.valueName)'"
                             + (spec.configKey.map { " (or '\($0)' in the configuration file)" } ?? ""))
        }
    }

    /// How errors name an option's value: `option '--port'`, or where a configured value came from.
    private func describe(_ name: String) -> String { origins[name] ?? "option '--\(name)'" }

    /// The options the command line gave: values by option name, flags as ["true"].
    public var given: [String: [String]] {
        values.filter { origins[$0.key] == nil }.merging(flags.filter { origins[$0] == nil }.map { ($0, ["true"]) }) { a, _ in a }
    }


    private func spec(_ name: String) -> OptionSpec {
        guard let spec = specs[name] else { preconditionFailure("option '--\(name)' is not declared") }
        return spec
    }

    /// Whether the flag was given.
    public func flag(_ name: String) -> Bool {
        precondition(spec(name).kind == .flag)
        return flags.contains(name)
    }

    /// The option's value, else its declared default, else nil.
    public func string(_ name: String) -> String? { values[name]?.last ?? spec(name).defaultValue }

    /// The option's value or default; throws when neither exists.
    public func requiredString(_ name: String) throws(UsageError) -> String {
        guard let value = string(name) else {
            throw UsageError("missing required option '--\(name) \(spec(name).valueName)'")
        }
        return value
    }

    /// Every value of a repeated option, in order.
    public func strings(_ name: String) -> [String] { values[name] ?? [] }

    /// The option as an integer within `range`.
    public func int(_ name: String, in range: ClosedRange<Int> = Int.min...Int.max) throws(UsageError) -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text) else {
            throw UsageError("\(describe(name)) expects an integer, got '\(text)'")
        }
        guard range.contains(value) else {
            throw UsageError("\(describe(name)) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }

    /// The option as a finite number within `range`.
    public func double(_ name: String, in range: ClosedRange<Double>) throws(UsageError) -> Double? {
        guard let text = string(name) else { return nil }
        guard let value = Double(text), value.isFinite else { throw UsageError("\(describe(name)) expects a number, got '\(text)'") }
        guard range.contains(value) else {
            throw UsageError("\(describe(name)) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }

    /// The option as an integer within `range`; throws when absent and without default.
    public func requiredInt(_ name: String, in range: ClosedRange<Int> = Int.min...Int.max) throws(UsageError) -> Int {
        guard let value = try int(name, in: range) else {
            throw UsageError("missing required option '--\(name) \(spec(name).valueName)'")
        }
        return value
    }

    /// A repeated `key=value` option as ordered pairs; throws on an entry without `=` or a repeated key.
    public func keyValues(_ name: String) throws(UsageError) -> [(key: String, value: String)] {
        var seen: Set<String> = []
        var pairs: [(key: String, value: String)] = []
        for entry in strings(name) {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw UsageError("option '--\(name)' expects key=value, got '\(entry)'")
            }
            let key = String(entry[..<eq])
            guard seen.insert(key).inserted else { throw UsageError("'--\(name) \(key)=…' given more than once") }
            pairs.append((key, String(entry[entry.index(after: eq)...])))
        }
        return pairs
    }
}
