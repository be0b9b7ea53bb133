import ArgumentParsing
import Foundation
import RummageCLI
import RummageTestSupport
import Testing

/// [14/19]: one configuration file for every command (docs/configuration.md): strict keys, key paths in
/// every error, environment overrides, no passwords on the command line or in the file, and CLI
/// conventions (suggestions, exit codes) that hold for every command.
@Suite struct ConfigurationFileTests {
    /// `rummage` as a child process with `environment` added (the in-process runner shares this process's).
    static func child(_ arguments: [String], environment: [String: String] = [:]) throws -> (code: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent(".build/release/rummage")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile(), errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors, as: UTF8.self))
    }

    static let valid = """
        # A replica's configuration.
        log: postgresql://rummage@db.internal/rummage
        registry: /var/lib/rummage/registry
        online_store: redis://cache.internal:6379/0
        model: marketplace-two-tower
        serving:
          host: 0.0.0.0
          port: 8080
          request_deadline: 1500
        ingest:
          batch_size: 500
        pipelines:
          nightly:
            model: marketplace-two-tower
            registry: /var/lib/rummage/registry
            data: {log: postgresql://rummage@db.internal/rummage, window_days: 30}
            train: {kind: two-tower, seed: 1, settings: {epochs: 2, content: true}}
            gate: {absolute: {recall@20: 0.05}, relative: {}}
        """

    @Test func checkPrintsTheEffectiveConfigurationStably() throws {
        let dir = Fixtures.temporaryDirectory("rummage-config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = Fixtures.write(Self.valid, to: "rummage.yaml", in: dir)
        let result = rummage("config", "check", "--config", path)
        #expect(result.code == 0, "\(result.err)")
        #expect(result.out == """
            \(path): valid
              ingest.batch_size         500  (\(path):11)
              log                       postgresql://rummage@db.internal/rummage  (\(path):2)
              model                     marketplace-two-tower  (\(path):5)
              online_store              redis://cache.internal:6379/0  (\(path):4)
              registry                  /var/lib/rummage/registry  (\(path):3)
              serving.host              0.0.0.0  (\(path):7)
              serving.port              8080  (\(path):8)
              serving.request_deadline  1500  (\(path):9)
              pipelines: nightly

            """, "\(result.out)")
        #expect(rummage("config", "check", "--config", path).out == result.out, "the same file prints the same")
    }

    /// Environment variables beat the file, and a password may come from there (masked when printed).
    @Test func theEnvironmentOverridesTheFile() throws {
        let dir = Fixtures.temporaryDirectory("rummage-config-env")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = Fixtures.write(Self.valid, to: "rummage.yaml", in: dir)
        let result = try Self.child(["config", "check", "--json"],
                                    environment: ["RUMMAGE_CONFIG": path, "RUMMAGE_SERVING_PORT": "9090",
                                                  "RUMMAGE_LOG": "postgresql://rummage:s3cret@db.internal/rummage"])
        #expect(result.code == 0, "\(result.err)")
        let values = try #require(try lastJSONLine(result.out)["values"] as? [String: [String: String]])
        #expect(values["serving.port"] == ["value": "9090", "from": "$RUMMAGE_SERVING_PORT"])
        #expect(values["log"] == ["value": "postgresql://rummage:****@db.internal/rummage", "from": "$RUMMAGE_LOG"])
        #expect(!result.out.contains("s3cret"))
        #expect(values["serving.host"]?["from"] == "\(path):7")
    }

    @Test(arguments: [
        ("serving:\n  prot: 8080\n", "rummage.yaml:2: unknown key 'serving.prot'; did you mean 'port'?"),
        ("sevring:\n  port: 8080\n", "rummage.yaml:1: unknown key 'sevring'; did you mean 'serving'?"),
        ("serving:\n  port: [8080]\n", "rummage.yaml:2: 'serving.port' takes a single value, not a list or a map"),
        ("serving: 8080\n", "rummage.yaml:1: 'serving' takes a map of keys"),
        ("log: postgresql://rummage:s3cret@db/rummage\n", "rummage.yaml:1: 'log' holds a password: give this value in the environment ($RUMMAGE_LOG)"),
        ("pipelines:\n  nightly:\n    model: m\n    alais: x\n", "rummage.yaml:4: unknown key 'pipelines.nightly.alais'; did you mean 'alias'?"),
    ])
    func aBadFileIsRefusedWithItsKeyPath(text: String, message: String) throws {
        let dir = Fixtures.temporaryDirectory("rummage-config-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = Fixtures.write(text, to: "rummage.yaml", in: dir)
        let result = rummage("config", "check", "--config", path)
        #expect(result.code == ExitCode.usage)
        #expect(result.err.contains(dir + "/" + message), "\(result.err)")
        #expect(!result.err.contains("s3cret"))
    }

    /// A wrong type and a missing required value are caught where the command reads them, naming the key.
    @Test func valuesFromTheFileAreCheckedWithTheirKeyPath() throws {
        let dir = Fixtures.temporaryDirectory("rummage-config-types")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wrongType = Fixtures.write("model: m\nlog: \(dir)/events.sqlite\nserving:\n  port: eighty\n", to: "types.yaml", in: dir)
        let typed = rummage("serve", "--config", wrongType, "--create-log")
        #expect(typed.code == ExitCode.usage && typed.err.contains("'serving.port' (\(wrongType):4) expects an integer, got 'eighty'"), "\(typed.err)")
        let missing = Fixtures.write("log: \(dir)/events.sqlite\n", to: "missing.yaml", in: dir)
        let required = rummage("serve", "--config", missing, "--create-log")
        #expect(required.code == ExitCode.usage
                && required.err.contains("missing required option '--model NAME' (or 'model' in the configuration file)"), "\(required.err)")
        let absent = rummage("serve", "--config", dir + "/nope.yaml")
        #expect(absent.code == ExitCode.noInput && absent.err.contains("no such configuration file"), "\(absent.err)")
    }

    /// A password on the command line is refused (the process list shows it), masked in the message.
    @Test func aPasswordOnTheCommandLineIsRefused() {
        for arguments in [["online", "rebuild", "--log", "postgresql://rummage:s3cret@db/rummage", "--online-store", "redis://127.0.0.1:1"],
                          ["ingest", "--from", "amqp://guest:s3cret@127.0.0.1:5672/%2f", "--log", "/tmp/x.sqlite"]] {
            let result = rummage(arguments)
            #expect(result.code == ExitCode.usage && result.err.contains("holds a password") && result.err.contains(":****@")
                    && !result.err.contains("s3cret"), "\(arguments[0]): \(result.err)")
        }
    }

    /// A pipeline file with misspelt keys used to run with defaults; now each is refused with its path.
    @Test func aPipelineWithMisspeltKeysIsRefused() throws {
        let dir = Fixtures.temporaryDirectory("rummage-config-pipeline")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let misspelt = Fixtures.write("""
            {"model": "m", "registry": "\(dir)/registry", "alais": "staging", "data": {"dataset": "synthetic:\(dir)"},
             "train": {"kind": "ials", "setings": {"factors": "8"}}, "gate": {"absolute": {}, "relative": {}}}
            """, to: "pipeline.json", in: dir)
        let result = rummage("pipeline", "run", "--pipeline", misspelt)
        #expect(result.code == ExitCode.dataError && result.err.contains("unknown key 'alais'; did you mean 'alias'?"), "\(result.err)")
        let missing = Fixtures.write("model: m\nregistry: r\ndata: {dataset: 'synthetic:x'}\ntrain: {seed: 1}\ngate: {absolute: {}, relative: {}}\n",
                                     to: "missing.yaml", in: dir)
        let noKind = rummage("pipeline", "run", "--pipeline", missing)
        #expect(noKind.code == ExitCode.dataError && noKind.err.contains("missing 'train.kind'"), "\(noKind.err)")
        let config = Fixtures.write(Self.valid, to: "rummage.yaml", in: dir)
        let unknown = rummage("pipeline", "run", "--config", config, "--pipeline", "nightyl")
        #expect(unknown.code == ExitCode.noInput && unknown.err.contains("did you mean 'nightly'?"), "\(unknown.err)")
    }

    /// Every command, given a mistyped option, names the option it probably meant and exits 64.
    @Test func everyCommandSuggestsTheOptionAMistypedOneMeant() {
        for command in RummageCLI.tool.commands {
            let configuration = RummageCLI.tool.assembled(command)
            guard let option = configuration.options.first(where: { $0.name.count >= 4 }) else { continue }
            var typo = Array(option.name)
            typo.swapAt(1, 2)
            let words = configuration.name.split(separator: " ").map(String.init)
            let result = rummage(words + ["--" + String(typo)])
            #expect(result.code == ExitCode.usage, "\(configuration.name)")
            #expect(result.err.contains("did you mean '--\(option.name)'"), "\(configuration.name): \(result.err)")
        }
    }

    @Test func theConfigurationReferenceIsGeneratedFromTheOptions() throws {
        let docs = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let generated = rummage("config", "reference").out
        #expect(generated.contains("| `serving.port` | `RUMMAGE_SERVING_PORT` |"))
        #expect(docs.contains(generated), "docs/configuration.md is out of date: regenerate its table with `rummage config reference`")
    }

    @Test func versionAndCompletionAreGenerated() {
        let version = rummage("--version")
        #expect(version.code == 0 && version.out.hasPrefix("rummage ") && version.out.contains("built "), "\(version.out)")
        let bash = rummage("completion", "--shell", "bash")
        #expect(bash.code == 0 && bash.out.contains("\"registry promote\") opts=\"--registry --model --version --alias --json --config --help\""),
                "\(bash.out)")
        let zsh = rummage("completion", "--shell", "zsh")
        #expect(zsh.code == 0 && zsh.out.hasPrefix("#compdef rummage"))
        #expect(rummage("completion", "--shell", "fish").code == ExitCode.usage)
    }
}

extension ConfigurationFileTests {
    /// The commands that write data print one JSON object with --json, for scripts.
    @Test func dataCommandsSummariseInJSON() throws {
        let dir = Fixtures.temporaryDirectory("rummage-json")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runs: [([String], [String])] = [
            (["generate", "--out", dir + "/mp", "--users", "50", "--items", "100", "--events", "2000", "--seed", "1"], ["users", "listings", "events"]),
            (["train", "--dataset", "synthetic:" + dir + "/mp", "--kind", "ials", "--out", dir + "/m.rmg"], ["kind", "out", "seconds"]),
            (["embed", "--artifact", dir + "/m.rmg", "--items", "--out", dir + "/e.rmg"], ["count", "width"]),
            (["export", "--dataset", "synthetic:" + dir + "/mp", "--out", dir + "/x"], ["users", "items", "train_interactions"]),
        ]
        for (arguments, keys) in runs {
            let result = rummage(arguments + ["--json"] + (arguments[0] == "export" ? [] : ["--quiet"]))
            #expect(result.code == 0, "\(arguments[0]): \(result.err)")
            let object = try lastJSONLine(result.out)
            for key in keys { #expect(object[key] != nil, "\(arguments[0]) --json: no '\(key)' in \(object)") }
        }
    }
}
