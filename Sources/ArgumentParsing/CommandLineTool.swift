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

/// A program with subcommands (`rummage generate …`): `--help` everywhere, one-line errors, exit codes.
///
/// Exit codes: 0 success; 2 usage error or `UserFacingError` (bad input data, missing file);
/// an `ExitCodeError`'s own code; 1 any other failure. Errors print as one line on stderr: `rummage evaluate: <what is wrong>`.
public struct CommandLineTool: Sendable {
    public var name: String
    public var abstract: String
    public var commands: [any Command.Type]

    public init(name: String, abstract: String, commands: [any Command.Type]) {
        self.name = name
        self.abstract = abstract
        self.commands = commands
    }

    /// Parses `arguments` (without the program name), runs the chosen command and returns the exit
    /// code. Help goes to standard output, errors to standard error. Never exits the process.
    public func run(_ arguments: [String], output: CommandOutput) -> Int32 {
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
                return fail(name, UsageError("unknown command '\(pair)'; commands: \(names.joined(separator: ", "))"), code: 2, output)
            }
            let names = commands.map { $0.configuration.name }.joined(separator: ", ")
            return fail(name, UsageError("unknown command '\(first)'; commands: \(names)"), code: 2, output)
        }
        let rest = Array(arguments.dropFirst(command.configuration.name.split(separator: " ").count))
        if rest.contains("--help") || rest.contains("-h") {
            output.standardOutput(help(for: command))
            return 0
        }
        let label = "\(name) \(command.configuration.name)"
        do {
            let parsed = try ParsedArguments(command: command.configuration.name,
                                             options: command.configuration.options, arguments: rest)
            try command.init(parsed).run(output: output)
            return 0
        } catch let error as UsageError {
            return fail(label, error, code: 2, hint: true, output)
        } catch let error as any UserFacingError {
            return fail(label, error, code: 2, output)
        } catch let error as any ExitCodeError {
            return fail(label, error, code: error.exitCode, output)
        } catch {
            return fail(label, error, code: 1, output)
        }
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
        text += "\nRun '\(name) <command> --help' for a command's options.\n"
        return text
    }

    /// One command's help: abstract, usage line, discussion and every option with its default.
    public func help(for command: any Command.Type) -> String {
        let c = command.configuration
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
            text += line + "\n"
        }
        text += "  \("--help".padding(toLength: width, withPad: " ", startingAt: 0))  Show this help.\n"
        return text
    }
}
