import Foundation
import HTTPServer
import RummageClient
import RummageTestSupport
import Serving
import Testing

/// Issue [7/8]: a real Prometheus (Debian's `prometheus`) on loopback scrapes a running server every
/// second and evaluates monitoring/alerts.yml, with every window and `for` shortened (`[5m]` → `[20s]`,
/// `for: 10m` → `for: 2s`) but the expressions and thresholds as they are. Three faults are injected;
/// each alert must be seen firing through Prometheus's HTTP API, then resolve once the fault is fixed:
/// - a fallback spike: requests for users the model does not know;
/// - a stale index: an event two hours after the newest listing, with no new listing indexed;
/// - a failed hot swap: a reload to a version that does not exist.
@Suite(.serialized) struct PrometheusIntegrationTests {
    @Test(.timeLimit(.minutes(3))) func injectedFaultsFireTheirAlertsAndResolve() throws {
        let s = ServingTests()
        let service = try ServingTests.deployService(dir: s.dir)
        let now = 1_775_000_000 as Int64
        let router = Router()
        ServingRoutes.install(service, on: router, access: .testing, clock: { now + 7_300 })
        let server = HTTPServer(router: router, configuration: HTTPServer.Configuration())
        try server.start()
        defer { server.stop() }

        // Prometheus with the shortened rules.
        let rules = try String(contentsOf: repositoryRoot.appendingPathComponent("monitoring/alerts.yml"), encoding: .utf8)
            .replacingOccurrences(of: #"\[\d+m\]"#, with: "[20s]", options: .regularExpression)
            .replacingOccurrences(of: #"for: \d+m"#, with: "for: 2s", options: .regularExpression)
        try rules.write(toFile: s.dir + "/alerts.yml", atomically: true, encoding: .utf8)
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: [\(s.dir)/alerts.yml]
            scrape_configs:
              - job_name: rummage
                authorization: {credentials: \(AccessPolicy.testKey)}
                static_configs: [{targets: ["127.0.0.1:\(server.port)"]}]
            """.write(toFile: s.dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let port = try HTTPServer.freeLoopbackPort()
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(s.dir)/prometheus.yml", "--storage.tsdb.path=\(s.dir)/tsdb",
                                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"]
        let log = FileHandle(forWritingAtPath: "/dev/null")
        prometheus.standardOutput = log
        prometheus.standardError = log
        try prometheus.run()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }
        let api = RummageClient(port: port, timeout: 2)
        #expect(Self.waitFor(seconds: 30) { (try? api.request("GET", "/-/ready"))?.status == 200 }, "Prometheus became ready")

        /// The alerts Prometheus reports as firing.
        func firing() -> Set<String> {
            guard let answer = try? api.request("GET", "/api/v1/alerts"),
                  let object = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any],
                  let alerts = (object["data"] as? [String: Any])?["alerts"] as? [[String: Any]] else { return [] }
            return Set(alerts.compactMap { alert in
                alert["state"] as? String == "firing" ? (alert["labels"] as? [String: String])?["alertname"] : nil
            })
        }
        let client = RummageClient(port: server.port, apiKey: AccessPolicy.testKey)
        let faults = ["RummageFallbackSpike", "RummageIndexStale", "RummageModelReloadFailed"]
        // Healthy traffic first: personalised answers only. (The generated events are months old, so the
        // feature-freshness and ingest-lag alerts fire throughout; they are not among the faults.)
        #expect(Self.waitFor(seconds: 20) {
            for user in ["u1", "u2", "u3", "u4"] { _ = try? client.recommendations(user: user, k: 5) }
            return (try? api.request("GET", "/api/v1/query?query=up"))?.text.contains("\"1\"") == true
        }, "Prometheus scrapes the server")
        Thread.sleep(forTimeInterval: 4)
        #expect(firing().intersection(faults).isEmpty, "no fault's alert fires on healthy traffic")

        // Faults.
        _ = try client.send(events: [.init(id: "late-view", type: "view", timestamp: now + 7_200, user: "u1", item: "l5")])
        #expect(throws: RummageClientError.self) { try client.reload(alias: "999") }
        var seen: Set<String> = []
        let fired = Self.waitFor(seconds: 60) {
            for n in 0..<20 { _ = try? client.recommendations(user: "stranger-\(n)", k: 5) }
            seen.formUnion(firing())
            return Set(faults).isSubset(of: seen)
        }
        #expect(fired, "fired: \(seen.sorted()), expected \(faults)")

        // Fixes: personalised traffic only, a new listing reaches the index, no more failed reloads.
        _ = try client.createListing(item: "fresh-listing", seller: "u7", price: 30,
                                     attributes: ["category": "jeans", "brand": "levis", "title": "blue jeans"])
        var still: Set<String> = []
        let resolved = Self.waitFor(seconds: 90) {
            for user in ["u1", "u2", "u3", "u4"] { _ = try? client.recommendations(user: user, k: 5) }
            still = firing().intersection(faults)
            return still.isEmpty
        }
        #expect(resolved, "still firing: \(still.sorted())")
    }

    /// Polls `condition` every half second until it holds or `seconds` pass.
    static func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return condition()
    }
}
