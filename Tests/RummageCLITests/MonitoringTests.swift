import Foundation
import HTTPServer
import Registry
import RummageTestSupport
import Serving
import Testing

/// Issue [7/8]: the alert rules pass `promtool check rules` and their unit tests (`promtool test rules`),
/// every alert links to a runbook section that exists, and a serving process's `/metrics` passes
/// `promtool check metrics` and carries every documented metric. promtool comes from Debian's
/// `prometheus` package, which scripts/install-deps installs.
@Suite(.serialized) struct MonitoringTests {
    static let monitoring = repositoryRoot.appendingPathComponent("monitoring").path

    /// Runs promtool with `arguments` (and `input` on stdin); exit status and output.
    static func promtool(_ arguments: [String], input: String? = nil) throws -> (code: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = arguments
        process.currentDirectoryURL = repositoryRoot
        let pipe = Pipe(), stdin = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func alertRulesPassPromtoolAndTheirUnitTests() throws {
        let check = try Self.promtool(["check", "rules", Self.monitoring + "/alerts.yml"])
        #expect(check.code == 0 && check.output.contains("SUCCESS: 14 rules found"), "\(check.output)")
        let test = try Self.promtool(["test", "rules", Self.monitoring + "/alerts.test.yml"])
        #expect(test.code == 0 && test.output.contains("SUCCESS"), "\(test.output)")
    }

    @Test func everyAlertHasATestAndARunbookSection() throws {
        let rules = try String(contentsOfFile: Self.monitoring + "/alerts.yml", encoding: .utf8)
        let tests = try String(contentsOfFile: Self.monitoring + "/alerts.test.yml", encoding: .utf8)
        let runbook = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/runbook.md"), encoding: .utf8)
        let alerts = rules.split(separator: "\n").compactMap { line -> String? in
            let text = line.trimmingCharacters(in: .whitespaces)
            return text.hasPrefix("- alert: ") ? String(text.dropFirst("- alert: ".count)) : nil
        }
        #expect(alerts.count == 14)
        // GitHub-style anchors: a heading's text, lower-cased.
        let anchors = Set(runbook.split(separator: "\n").filter { $0.hasPrefix("## ") }.map { $0.dropFirst(3).lowercased() })
        for alert in alerts {
            #expect(rules.contains("runbook: \"docs/runbook.md#\(alert.lowercased())\""), "\(alert) links its runbook section")
            #expect(anchors.contains(alert.lowercased()), "docs/runbook.md has a section for \(alert)")
            #expect(tests.contains("alertname: \(alert), exp_alerts: []") && tests.contains("alertname: \(alert)\n"),
                    "\(alert) has a firing and a quiet case")
        }
    }

    @Test func metricsPassPromtoolAndCarryEveryDocumentedMetric() throws {
        let s = ServingTests()
        let service = try ServingTests.deployService(dir: s.dir)
        service.waitForLoadMeasurements()  // the drift baseline and load-time recall are taken in the background
        let router = Router()
        ServingRoutes.install(service, on: router, clock: { 1_775_000_000 })
        _ = try s.get(router, "/v1/users/u12/recommendations?k=10")
        _ = try s.get(router, "/v1/users/nobody/recommendations?k=10")
        _ = s.send(router, "POST", "/v1/events", #"{"event_id":"m-1","type":"like","timestamp":1775000000,"user":"u1","item":"l5","ranking_id":"r1","surface":"home"}"#)
        // [12/19]: surfaces and variants named by callers cannot grow /metrics: undeclared ones count as `other`.
        let before = String(decoding: router.handle(HTTPRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
        for i in 0..<40 {
            let event = #"{"event_id":"m-label-\#(i)","type":"like","timestamp":1775000000,"user":"u1","item":"l5","ranking_id":"r1","#
                + #""surface":"s-\#(i)","attributes":{"variant":"v-\#(i)"}}"#
            #expect(s.send(router, "POST", "/v1/events", event).status == 200)
        }
        let text = String(decoding: router.handle(HTTPRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
        #expect(text.split(separator: "\n").count <= before.split(separator: "\n").count + 1)
        #expect(text.contains(#"rummage_exposure_events_total{surface="other",variant="other",type="like"} 40"#) && !text.contains("s-1"))
        let check = try Self.promtool(["check", "metrics"], input: text)
        #expect(check.code == 0 && check.output.isEmpty, "promtool check metrics: \(check.output)")
        let documented = ["rummage_http_request_duration_seconds", "rummage_http_requests_total", "rummage_recs_answers_total",
                          "rummage_recs_unservable_served_total", "rummage_recs_score_psi", "rummage_recs_scores_observed_total",
                          "rummage_recs_catalog_coverage_ratio", "rummage_index_listings", "rummage_index_newest_listing_age_seconds",
                          "rummage_index_search_width", "rummage_index_recall",
                          "rummage_model_info", "rummage_model_version", "rummage_model_reloads_total", "rummage_events_ingested_total",
                          "rummage_events_refused_total", "rummage_events_ingest_lag_seconds", "rummage_features_freshness_seconds",
                          "rummage_exposure_events_total"]
        for name in documented { #expect(text.contains("# TYPE \(name) "), "\(name) is exported") }
        // [11/19]: the index serves with the width its version chose, and its recall is exported as measured
        // at build (from the manifest) and when this replica loaded the version.
        let metrics = try ModelRegistry(root: s.dir + "/registry").manifest("mp", 1).metrics
        let width = try #require(metrics["index_search_width"])
        #expect(service.servedIndexes.map(\.searchWidth) == [Int(width)])
        #expect(Self.value(text, #"rummage_index_search_width{alias="champion"}"#) == width)
        #expect(Self.value(text, #"rummage_index_recall{alias="champion",measured="build",filtered="true"}"#)
                == metrics["index_recall@20[filtered]"])
        let loaded = try #require(Self.value(text, #"rummage_index_recall{alias="champion",measured="load",filtered="false"}"#))
        #expect(loaded >= 0.9 && loaded == service.servedIndexes.first?.loadedRecall)
        #expect(text.contains("rummage_exposure_events_total{surface=\"home\",variant=\"champion\",type=\"like\"} 1"))
        #expect(text.contains("rummage_recs_answers_total{variant=\"champion\",kind=\"fallback\"} 1"))
        #expect(text.contains("rummage_recs_unservable_served_total 0"))
        // The dashboard reads the same figures.
        let page = String(decoding: router.handle(HTTPRequest(method: "GET", path: "/")).body, as: UTF8.self)
        #expect(page.contains("<h1>Rummage · mp</h1>") && page.contains("<td>champion</td><td>v1</td>"))
        #expect(page.contains("requests/s") && page.contains("unservable served (ever)<b>0</b>") && page.contains("<h2>Alerts</h2>"))
        let docs = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/monitoring.md"), encoding: .utf8)
        for name in documented { #expect(docs.contains("`\(name)`"), "docs/monitoring.md describes \(name)") }
    }

    /// The value of the series `series` (name and labels exactly as exported) in an exposition.
    static func value(_ exposition: String, _ series: String) -> Double? {
        exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}
