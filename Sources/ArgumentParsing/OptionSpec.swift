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

    public static func flag(_ name: String, help: String) -> OptionSpec {
        OptionSpec(name: name, kind: .flag, valueName: "", help: help, defaultValue: nil, isRequired: false)
    }

    public static func value(_ name: String, _ valueName: String, help: String, default defaultValue: String? = nil,
                             required: Bool = false) -> OptionSpec {
        OptionSpec(name: name, kind: .value, valueName: valueName, help: help, defaultValue: defaultValue,
                   isRequired: required)
    }

    public static func repeated(_ name: String, _ valueName: String, help: String) -> OptionSpec {
        OptionSpec(name: name, kind: .repeated, valueName: valueName, help: help, defaultValue: nil, isRequired: false)
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

/// A bad command line: unknown option, missing or malformed value. Reported on one line, exit code 2.
public struct UsageError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An error whose description is already a complete one-line message for a person (bad input data,
/// a missing file). The tool prints it as is and exits with code 2, like a usage error.
public protocol UserFacingError: Error, CustomStringConvertible {}

/// An outcome a command reports with an exit code of its own (e.g. 3: registered but not blessed), as
/// one line on stderr.
public protocol ExitCodeError: Error, CustomStringConvertible {
    var exitCode: Int32 { get }
}
