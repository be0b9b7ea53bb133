import ArgumentParsing
import Backends
import Events
import Foundation
import Registry
import RummageTestSupport
import Testing

/// Issue [10/19]: training on the marketplace's own event log. The events `rummage generate` writes,
/// once ingested, give the same evaluation as the generated files; the version records where in the log
/// its data ended and the schema it was read with; bad input is refused with one line and its exit code (docs/cli.md).
@Suite(.serialized) struct LogPipelineTests {
    let dir = Fixtures.temporaryDirectory("rummage-log-pipeline")
    static let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/schemas").path

    func config(_ name: String, data: String, refit: Bool? = nil) -> String {
        Fixtures.write("""
            {"model": "mp", "registry": "\(dir)/registry", "data": {\(data)\(refit.map { ", \"refit\": \($0)" } ?? "")},
             "train": {"kind": "two-tower", "settings": {"content": "true", "epochs": "2", "validation_users": "0"}, "seed": 5, "threads": 1},
             "gate": {"absolute": {}, "relative": {}}}
            """, to: name, in: dir)
    }

    func pipeline(_ config: String) throws -> [String: Any] {
        let result = rummage("pipeline", "run", "--pipeline", config, "--json", "--quiet")
        #expect(result.code == 0, "\(result.err)")
        return try lastJSONLine(result.out)
    }

