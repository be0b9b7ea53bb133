import ArgumentParsing
import Foundation
import RummageCLI
import RummageTestSupport
import Testing

/// Runs `rummage` in-process and returns (exit code, stdout, stderr).
func rummage(_ arguments: String...) -> (code: Int32, out: String, err: String) {
    let output = CommandOutput.capturing()
    let code = RummageCLI.tool.run(arguments, output: output)
    return (code, output.standardOutputText, output.standardErrorText)
}

/// The JSON object on the last line of stdout.
func lastJSONLine(_ text: String) throws -> [String: Any] {
    let line = try #require(text.split(separator: "\n").last)
    return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

@Suite struct CommandLineTests {
    @Test(arguments: [[], ["generate"], ["evaluate"]])
    func everyCommandHasHelp(command: [String]) {
        let result = RummageCLI.tool.run(command + ["--help"], output: .capturing())
        #expect(result == 0)
    }

    @Test func badArgumentsGiveOneLineAndExitCode2() {
        let cases: [([String], String)] = [
            (["evaluate", "--model", "toppop"], "rummage evaluate: error: missing required option '--dataset SPEC'"),
            (["evaluate", "--dataset", "nope:/x", "--model", "toppop"], "rummage evaluate: error: unknown dataset kind 'nope'"),
            (["evaluate", "--dataset", "lightgcn:/no/such/dir", "--model", "toppop"], "rummage evaluate: error: /no/such/dir: no such directory"),
            (["evaluate", "--dataset", "lightgcn:/x", "--model", "nope"], "rummage evaluate: error: unknown model 'nope'"),
            (["generate", "--out", "/tmp/x", "--users", "1"], "rummage generate: error: option '--users' must be in 2"),
        ]
        for (arguments, prefix) in cases {
            let output = CommandOutput.capturing()
            #expect(RummageCLI.tool.run(arguments, output: output) == 2)
            let err = output.standardErrorText
            #expect(err.hasPrefix(prefix), "\(arguments): \(err)")
            #expect(err.filter { $0 == "\n" }.count == 1)
        }
    }

    @Test func malformedDataNamesFileAndLine() {
        let dir = Fixtures.temporaryDirectory()
        Fixtures.write("0 1 2\n1 3 oops\n", to: "train.txt", in: dir)
        Fixtures.write("0 3\n", to: "test.txt", in: dir)
        let result = rummage("evaluate", "--dataset", "lightgcn:\(dir)", "--model", "toppop")
        #expect(result.code == 2)
        #expect(result.err == "rummage evaluate: error: \(dir)/train.txt:2: item 2 is not a non-negative integer: 'oops'\n")
    }

    @Test func unknownModelSettingIsRejected() {
        let dir = Fixtures.temporaryDirectory()
        Fixtures.write("0 1 2\n1 2 3\n", to: "train.txt", in: dir)
        Fixtures.write("0 3\n", to: "test.txt", in: dir)
        let result = rummage("evaluate", "--dataset", "lightgcn:\(dir)", "--model", "itemknn", "--set", "neighbors=5")
        #expect(result.code == 2)
        #expect(result.err.contains("model 'itemknn' has no setting 'neighbors' (settings: neighbours, seed, shrink)"))
    }

    @Test func generateThenEvaluateEndToEnd() throws {
        let dir = Fixtures.temporaryDirectory()
        let generated = rummage("generate", "--out", dir, "--users", "500", "--items", "1000", "--events", "40000", "--seed", "9")
        #expect(generated.code == 0, "\(generated.err)")
        var recall: [String: Double] = [:]
        for model in ["random", "toppop", "itemknn"] {
            let result = rummage("evaluate", "--dataset", "synthetic:\(dir)", "--model", model, "--json", "--quiet")
            #expect(result.code == 0, "\(result.err)")
            #expect(result.err.isEmpty)
            let json = try lastJSONLine(result.out)
            #expect(json["model"] as? String == model)
            #expect(json["protocol"] as? String == "full-ranking")
            for key in ["recall@20", "ndcg@20", "recall@10", "ndcg@10", "train_seconds", "eval_seconds"] {
                let value = try #require(json[key] as? Double, "\(key) missing")
                #expect(value >= 0)
            }
            recall[model] = json["recall@20"] as? Double
        }
        // Collaborative filtering learns the tastes the generator planted.
        #expect(recall["itemknn"]! > 3 * recall["random"]!)
    }
}
