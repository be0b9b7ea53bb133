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
    let tool = CommandLineTool(name: "tool", abstract: "A tool.", version: "tool 1.2.3", commands: [Echo.self])

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
        #expect(usage == ExitCode.usage)
        #expect(usageErr == "tool echo: error: unknown option '--nope' (see 'tool echo --help')\n")
        let (unknown, _, unknownErr) = run(["nope"])
        #expect(unknown == ExitCode.usage && unknownErr.contains("unknown command 'nope'"))
        let (data, _, dataErr) = run(["echo", "--out", "data"])
        #expect(data == ExitCode.dataError && dataErr == "tool echo: error: data.csv:3: bad line\n")
        let (crash, _, crashErr) = run(["echo", "--out", "crash"])
        #expect(crash == ExitCode.internalError && crashErr.hasPrefix("tool echo: error: "))
    }

    @Test func suggestsTheClosestCommandAndOption() {
        let (code, _, err) = run(["ecko", "--out", "x"])
        #expect(code == ExitCode.usage && err.contains("unknown command 'ecko'; did you mean 'echo'?"), "\(err)")
        let (optionCode, _, optionErr) = run(["echo", "--usres", "3", "--out", "x"])
        #expect(optionCode == ExitCode.usage && optionErr.contains("unknown option '--usres'; did you mean '--users'?"), "\(optionErr)")
        #expect(suggestions(for: "xyzzy", among: ["echo", "users"]).isEmpty)
    }

    @Test func printsItsVersionAndExitCodes() {
        #expect(run(["--version"]) == (0, "tool 1.2.3\n", ""))
        let help = run(["--help"]).1
        #expect(help.contains("EXIT CODES:") && help.contains("64   bad command line or configuration"), "\(help)")
    }

    /// Values the command line leaves out come from `fallbacks` (a configuration file, the environment):
    /// the command line wins, a fallback fills a required option, and errors name where a value came from.
    @Test func fillsOmittedOptionsFromFallbacks() {
        var configured = tool
        configured.configKey = { _, option in option == "users" || option == "out" ? "echo.\(option)" : nil }
        configured.fallbacks = { command, given in
            #expect(command.options.first { $0.name == "users" }?.configKey == "echo.users")
            return ["users": ("7", "'echo.users' (tool.yaml:2)"), "out": ("from-file", "'echo.out' (tool.yaml:1)")]
                .filter { given[$0.key] == nil }
        }
        let output = CommandOutput.capturing()
        #expect(configured.run(["echo"], output: output) == 0 && output.standardOutputText == "out=from-file\n")
        let overridden = CommandOutput.capturing()
        #expect(configured.run(["echo", "--out", "cli"], output: overridden) == 0 && overridden.standardOutputText == "out=cli\n")
        let help = configured.help(for: Echo.self)
        #expect(help.contains("[config: echo.users, $RUMMAGE_ECHO_USERS]"), "\(help)")
        let p = try? ParsedArguments(command: "x", options: options, arguments: ["--out", "d"],
                                     fallbacks: ["users": ("many", "'echo.users' (tool.yaml:2)")])
        let error = #expect(throws: UsageError.self) { try p?.int("users") }
        #expect(error?.message == "'echo.users' (tool.yaml:2) expects an integer, got 'many'")
    }

    @Test func generatesCompletionScripts() {
        let bash = tool.bashCompletion(), zsh = tool.zshCompletion()
        #expect(bash.contains("complete -F _tool tool") && bash.contains("--out --users --set --json --help"), "\(bash)")
        #expect(bash.contains("paths=\"--out\""))
        #expect(zsh.hasPrefix("#compdef tool") && zsh.contains("'--out[Output]:DIR:_files'") && zsh.contains("'*--set[Setting]:KEY=VALUE:'"), "\(zsh)")
    }
}

@Suite struct ConfigurationTests {
    static let yaml = """
        log: postgresql://db/rummage
        serving:
          port: 8080
          hosts: [a, "b"]
          tls: {cert: c.pem}
        train:
          settings: {epochs: 2, content: true}
        """

    @Test func readsYAMLWithLinesAndTypes() throws {
        let doc = try ConfigValue.parse(Self.yaml, source: "r.yaml")
        #expect(doc.value(at: "serving.port")?.text == "8080" && doc.value(at: "serving.port")?.line == 3)
        #expect(doc.value(at: "serving.tls.cert")?.text == "c.pem")
        let json = doc.jsonObject as? [String: Any]
        #expect((json?["serving"] as? [String: Any])?["port"] as? Int == 8080)
        #expect(((json?["train"] as? [String: Any])?["settings"] as? [String: Any])?["content"] as? Bool == true)
        let quoted = try ConfigValue.parse(#"port: "8080""#, source: "q.yaml")
        #expect(((quoted.jsonObject as? [String: Any])?["port"] as? String) == "8080", "a quoted scalar stays text")
        #expect(try ConfigValue.parse(#"{"a": {"b": [1, 2]}}"#, source: "j.json").value(at: "a.b") == .list([.scalar("1", quoted: false, line: 1), .scalar("2", quoted: false, line: 1)], line: 1))
    }

    @Test(arguments: [
        ("a: 1\na: 2", "t.yaml:2: 'a' is given twice"),
        ("a: [1\n", "t.yaml:2: not valid YAML"),
    ])
    func refusesBrokenDocuments(text: String, message: String) {
        let error = #expect(throws: ConfigError.self) { try ConfigValue.parse(text, source: "t.yaml") }
        #expect(error?.description.hasPrefix(message) == true, "\(error?.description ?? "")")
    }

    @Test func checksKeysAndKindsAgainstASchema() throws {
        var schema = ConfigSchema()
        schema.add("log", .scalar)
        schema.add("serving.port", .scalar)
        schema.add("serving.hosts", .list)
        schema.add("serving.tls.cert", .scalar)
        schema.add("train.settings", .freeMap)
        schema.add("pipelines.*.model", .scalar)
        try schema.check(try ConfigValue.parse(Self.yaml, source: "r.yaml"), source: "r.yaml")
        func problem(_ text: String) -> String {
            do { try schema.check(try ConfigValue.parse(text, source: "r.yaml"), source: "r.yaml"); return "" } catch { return error.description }
        }
        #expect(problem("serving:\n  prot: 1") == "r.yaml:2: unknown key 'serving.prot'; did you mean 'port'?")
        #expect(problem("serving:\n  port: [1]") == "r.yaml:2: 'serving.port' takes a single value, not a list or a map")
        #expect(problem("serving: 8080") == "r.yaml:1: 'serving' takes a map of keys (hosts, port, tls)")
        #expect(problem("pipelines:\n  nightly:\n    modle: m") == "r.yaml:3: unknown key 'pipelines.nightly.modle'; did you mean 'model'?")
        #expect(problem("pipelines:\n  nightly:\n    model: m").isEmpty)
        #expect(problem("zzz: 1").hasPrefix("r.yaml:1: unknown key 'zzz'; known here: log, pipelines, serving, train"))
    }
}
