import ArgumentParsing
import Datasets
import Foundation
import RummageCLI
import RummageCore
import RummageTestSupport
import Testing
import Training

/// Runs `rummage` in-process and returns (exit code, stdout, stderr).
func rummage(_ arguments: String...) -> (code: Int32, out: String, err: String) { rummage(arguments) }

func rummage(_ arguments: [String]) -> (code: Int32, out: String, err: String) {
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
    @Test(arguments: [[], ["generate"], ["evaluate"], ["train"], ["embed"], ["export"], ["ingest"], ["features"],
                      ["features", "check"], ["features", "training-set"], ["bench", "ingest"], ["pipeline", "run"],
                      ["pipeline", "reproduce"], ["registry"], ["registry", "list"], ["registry", "show"], ["registry", "diff"],
                      ["registry", "promote"], ["registry", "rollback"], ["gate"], ["serve"], ["batch-recommend"], ["batch-embed"],
                      ["bench", "index"], ["bench", "serve"], ["report"], ["online"], ["online", "rebuild"], ["publish"], ["simulate"],
                      ["keys"], ["keys", "create"], ["registry", "export"], ["registry", "import"], ["config"], ["config", "check"], ["config", "reference"], ["completion"],
                      ["import"], ["export-model"], ["runs"], ["runs", "list"], ["runs", "compare"], ["ranker"], ["ranker", "train"],
                      ["experiment"], ["experiment", "report"], ["ope"], ["ope", "estimate"], ["ope", "ranker"], ["tune"]])
    func everyCommandHasHelp(command: [String]) {
        let result = RummageCLI.tool.run(command + ["--help"], output: .capturing())
        #expect(result == 0)
    }

    @Test func badArgumentsGiveOneLineAndTheirExitCode() {
        let cases: [([String], String, Int32)] = [
            (["evaluate", "--kind", "toppop"], "rummage evaluate: error: missing required option '--dataset SPEC'", ExitCode.usage),
            (["evaluate", "--dataset", "nope:/x", "--kind", "toppop"], "rummage evaluate: error: unknown dataset kind 'nope'", ExitCode.dataError),
            (["evaluate", "--dataset", "lightgcn:/no/such/dir", "--kind", "toppop"], "rummage evaluate: error: /no/such/dir: no such directory",
             ExitCode.noInput),
            (["evaluate", "--dataset", "lightgcn:/x", "--kind", "nope"], "rummage evaluate: error: unknown model 'nope'", ExitCode.usage),
            (["generate", "--out", "/tmp/x", "--users", "1"], "rummage generate: error: option '--users' must be in 2", ExitCode.usage),
            (["serve", "--model", "m", "--log", "/no/such/events.sqlite"],
             "rummage serve: error: /no/such/events.sqlite: no such event log (pass --create-log to start an empty one)", ExitCode.noInput),
            (["batch-recommend", "--model", "m", "--log", "/no/such/events.sqlite"],
             "rummage batch-recommend: error: /no/such/events.sqlite: no such event log", ExitCode.noInput),
        ]
        for (arguments, prefix, code) in cases {
            let output = CommandOutput.capturing()
            #expect(RummageCLI.tool.run(arguments, output: output) == code, "\(arguments)")
            let err = output.standardErrorText
            #expect(err.hasPrefix(prefix), "\(arguments): \(err)")
            #expect(err.filter { $0 == "\n" }.count == 1)
        }
    }

    @Test func malformedDataNamesFileAndLine() {
        let dir = Fixtures.temporaryDirectory()
        Fixtures.write("0 1 2\n1 3 oops\n", to: "train.txt", in: dir)
        Fixtures.write("0 3\n", to: "test.txt", in: dir)
        let result = rummage("evaluate", "--dataset", "lightgcn:\(dir)", "--kind", "toppop")
        #expect(result.code == ExitCode.dataError)
        #expect(result.err == "rummage evaluate: error: \(dir)/train.txt:2: item 2 is not a non-negative integer: 'oops'\n")
    }

    @Test func unknownModelSettingIsRejected() {
        let dir = Fixtures.temporaryDirectory()
        Fixtures.write("0 1 2\n1 2 3\n", to: "train.txt", in: dir)
        Fixtures.write("0 3\n", to: "test.txt", in: dir)
        let result = rummage("evaluate", "--dataset", "lightgcn:\(dir)", "--kind", "itemknn", "--set", "neighbors=5")
        #expect(result.code == ExitCode.dataError)
        #expect(result.err.contains("model 'itemknn' has no setting 'neighbors' (settings: neighbours, seed, shrink)"))
    }

    @Test func generateThenEvaluateEndToEnd() throws {
        let dir = Fixtures.temporaryDirectory()
        let generated = rummage("generate", "--out", dir, "--users", "500", "--items", "1000", "--events", "40000", "--seed", "9")
        #expect(generated.code == 0, "\(generated.err)")
        var recall: [String: Double] = [:]
        for model in ["random", "toppop", "itemknn"] {
            let result = rummage("evaluate", "--dataset", "synthetic:\(dir)", "--kind", model, "--json", "--quiet")
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

@Suite struct TrainAndEmbedTests {
    @Test func trainSavesAndEmbedWritesEmbeddingsIncludingNewListings() throws {
        let dir = Fixtures.temporaryDirectory()
        #expect(rummage("generate", "--out", dir, "--users", "300", "--items", "500", "--events", "20000", "--quiet").code == 0)
        let model = dir + "/two-tower.rmg"
        let trained = rummage("train", "--dataset", "synthetic:\(dir)", "--kind", "two-tower", "--out", model, "--quiet",
                              "--set", "epochs=2", "--set", "batch_size=64", "--set", "dimension=16", "--set", "id_dropout=0.3",
                              "--set", "content=true")
        #expect(trained.code == 0, "\(trained.err)")
        #expect(trained.out.contains("saved to \(model)"))

        let items = dir + "/items.rmg"
        #expect(rummage("embed", "--artifact", model, "--items", "--out", items, "--quiet").code == 0)
        let itemSet = try EmbeddingSet.load(from: items)
        #expect(itemSet.entity == "items" && itemSet.ids.count == 500 && itemSet.vectors.columns == 16)
        #expect(itemSet.ids.first == "0")

        // Two brand-new listings, embedded from content alone; the same content gives the same vector.
        let listings = """
        \(Marketplace.listingsHeader)
        new1,u1,1900000000,jeans,levis,W30,good,blue,25.00,vintage,blue levis vintage jeans
        new2,u2,1900000001,jeans,levis,W30,good,blue,25.00,vintage,blue levis vintage jeans
        """
        Fixtures.write(listings + "\n", to: "new.csv", in: dir)
        let fresh = dir + "/new.rmg"
        let embedded = rummage("embed", "--artifact", model, "--items", "--listings", dir + "/new.csv", "--out", fresh)
        #expect(embedded.code == 0, "\(embedded.err)")
        let newSet = try EmbeddingSet.load(from: fresh)
        #expect(newSet.ids == ["new1", "new2"])
        #expect(Array(newSet.vectors.row(0)) == Array(newSet.vectors.row(1)))
        // Content matters: a listing of another category lands elsewhere.
        let other = listings.replacingOccurrences(of: "new2,u2,1900000001,jeans", with: "new2,u2,1900000001,bags")
        Fixtures.write(other + "\n", to: "other.csv", in: dir)
        #expect(rummage("embed", "--artifact", model, "--items", "--listings", dir + "/other.csv", "--out", fresh, "--quiet").code == 0)
        let otherSet = try EmbeddingSet.load(from: fresh)
        #expect(Array(otherSet.vectors.row(0)) != Array(otherSet.vectors.row(1)))
        let norm = newSet.vectors.row(0).reduce(0) { $0 + $1 * $1 }
        #expect(abs(norm - 1) < 1e-4)
    }

    @Test func trainRefusesModelsThatCannotBeSaved() {
        let result = rummage("train", "--dataset", "lightgcn:/x", "--kind", "itemknn", "--out", "/tmp/x.rmg")
        #expect(result.code == ExitCode.usage)
        #expect(result.err.contains("model 'itemknn' cannot be saved"))
    }

    @Test func embedNeedsExactlyOneEntity() {
        let result = rummage("embed", "--artifact", "/x.rmg", "--items", "--users", "--out", "/tmp/e.rmg")
        #expect(result.code == ExitCode.usage && result.err.contains("give exactly one of --items and --users"))
    }

    @Test func exportWritesALightGCNSplitThatLoadsBack() throws {
        let dir = Fixtures.temporaryDirectory()
        #expect(rummage("generate", "--out", dir, "--users", "200", "--items", "300", "--events", "10000", "--quiet").code == 0)
        let exported = dir + "/lightgcn"
        #expect(rummage("export", "--dataset", "synthetic:\(dir)", "--out", exported).code == 0)
        let original = try DatasetSpec(parsing: "synthetic:\(dir)").load()
        let copy = try DatasetSpec(parsing: "lightgcn:\(exported)").load()
        #expect(copy.train.byUser.columns == original.train.byUser.columns)
        guard case .fullRanking(let a) = original.evaluation, case .fullRanking(let b) = copy.evaluation else {
            Issue.record("expected full ranking"); return
        }
        #expect(a.heldOut.columns == b.heldOut.columns)
        // Beside the split: the ids by index and the content fields, what a hand-off names and reads.
        let ids = try String(contentsOfFile: exported + "/item_ids.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(ids == original.itemIDs)
        let features = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exported + "/features.json")))
            as? [String: [[String: Any]]])
        let category = try #require(features["items"]?.first { $0["name"] as? String == "category" })
        let field = try #require(original.itemFeatures.fields.first { $0.name == "category" })
        #expect(category["vocabulary"] as? [String] == field.vocabulary)
        #expect((category["values"] as? [[Int]])?.first == field.values.columns(of: 0).map(Int.init))
    }
}

