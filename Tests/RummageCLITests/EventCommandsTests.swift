import ArgumentParsing
import Features
import Foundation
import RummageTestSupport
import Testing

@Suite struct EventCommandsTests {
    static let lines = [
        #"{"event_id":"c1","type":"listing_created","timestamp":1767225600,"item":"l1","seller":"u9","price":12}"#,
        #"{"event_id":"v1","type":"view","timestamp":1767225700,"user":"u1","item":"l1"}"#,
        #"not json"#,
        #"{"event_id":"x1","type":"teleport","timestamp":1767225700,"user":"u1","item":"l1"}"#,
        #"{"event_id":"p1","type":"purchase","timestamp":1767225800,"user":"u1","item":"l1"}"#,
        #"{"event_id":"p2","type":"purchase","timestamp":1767225900,"user":"u2","item":"l1"}"#,
        #"{"event_id":"f1","type":"view","timestamp":1999999999,"user":"u1","item":"l1"}"#,
        #"{"event_id":"v1","type":"view","timestamp":1767225700,"user":"u1","item":"l1"}"#,
    ]

    func write(_ lines: [String]) -> (dir: String, input: String) {
        let dir = Fixtures.temporaryDirectory("rummage-ingest-cli")
        return (dir, Fixtures.write(lines.joined(separator: "\n") + "\n", to: "events.jsonl", in: dir))
    }

    @Test func ingestReportsEachRefusedLineAndAppendsTheValidOnes() throws {
        let (dir, input) = write(Self.lines)
        let result = rummage("ingest", "--from", input, "--log", dir + "/log.sqlite", "--now", "1767230000", "--json")
        #expect(result.code == ExitCode.partiallyRefused)
        let refusals = result.err.split(separator: "\n").filter { $0.hasPrefix("line ") }
        #expect(refusals.count == 4)
        #expect(refusals[0] == "line 3: not valid JSON")
        #expect(refusals[1].hasPrefix("line 4: event 'x1': unknown type 'teleport'"))
        #expect(refusals[2].hasPrefix("line 6: invalid transition for listing 'l1': purchase when sold"))
        #expect(refusals[3].hasPrefix("line 7: event 'f1': timestamp 1999999999 is"))
        #expect(result.err.hasSuffix("rummage ingest: error: 4 of 8 lines refused (reasons above)\n"))
        let json = try lastJSONLine(result.out)
        #expect(json["appended"] as? Int == 3 && json["duplicates"] as? Int == 1 && json["refused"] as? Int == 4)
        // Running it again appends nothing: the valid lines are duplicates now.
        let again = try lastJSONLine(rummage("ingest", "--from", input, "--log", dir + "/log.sqlite", "--now", "1767230000",
                                             "--json", "--quiet").out)
        #expect(again["appended"] as? Int == 0 && again["log_events"] as? Int == 3)
    }

    @Test func atomicBatchesAppendNothingWhenALineIsRefused() throws {
        let (dir, input) = write(Self.lines)
        let result = rummage("ingest", "--from", input, "--log", dir + "/log.sqlite", "--now", "1767230000", "--atomic", "--json")
        #expect(result.code == ExitCode.dataError)
        #expect(result.err.contains("line 1: not appended (--atomic"))
        let json = try lastJSONLine(result.out)
        #expect(json["appended"] as? Int == 0 && json["log_events"] as? Int == 0)
        // A clean file goes in whole.
        let clean = write(Array(Self.lines.prefix(2)))
        let ok = rummage("ingest", "--from", clean.input, "--log", clean.dir + "/log.sqlite", "--now", "1767230000", "--atomic")
        #expect(ok.code == 0, "\(ok.err)")
    }