    @Test func theIngestedLogTrainsLikeTheGeneratedFilesAndTheVersionRecordsItsPosition() throws {
        let data = dir + "/data", log = dir + "/events.sqlite"
        #expect(rummage("generate", "--out", data, "--users", "1500", "--items", "3000", "--events", "50000", "--seed", "9", "--jsonl",
                        "--quiet").code == 0)
        let ingested = rummage("ingest", "--from", data + "/events.jsonl", "--log", log, "--schema",
                               Self.schemas + "/secondhand-fashion.json", "--quiet")
        #expect(ingested.code == 0, "\(ingested.err)")
        let files = try pipeline(config("files.json", data: #""dataset": "synthetic:\#(data)""#))
        let fromLog = try pipeline(config("log.json", data: #""log": "\#(log)""#, refit: false))
        let a = try #require((files["metrics"] as? [String: Any])?["recall@20"] as? Double)
        let b = try #require((fromLog["metrics"] as? [String: Any])?["recall@20"] as? Double)
        print("log pipeline: recall@20 from the generated files \(a), from the ingested log \(b)")
        #expect(abs(a - b) <= 0.002, "files \(a), log \(b)")
        // The same split through `--dataset log:` (evaluate, as any dataset spec).
        let evaluated = rummage("evaluate", "--dataset", "log:\(log)", "--kind", "toppop", "--json", "--quiet")
        let synthetic = rummage("evaluate", "--dataset", "synthetic:\(data)", "--kind", "toppop", "--json", "--quiet")
        #expect(evaluated.code == 0, "\(evaluated.err)")
        #expect(try lastJSONLine(evaluated.out)["recall@20"] as? Double == (try lastJSONLine(synthetic.out)["recall@20"] as? Double))
        // As of an earlier time, fewer interactions; the flag needs a log dataset.
        let early = rummage("evaluate", "--dataset", "log:\(log)", "--kind", "toppop", "--as-of", "1769000000", "--window-days", "10",
                            "--json", "--quiet")
        #expect(early.code == 0, "\(early.err)")
        #expect(try lastJSONLine(early.out)["recall@20"] as? Double != (try lastJSONLine(evaluated.out)["recall@20"] as? Double))
        #expect(rummage("evaluate", "--dataset", "synthetic:\(data)", "--kind", "toppop", "--as-of", "1769000000").code == ExitCode.usage)
        // Where the data ended and how it was read.
        let registry = ModelRegistry(root: dir + "/registry")
        let manifest = try registry.manifest("mp", 2)
        let lastSequence = try openEventLog(log).lastSequence()
        let filesSchema = try registry.manifest("mp", 1).schemaVersion
        #expect(manifest.logSequence == lastSequence)
        #expect(manifest.schemaVersion != nil && manifest.schemaVersion == filesSchema)
        #expect(try registry.verify("mp", 2)["schema.json"] != nil)
        // Refit (the default for logs): the registered model learned from every interaction up to as-of.
        let refit = try pipeline(config("refit.json", data: #""log": "\#(log)""#))
        #expect(refit["blessed"] as? Bool == true)
        #expect(try registry.manifest("mp", 3).data.hasSuffix("; refit on all of it"))
        // Reproducible from the log too.
        let reproduced = rummage("pipeline", "reproduce", "--registry", dir + "/registry", "--model", "mp", "--version", "2", "--json")
        #expect(reproduced.code == 0, "\(reproduced.err)")
        #expect(try lastJSONLine(reproduced.out)["bit_identical"] as? Bool == true)
    }

    @Test func badInputIsOneLineWithItsExitCodeAndTheLogIsUnchanged() throws {
        let log = dir + "/bad.sqlite"
        // An empty log.
        _ = try SQLiteEventLog(path: log)
        let empty = rummage("pipeline", "run", "--pipeline", config("empty.json", data: #""log": "\#(log)""#), "--quiet")
        #expect(empty.code == ExitCode.dataError && empty.err.contains("the event log is empty") && empty.err.filter { $0 == "\n" }.count == 1, "\(empty.err)")
        // An event that breaks the schema is refused, naming the field; the valid one is appended.
        let events = Fixtures.write("""
            {"event_id":"c1","type":"listing_created","timestamp":1767225000,"seller":"s1","item":"l1","price":20,"attributes":{"category":"jeans","brand":"levis","size":"W30","condition":"good","colour":"blue","style":"vintage"}}
            {"event_id":"c2","type":"listing_created","timestamp":1767225000,"seller":"s1","item":"l2","price":20,"attributes":{"category":"jeans","price_band":"1"}}
            """, to: "events.jsonl", in: dir)
        let ingest = rummage("ingest", "--from", events, "--log", log, "--schema", Self.schemas + "/secondhand-fashion.json", "--now", "1767300000")
        #expect(ingest.code == ExitCode.partiallyRefused)
        #expect(ingest.err.contains("line 2: event 'c2': attribute 'price_band' is derived from price; do not send it"), "\(ingest.err)")
        #expect(try SQLiteEventLog(path: log).count() == 1)
        // An as-of before the first event.
        let early = rummage("pipeline", "run", "--pipeline", config("early.json", data: #""log": "\#(log)", "as_of": 1000000000"#), "--quiet")
        #expect(early.code == ExitCode.dataError && early.err.contains("as-of 1000000000 is before the log's first event (1767225000)"), "\(early.err)")
        // A schema with an unknown type.
        let schema = Fixtures.write(#"{"name": "x", "listing": [{"name": "a", "type": "colour"}]}"#, to: "schema.json", in: dir)
        let unknownType = rummage("ingest", "--from", events, "--log", log, "--schema", schema)
        #expect(unknownType.code == ExitCode.usage && unknownType.err.contains("'a' has unknown type 'colour'"), "\(unknownType.err)")
        let pipelineSchema = rummage("pipeline", "run", "--pipeline", config("with-schema.json", data: #""log": "\#(log)", "schema": "\#(schema)""#), "--quiet")
        #expect(pipelineSchema.code == ExitCode.dataError && pipelineSchema.err.contains("'a' has unknown type 'colour'"), "\(pipelineSchema.err)")
        // A log that does not exist.
        let missing = rummage("pipeline", "run", "--pipeline", config("missing.json", data: #""log": "\#(dir)/nope.sqlite""#), "--quiet")
        #expect(missing.code == ExitCode.noInput && missing.err.contains("nope.sqlite: no such event log"), "\(missing.err)")
        #expect(try SQLiteEventLog(path: log).count() == 1)
    }
}
