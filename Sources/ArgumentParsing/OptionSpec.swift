/// One `--name` option a command accepts.
public struct OptionSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `--name`, no value.
        case flag
        /// `--name VALUE`, at most once.
        case value
        /// `--name VALUE`, any number of times (e.g. `--set key=value`).
        case repeated
    }

    public var name: String
    public var kind: Kind
    public var valueName: String
    public var help: String
    public var defaultValue: String?
    public var isRequired: Bool
    /// The configuration file key (dotted) and `RUMMAGE_…` environment variable that can give this option
    /// its value; nil for options only the command line gives (`--json`, `--out`, …).
    public var configKey: String?

    /// This option, also read from the configuration file at `key` (and from the environment).
    public func config(_ key: String) -> OptionSpec {
        var copy = self
        copy.configKey = key
        return copy
    }

    /// The environment variable that overrides `configKey`: `serving.port` → `RUMMAGE_SERVING_PORT`.
    public var environmentVariable: String? { configKey.map(Self.environmentVariable(forKey:)) }

    /// The environment variable of a configuration key: `RUMMAGE_` and the key in capitals, other characters as `_`.
    public static func environmentVariable(forKey key: String) -> String {
        "RUMMAGE_" + key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    public static func flag(_ name: String, help: String) -> OptionSpec {
        OptionSpec(name: name, kind: .flag, valueName: "", help: help, defaultValue: nil, isRequired: false, configKey: nil)
    }

    public static func value(_ name: String, _ valueName: String, help: String, default defaultValue: String? = nil,
                             required: Bool = false) -> OptionSpec {
        OptionSpec(name: name, kind: .value, valueName: valueName, help: help, defaultValue: defaultValue,
                   isRequired: required, configKey: nil)
    }

    public static func repeated(_ name: String, _ valueName: String, help: String) -> OptionSpec {
        OptionSpec(name: name, kind: .repeated, valueName: valueName, help: help, defaultValue: nil, isRequired: false, configKey: nil)
    }
}

/// What a command is called, what it does, and which options it takes.
public struct CommandConfiguration: Sendable {
    public var name: String
    public var abstract: String
    public var discussion: String
    public var options: [OptionSpec]

    public init(name: String, abstract: String, discussion: String = "", options: [OptionSpec]) {
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.options = options
    }
}

/// The exit codes of every command, in the style of BSD's sysexits (docs/cli.md lists them).
public enum ExitCode {
    /// Done.
    public static let success: Int32 = 0
    /// The pipeline registered a version the gate did not bless (the alias did not move).
    public static let notBlessed: Int32 = 3
    /// Some input was refused and the rest taken (e.g. lines of an ingest): the reasons are printed.
    public static let partiallyRefused: Int32 = 4
    /// A bad command line or configuration: unknown option or key, missing or malformed value (EX_USAGE).
    public static let usage: Int32 = 64
    /// Input data that cannot be used: malformed, inconsistent, or all of it refused (EX_DATAERR).
    public static let dataError: Int32 = 65
    /// An input file or directory that does not exist (EX_NOINPUT).
    public static let noInput: Int32 = 66
    /// A service or store that could not be reached or used: PostgreSQL, Redis, RabbitMQ, a server (EX_UNAVAILABLE).
    public static let unavailable: Int32 = 69
    /// An unexpected failure: a bug, or an error the command did not anticipate (EX_SOFTWARE).
    public static let internalError: Int32 = 70

    /// Each code with what it means, for help and docs.
    public static let table: [(code: Int32, meaning: String)] = [
        (success, "success"), (notBlessed, "registered but not blessed by the gate"),
        (partiallyRefused, "some input refused, the rest taken"), (usage, "bad command line or configuration"),
        (dataError, "input data unusable, or all of it refused"), (noInput, "an input file or directory does not exist"),
        (unavailable, "a service or store could not be reached"), (internalError, "an unexpected failure"),
    ]
}

/// A bad command line: unknown option, missing or malformed value. Reported on one line, exit code 64.
public struct UsageError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An outcome a command reports with an exit code of its own (`ExitCode`), as one line on stderr.
public protocol ExitCodeError: Error, CustomStringConvertible {
    var exitCode: Int32 { get }
}

/// An error whose description is already a complete one-line message for a person (bad input data,
/// a missing file). The tool prints it as is; its exit code is `ExitCode.dataError` unless it says otherwise.
public protocol UserFacingError: ExitCodeError {}

extension UserFacingError {
    public var exitCode: Int32 { ExitCode.dataError }
}

/// The candidates closest to a mistyped `word` (edit distance at most a third of its length, at least 1),
/// best first: what "did you mean" offers.
public func suggestions(for word: String, among candidates: [String]) -> [String] {
    let limit = max(1, word.count / 3)
    let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }
    let best = scored.map(\.1).min()
    return scored.filter { $0.1 == best }.map(\.0).sorted()
}

/// " (did you mean 'x'?)", or "" when nothing is close.
public func didYouMean(_ word: String, among candidates: [String], prefix: String = "") -> String {
    let close = suggestions(for: word, among: candidates)
    guard !close.isEmpty else { return "" }
    return "; did you mean " + close.map { "'\(prefix)\($0)'" }.joined(separator: " or ") + "?"
}

/// Edit distance between two strings (characters): insertions, deletions, substitutions and swaps of
/// two neighbours, each counting one (optimal string alignment), so `prot` is one edit from `port`.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
        }
    }
    return d[a.count][b.count]
}
