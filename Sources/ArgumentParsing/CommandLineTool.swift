import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A command a `CommandLineTool` dispatches to: it declares its options and runs with them parsed.
public protocol Command: Sendable {
    static var configuration: CommandConfiguration { get }
    /// Validates `arguments`; throw `UsageError` for values that are present but unusable.
    init(_ arguments: ParsedArguments) throws
    /// Does the work, writing results to `output.standardOutput` and progress to `output.standardError`.
    func run(output: CommandOutput) throws
}

/// Where a command's text goes: the process's stdout and stderr, or memory (tests).
public final class CommandOutput: Sendable {
    private let forward: (@Sendable (_ text: String, _ isError: Bool) -> Void)?
    private let captured = Mutex<(out: String, err: String)>(("", ""))

    private init(forward: (@Sendable (String, Bool) -> Void)?) { self.forward = forward }

    /// Writes straight to the process's standard output and error with write(2); text a descriptor
    /// refuses (a full disk, a closed pipe) is dropped rather than trapping, as `FileHandle.write` would.
    public static var process: CommandOutput {
        CommandOutput { text, isError in
            var bytes = Array(text.utf8)[...]
            let descriptor = isError ? STDERR_FILENO : STDOUT_FILENO
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                bytes = bytes.dropFirst(n)
            }
        }
    }

    /// Keeps everything in memory; read it back with `standardOutputText` and `standardErrorText`.
    public static func capturing() -> CommandOutput { CommandOutput(forward: nil) }

    public func standardOutput(_ text: String) { write(text, isError: false) }
    public func standardError(_ text: String) { write(text, isError: true) }

    /// What was captured (empty unless made by `capturing()`).
    public var standardOutputText: String { captured.withLock { $0.out } }
    public var standardErrorText: String { captured.withLock { $0.err } }

    private func write(_ text: String, isError: Bool) {
        if let forward { return forward(text, isError) }
        captured.withLock { if isError { $0.err += text } else { $0.out += text } }
    }
}

/// A program with subcommands (`rummage generate …`): `--help` everywhere, `--version`, one-line errors
/// with suggestions for a mistyped command or option, and the exit codes of `ExitCode`: a `UsageError`
/// is 64, an `ExitCodeError` (a `UserFacingError` included) its own code, anything else 70. Errors print
/// as one line on stderr: `rummage evaluate: error: <what is wrong>`.
public struct CommandLineTool: Sendable {
    public var name: String
    public var abstract: String
    /// What `--version` prints.
    public var version: String
    public var commands: [any Command.Type]
    /// Options every command takes besides its own (e.g. `--config FILE`).
    public var commonOptions: [OptionSpec] = []
    /// The configuration key of a command's option (`serve`, `port` → `serving.port`), if it has one.
    public var configKey: (@Sendable (_ command: String, _ option: String) -> String?)?
    /// Values for the options a command line leaves out (a configuration file, the environment), by
    /// option name with where each came from: called with the command (its options include the common
    /// ones) and what the command line gave. Throws `UsageError` for a configuration that cannot be used.
    public var fallbacks: (@Sendable (CommandConfiguration, _ given: [String: [String]]) throws -> [String: (value: String, origin: String)])?

    public init(name: String, abstract: String, version: String, commands: [any Command.Type]) {
        self.name = name
        self.abstract = abstract
        self.version = version
        self.commands = commands
    }

