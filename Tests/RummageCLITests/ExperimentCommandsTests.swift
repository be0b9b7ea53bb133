import Foundation
import RummageTestSupport
import Testing

/// `rummage experiment report` and `rummage ope estimate` as a user runs them: on files, with their
/// output for a person, `--json`, `--html`, and their refusals.
@Suite struct ExperimentCommandsTests {
    /// 10 listings; users a0…a9 in variant `a` view 1 of their 4 impressions, b0…b9 in `b` view 3 of 4.
    static func log(in dir: String) -> String {
        var lines: [String] = []
        for k in 0..<10 {
            lines.append(#"{"event_id":"cl\#(k)","type":"listing_created","timestamp":1767225600,"seller":"s","item":"l\#(k)","price":10}"#)
        }
        for (variant, viewed) in [("a", 1), ("b", 3)] {
            for u in 0..<10 {
                let user = "\(variant)\(u)", ranking = "r-\(user)"
                for p in 0..<4 {
                    lines.append(#"{"event_id":"i-\#(user)-\#(p)","type":"impression","timestamp":1767225700,"user":"\#(user)","item":"l\#(p)","surface":"home","ranking_id":"\#(ranking)","position":\#(p),"attributes":{"experiment":"exp","variant":"\#(variant)"}}"#)
                    if p < viewed {
                        lines.append(#"{"event_id":"v-\#(user)-\#(p)","type":"view","timestamp":1767225710,"user":"\#(user)","item":"l\#(p)","ranking_id":"\#(ranking)"}"#)
                    }
                }
            }
        }
        let events = Fixtures.write(lines.joined(separator: "\n") + "\n", to: "events.jsonl", in: dir)
        let log = dir + "/events.sqlite"
        #expect(rummage("ingest", "--from", events, "--log", log, "--quiet").code == 0)
        return log
    }

    @Test func experimentReportForAPersonForMachinesAndAsAPage() throws {
        let dir = Fixtures.temporaryDirectory()
        let log = Self.log(in: dir)
        let result = rummage("experiment", "report", "--log", log, "--experiment", "exp", "--split", "a=50,b=50", "--html", dir + "/report.html", "--json")
        #expect(result.code == 0, "\(result.err)")
        #expect(result.out.contains("a: 10 users, 40 impressions; ctr 0.2500") && result.out.contains("b: 10 users, 40 impressions; ctr 0.7500"), "\(result.out)")
        #expect(result.out.contains("verdict: b beats a on ctr: +0.5"), "\(result.out)")
        let json = try lastJSONLine(result.out)
        #expect(json["control"] as? String == "a" && (json["verdict"] as? String)?.hasPrefix("b beats a") == true)
        #expect(try String(contentsOfFile: dir + "/report.html", encoding: .utf8).contains("<h1>Experiment exp</h1>"))
        // No impression of another experiment; a bad metric; a control that served nothing.
        #expect(rummage("experiment", "report", "--log", log, "--experiment", "other").code == 65)
        #expect(rummage("experiment", "report", "--log", log, "--experiment", "exp", "--metric", "clicks").code == 64)
        #expect(rummage("experiment", "report", "--log", log, "--experiment", "exp", "--control", "c").code == 65)
    }

    @Test func opeEstimateReadsRoundsAndRefusesBadOnes() throws {
        let dir = Fixtures.temporaryDirectory()
        let rounds = Fixtures.write("""
            {"action": 0, "reward": 1, "propensity": 0.5, "target": [1, 0], "predicted": [0.4, 0.6]}
            {"action": 0, "reward": 0, "propensity": 0.5, "target": [1, 0], "predicted": [0.4, 0.6]}
            {"action": 1, "reward": 1, "propensity": 0.5, "target": [1, 0], "predicted": [0.4, 0.6]}
            {"action": 1, "reward": 0, "propensity": 0.5, "target": [1, 0], "predicted": [0.4, 0.6]}
            """, to: "rounds.jsonl", in: dir)
        let result = rummage("ope", "estimate", "--rounds", rounds, "--json")
        #expect(result.code == 0 && result.out.contains("IPS 0.500000") && result.out.contains("DR 0.500000"), "\(result.out)\(result.err)")
        let json = try lastJSONLine(result.out)
        #expect(json["effectiveSampleSize"] as? Double == 2)
        let bad = Fixtures.write(#"{"action": 0, "reward": 1, "propensity": 0, "target": [1]}"# + "\n", to: "bad.jsonl", in: dir)
        let refused = rummage("ope", "estimate", "--rounds", bad)
        #expect(refused.code == 65 && refused.err.contains("propensity 0.0 is not in (0, 1]"), "\(refused.err)")
        let malformed = Fixtures.write("{\"action\": 0}\n", to: "malformed.jsonl", in: dir)
        #expect(rummage("ope", "estimate", "--rounds", malformed).code == 65)
    }
}