@Suite struct TrackedRunTests {
    @Test func recordedRunsAreListedAndCompared() throws {
        let dir = Fixtures.temporaryDirectory(), registry = dir + "/registry"
        #expect(rummage("generate", "--out", dir, "--users", "200", "--items", "300", "--events", "10000", "--quiet").code == 0)
        for epochs in ["1", "2"] {
            let run = rummage("evaluate", "--dataset", "synthetic:\(dir)", "--kind", "two-tower", "--set", "epochs=\(epochs)",
                              "--set", "validation_users=50", "--record", "--registry", registry)
            #expect(run.code == 0, "\(run.err)")
            #expect(run.err.contains("recorded run \(epochs) in \(registry)/runs"))
        }
        let trained = rummage("train", "--dataset", "synthetic:\(dir)", "--kind", "ials", "--out", dir + "/ials.rmg", "--record",
                              "--registry", registry, "--quiet")
        #expect(trained.code == 0, "\(trained.err)")

        let listed = rummage("runs", "list", "--registry", registry, "--json")
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [[String: Any]])
        #expect(runs.map { $0["id"] as? Int } == [1, 2, 3])
        #expect(runs.map { $0["command"] as? String } == ["evaluate", "evaluate", "train"])
        #expect((runs[1]["history"] as? [Any])?.count == 2, "two epochs of history")
        #expect((runs[0]["metrics"] as? [String: Double])?["recall@20"] != nil)
        #expect((runs[2]["artifacts"] as? [String: String])?[dir + "/ials.rmg"] == (try SHA256Hasher.hex(ofFile: dir + "/ials.rmg")))
        #expect((runs[2]["settings"] as? [String: String])?["factors"] != nil, "settings keep defaults")

        let html = dir + "/compare.html"
        let compared = rummage("runs", "compare", "--registry", registry, "--run", "2", "--against", "1", "--html", html)
        #expect(compared.code == 0, "\(compared.err)")
        #expect(compared.out.contains("epochs: 1 → 2"))
        #expect(compared.out.contains("recall@20"))
        let report = try String(contentsOfFile: html, encoding: .utf8)
        #expect(report.contains("run 1") && report.contains("Training loss per epoch"))
        let json = try lastJSONLine(rummage("runs", "compare", "--registry", registry, "--run", "2", "--against", "1", "--json").out)
        #expect((json["settings"] as? [String: [String: String]])?["epochs"] == ["a": "1", "b": "2"])
        #expect(rummage("runs", "compare", "--registry", registry, "--run", "9", "--against", "1").code != 0)
    }
}