    /// Issue [4/8]: online equals offline on a generated marketplace, with events arriving up to an hour
    /// out of order and checks at times where 1h/1d windows have expired between events.
    @Test func featuresCheckFindsNoMismatchOnAMarketplaceWithOutOfOrderArrivals() throws {
        let dir = Fixtures.temporaryDirectory("rummage-features-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(rummage("generate", "--out", dir, "--users", "2000", "--items", "4000", "--events", "150000", "--seed", "5",
                        "--quiet").code == 0)
        for at in ["1768000000", "1770000000", "1774000000"] {
            let result = rummage("features", "check", "--dataset", "synthetic:\(dir)", "--jitter", "3600", "--at", at, "--json")
            #expect(result.code == 0, "\(result.err)")
            let json = try lastJSONLine(result.out)
            #expect(json["mismatches"] as? Int == 0, "at \(at): \(json["examples"] ?? "")")
            #expect((json["features_checked"] as? Int ?? 0) > 10_000)
            #expect((json["out_of_order_arrivals"] as? Int ?? 0) > 1_000)
        }
    }

    /// Issue [8/8]'s PostgreSQL event log through the CLI: a generated marketplace ingested into a real
    /// server (`--log postgresql://…`), the online/offline check replayed from it, and point-in-time
    /// training sets computed from it identical to those from SQLite.
    @Test func ingestAndFeaturesCheckRunOnAPostgreSQLLog() throws {
        let dir = Fixtures.temporaryDirectory("rummage-postgres-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(rummage("generate", "--out", dir, "--users", "300", "--items", "600", "--events", "8000", "--seed", "3", "--jsonl",
                        "--quiet").code == 0)
        let log = try TestPostgres.databaseURI()
        let ingest = rummage("ingest", "--from", dir + "/events.jsonl", "--log", log, "--json")
        #expect(ingest.code == 0, "\(ingest.err)")
        let lines = try String(contentsOfFile: dir + "/events.jsonl", encoding: .utf8).split(separator: "\n").count
        let first = try lastJSONLine(ingest.out)
        #expect(first["appended"] as? Int == lines && first["log_events"] as? Int == lines)
        // At-least-once delivery: the same stream again appends nothing.
        let again = try lastJSONLine(rummage("ingest", "--from", dir + "/events.jsonl", "--log", log, "--json").out)
        #expect(again["appended"] as? Int == 0 && again["duplicates"] as? Int == lines)
        let check = rummage("features", "check", "--log", log, "--json")
        #expect(check.code == 0, "\(check.err)")
        let json = try lastJSONLine(check.out)
        #expect(json["mismatches"] as? Int == 0 && json["events_replayed"] as? Int == lines)
        #expect((json["features_checked"] as? Int ?? 0) > 1_000)
        // Point-in-time training sets from the PostgreSQL log equal those from a SQLite log of the same events.
        #expect(rummage("ingest", "--from", dir + "/events.jsonl", "--log", dir + "/log.sqlite", "--quiet").code == 0)
        let asOf = "1800000000"
        for (log, out) in [(log, dir + "/pg.jsonl"), (dir + "/log.sqlite", dir + "/sqlite.jsonl")] {
            let made = rummage("features", "training-set", "--log", log, "--as-of", asOf, "--out", out, "--quiet")
            #expect(made.code == 0, "\(made.err)")
        }
        let fromPostgres = try String(contentsOfFile: dir + "/pg.jsonl", encoding: .utf8)
        #expect(fromPostgres.split(separator: "\n").count > 500)
        #expect(fromPostgres == (try String(contentsOfFile: dir + "/sqlite.jsonl", encoding: .utf8)))
    }

    @Test func trainingSetRowsCarryEveryFeature() throws {
        let dir = Fixtures.temporaryDirectory("rummage-training-set")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(rummage("generate", "--out", dir, "--users", "500", "--items", "1000", "--events", "20000", "--quiet").code == 0)
        let result = rummage("features", "training-set", "--dataset", "synthetic:\(dir)", "--as-of", "1770000000",
                             "--out", dir + "/train.jsonl")
        #expect(result.code == 0, "\(result.err)")
        let rows = try String(contentsOfFile: dir + "/train.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(rows.count > 100)
        for row in rows.prefix(50) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any])
            #expect(object.count == 5 + FeatureSet.marketplace.definitions.count)
            #expect((object["timestamp"] as? Int ?? .max) < 1_770_000_000)
        }
    }
}
