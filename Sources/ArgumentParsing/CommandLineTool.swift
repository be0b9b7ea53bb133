import Foundation

/// A command a `CommandLineTool` dispatches to: it declares its options and runs with them parsed.
public protocol Command: Sendable {
    static var configuration: CommandConfiguration { get }
    /// Validates `arguments`; throw `UsageError` for values that are present but unusable.
    init(_ arguments: ParsedArguments) throws
    func run() throws
}

/// A program with subcommands (`rummage generate …`): `--help` everywhere, one-line errors, exit codes.
///
/// Exit codes: 0 success; 2 usage error or `UserFacingError` (bad input data, missing file);
/// 1 any other failure. Errors print as one line on stderr: `rummage evaluate: <what is wrong>`.
public struct CommandLineTool: Sendable {
    public var name: String
    public var abstract: String
    public var commands: [any Command.Type]

    public init(name: String, abstract: String, commands: [any Command.Type]) {
        self.name = name
        self.abstract = abstract
        self.commands = commands
    }

    /// Result of running the tool: the exit code, and what to print where.
    public struct Outcome: Sendable, Equatable {
        public var exitCode: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// Parses `arguments` (without the program name) and runs the chosen command.
    /// Help text goes to `standardOutput`; errors to `standardError`. Never exits the process.
    public func run(_ arguments: [String]) -> Outcome {
        guard let first = arguments.first, first != "--help", first != "-h", first != "help" else {
            if arguments.count >= 2, arguments[0] == "help", let command = command(named: arguments[1]) {
                return Outcome(exitCode: 0, standardOutput: help(for: command), standardError: "")
            }
            return Outcome(exitCode: 0, standardOutput: help(), standardError: "")
        }
        guard let command = command(named: first) else {
            return failure(name, UsageError("unknown command '\(first)'; commands: \(commands.map { $0.configuration.name }.joined(separator: ", "))"), code: 2)
        }
        let rest = Array(arguments.dropFirst())
        if rest.contains("--help") || rest.contains("-h") {
            return Outcome(exitCode: 0, standardOutput: help(for: command), standardError: "")
        }
        let label = "\(name) \(command.configuration.name)"
        do {
            let parsed = try ParsedArguments(command: command.configuration.name,
                                             options: command.configuration.options, arguments: rest)
            try command.init(parsed).run()
            return Outcome(exitCode: 0, standardOutput: "", standardError: "")
        } catch let error as UsageError {
            return failure(label, error, code: 2, hint: true)
        } catch let error as any UserFacingError {
            return failure(label, error, code: 2)
        } catch {
            return failure(label, error, code: 1)
        }
    }

    private func command(named name: String) -> (any Command.Type)? {
        commands.first { $0.configuration.name == name }
    }

    private func failure(_ label: String, _ error: any Error, code: Int32, hint: Bool = false) -> Outcome {
        let message = String(describing: error).replacingOccurrences(of: "\n", with: " ")
        let suffix = hint ? " (see '\(label) --help')" : ""
        return Outcome(exitCode: code, standardOutput: "", standardError: "\(label): error: \(message)\(suffix)\n")
    }

    /// The tool's overview: usage and the list of commands.
    public func help() -> String {
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
