import ArgumentParsing
import Testing

private let options: [OptionSpec] = [
    .value("out", "DIR", help: "Output.", required: true),
    .value("users", "N", help: "Users.", default: "10"),
    .repeated("set", "KEY=VALUE", help: "Setting."),
    .flag("json", help: "JSON."),
]

@Suite struct ParsedArgumentsTests {
    @Test func parsesValuesFlagsAndRepeats() throws {
        let p = try ParsedArguments(command: "x", options: options,
                                    arguments: ["--out", "d", "--set", "a=1", "--set=b=2", "--json", "--users=5"])
        #expect(p.string("out") == "d")
        #expect(try p.int("users") == 5)
        #expect(p.flag("json"))
        #expect(try p.keyValues("set").map { "\($0.key):\($0.value)" } == ["a:1", "b:2"])
    }

    @Test func appliesDefaults() throws {
        let p = try ParsedArguments(command: "x", options: options, arguments: ["--out", "d"])
        #expect(try p.requiredInt("users") == 10)
        #expect(!p.flag("json"))
        #expect(p.strings("set").isEmpty)
    }

    @Test(arguments: [
        (["--out", "d", "--bogus"], "unknown option '--bogus'"),
        (["--out"], "option '--out' needs a value (DIR)"),
        (["--users", "3"], "missing required option '--out DIR'"),
        (["--out", "a", "--out", "b"], "option '--out' given more than once"),
        (["--out", "a", "stray"], "unexpected argument 'stray'"),
        (["--out", "a", "--json=1"], "option '--json' takes no value"),
    ])
    func rejectsBadCommandLines(arguments: [String], message: String) {
        let error = #expect(throws: UsageError.self) {
            try ParsedArguments(command: "x", options: options, arguments: arguments)
        }
        #expect(error?.message == message)
    }

    @Test func validatesTypedValues() throws {
        let p = try ParsedArguments(command: "x", options: options, arguments: ["--out", "d", "--users", "ten", "--set", "novalue"])
        #expect(throws: UsageError.self) { try p.int("users") }
        let q = try ParsedArguments(command: "x", options: options, arguments: ["--out", "d", "--users", "0"])
        let range = #expect(throws: UsageError.self) { try q.int("users", in: 1...5) }
        #expect(range?.message == "option '--users' must be in 1...5, got 0")
        #expect(throws: UsageError.self) { try p.keyValues("set") }
        let twice = try ParsedArguments(command: "x", options: options, arguments: ["--out", "d", "--set", "a=1", "--set", "a=2"])
        #expect(throws: UsageError.self) { try twice.keyValues("set") }
    }
}

private struct DataProblem: UserFacingError {
    var description: String { "data.csv:3: bad line" }
}

private struct Echo: Command {
    static let configuration = CommandConfiguration(name: "echo", abstract: "Echo things.", options: options)
    let arguments: ParsedArguments
    init(_ arguments: ParsedArguments) { self.arguments = arguments }
    func run(output: CommandOutput) throws {
        switch arguments.string("out") {
        case "data": throw DataProblem()
        case "crash": throw CocoaLikeError()
        default: output.standardOutput("out=\(arguments.string("out")!)\n")
        }
    }
}

private struct CocoaLikeError: Error {}

@Suite struct CommandLineToolTests {
    let tool = CommandLineTool(name: "tool", abstract: "A tool.", commands: [Echo.self])

    func run(_ arguments: [String]) -> (Int32, String, String) {
        let output = CommandOutput.capturing()
        let code = tool.run(arguments, output: output)
        return (code, output.standardOutputText, output.standardErrorText)
    }

    @Test func runsCommand() {
        let (code, out, err) = run(["echo", "--out", "hello"])
        #expect(code == 0 && out == "out=hello\n" && err.isEmpty)
    }

    @Test func printsHelpEverywhere() {
        let (code, out, _) = run(["--help"])
        #expect(code == 0 && out.contains("echo") && out.contains("A tool."))
        let (commandCode, commandHelp, _) = run(["echo", "--help"])
        #expect(commandCode == 0)
        #expect(commandHelp.contains("USAGE: tool echo --out DIR [--users N]"))
        #expect(commandHelp.contains("(default: 10)"))
        #expect(run(["help", "echo"]).1 == commandHelp)
    }

    @Test func reportsErrorsOnOneLineWithExitCodes() {
        let (usage, _, usageErr) = run(["echo", "--nope"])
        #expect(usage == 2)
        #expect(usageErr == "tool echo: error: unknown option '--nope' (see 'tool echo --help')\n")
        let (unknown, _, unknownErr) = run(["nope"])
        #expect(unknown == 2 && unknownErr.contains("unknown command 'nope'"))
        let (data, _, dataErr) = run(["echo", "--out", "data"])
        #expect(data == 2 && dataErr == "tool echo: error: data.csv:3: bad line\n")
        let (crash, _, crashErr) = run(["echo", "--out", "crash"])
        #expect(crash == 1 && crashErr.hasPrefix("tool echo: error: "))
    }
}