    /// Parses `arguments` (without the program name), runs the chosen command and returns the exit
    /// code. Help goes to standard output, errors to standard error. Never exits the process.
    public func run(_ arguments: [String], output: CommandOutput) -> Int32 {
        if arguments == ["--version"] {
            output.standardOutput(version + "\n")
            return ExitCode.success
        }
        guard let first = arguments.first, first != "--help", first != "-h", first != "help" else {
            if arguments.count >= 2, arguments[0] == "help", let command = command(named: arguments[1]) {
                output.standardOutput(help(for: command))
            } else {
                output.standardOutput(help())
            }
            return 0
        }
        // Two-word commands (`features check`) are grouped under their first word.
        let pair = arguments.count >= 2 ? "\(first) \(arguments[1])" : ""
        let grouped = commands.filter { $0.configuration.name.hasPrefix(first + " ") }
        guard let command = command(named: first) ?? command(named: pair) else {
            if !grouped.isEmpty {
                let names = grouped.map { $0.configuration.name }
                if arguments.count == 1 || arguments[1] == "--help" || arguments[1] == "-h" {
                    output.standardOutput(help(listing: grouped))
                    return 0
                }
                let hint = didYouMean(pair, among: names)
                return fail(name, UsageError("unknown command '\(pair)'\(hint.isEmpty ? "; commands: " + names.joined(separator: ", ") : hint)"),
                            code: ExitCode.usage, output)
            }
            let words = Set(commands.map { String($0.configuration.name.split(separator: " ")[0]) }).sorted()
            let hint = didYouMean(first, among: words)
            return fail(name, UsageError("unknown command '\(first)'\(hint.isEmpty ? "; commands: " + words.joined(separator: ", ") : hint)"),
                        code: ExitCode.usage, output)
        }
        let rest = Array(arguments.dropFirst(command.configuration.name.split(separator: " ").count))
        if rest.contains("--help") || rest.contains("-h") {
            output.standardOutput(help(for: command))
            return 0
        }
        let label = "\(name) \(command.configuration.name)"
        do {
            let configuration = assembled(command)
            var found: [String: (value: String, origin: String)] = [:]
            if let fallbacks {
                // What the command line gives, before required options are checked (they may come from elsewhere).
                let lenient = configuration.options.map { option -> OptionSpec in
                    var copy = option
                    copy.isRequired = false
                    return copy
                }
                found = try fallbacks(configuration, try ParsedArguments(command: configuration.name, options: lenient, arguments: rest).given)
            }
            let parsed = try ParsedArguments(command: configuration.name, options: configuration.options, arguments: rest, fallbacks: found)
            try command.init(parsed).run(output: output)
            return ExitCode.success
        } catch let error as UsageError {
            return fail(label, error, code: ExitCode.usage, hint: true, output)
        } catch let error as any ExitCodeError {
            return fail(label, error, code: error.exitCode, output)
        } catch {
            return fail(label, error, code: ExitCode.internalError, output)
        }
    }

    /// A command's configuration as parsed: its options and the common ones, each with its configuration key.
    public func assembled(_ command: any Command.Type) -> CommandConfiguration {
        var c = command.configuration
        c.options = (c.options + commonOptions).map { option in
            configKey?(c.name, option.name).map { option.config($0) } ?? option
        }
        return c
    }

    private func command(named name: String) -> (any Command.Type)? {
        commands.first { $0.configuration.name == name }
    }

    private func fail(_ label: String, _ error: any Error, code: Int32, hint: Bool = false,
                      _ output: CommandOutput) -> Int32 {
        let message = String(describing: error).replacingOccurrences(of: "\n", with: " ")
        let suffix = hint ? " (see '\(label) --help')" : ""
        output.standardError("\(label): error: \(message)\(suffix)\n")
        return code
    }

    /// The tool's overview: usage and the list of commands.
    public func help() -> String { help(listing: commands) }

    private func help(listing commands: [any Command.Type]) -> String {
        let width = commands.map { $0.configuration.name.count }.max() ?? 0
        var text = "\(abstract)\n\nUSAGE: \(name) <command> [options]\n\nCOMMANDS:\n"
        for command in commands {
            let c = command.configuration
            text += "  \(c.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(c.abstract)\n"
        }
        text += "\nRun '\(name) <command> --help' for a command's options, '\(name) --version' for the version.\n"
        text += "\nEXIT CODES:\n" + ExitCode.table.map { "  \(String($0.code).padding(toLength: 3, withPad: " ", startingAt: 0))  \($0.meaning)\n" }.joined()
        return text
    }

    /// One command's help: abstract, usage line, discussion and every option with its default.
    public func help(for command: any Command.Type) -> String {
        let c = assembled(command)
        var usage = "\(name) \(c.name)"
        for option in c.options {
            let shape = option.kind == .flag ? "--\(option.name)" : "--\(option.name) \(option.valueName)"
            usage += option.isRequired ? " \(shape)" : " [\(shape)\(option.kind == .repeated ? " ..." : "")]"
        }
        var text = "\(c.abstract)\n\nUSAGE: \(usage)\n"
        if !c.discussion.isEmpty { text += "\n\(c.discussion)\n" }
        text += "\nOPTIONS:\n"
        let shapes = c.options.map { $0.kind == .flag ? "--\($0.name)" : "--\($0.name) \($0.valueName)" } + ["--help"]
        let width = shapes.map(\.count).max() ?? 0
        for (option, shape) in zip(c.options, shapes) {
            var line = "  \(shape.padding(toLength: width, withPad: " ", startingAt: 0))  \(option.help)"
            if let d = option.defaultValue { line += " (default: \(d))" }
            if option.isRequired { line += " (required)" }
            if let key = option.configKey, let variable = option.environmentVariable { line += " [config: \(key), $\(variable)]" }
            text += line + "\n"
        }
        text += "  \("--help".padding(toLength: width, withPad: " ", startingAt: 0))  Show this help.\n"
        return text
    }
}
