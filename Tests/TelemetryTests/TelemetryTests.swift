import Foundation
import Synchronization
import Telemetry
import Testing

@Suite struct TelemetryTests {
    @Test func concurrentUpdatesAreAllCounted() {
        let counter = Counter(), gauge = Gauge(), histogram = Histogram(bounds: [1, 2, 3])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for i in 0..<10_000 {
                counter.increment()
                gauge.add(0.5)
                histogram.observe(Double(i % 4) + (worker == 0 ? 0 : 0.5))
            }
        }
        #expect(counter.current == 40_000)
        #expect(gauge.current == 20_000)
        let (buckets, count, sum) = histogram.snapshot
        #expect(count == 40_000 && buckets.reduce(0, +) == 40_000)
        // Worker 0 observes 0,1,2,3; the others 0.5,1.5,2.5,3.5 (each value 2,500 times per worker).
        #expect(buckets == [2_500 * 2 + 7_500, 2_500 + 7_500, 2_500 + 7_500, 7_500])
        #expect(sum == 2_500 * 6 + 3 * 2_500 * 8)
    }

    @Test func theExpositionIsPrometheusText() {
        let registry = MetricsRegistry()
        let requests = registry.counter("rummage_http_requests_total", "HTTP requests by endpoint.", labels: ["endpoint", "code"])
        requests.labels("recommendations", "2xx").increment(by: 3)
        requests.labels("similar", "4xx").increment()
        registry.gauge("rummage_index_listings", "Listings in the index.").labels().set(12)
        let latency = registry.histogram("rummage_http_request_duration_seconds", "Latency.", labels: ["endpoint"], bounds: [0.001, 0.01])
        latency.labels("recommendations").observe(0.0005)
        latency.labels("recommendations").observe(0.02)
        registry.collected("rummage_model_info", "The served model.", labels: ["version", "note"]) { [(["3", "say \"hi\"\n"], 1)] }
        #expect(registry.exposition() == """
            # HELP rummage_http_requests_total HTTP requests by endpoint.
            # TYPE rummage_http_requests_total counter
            rummage_http_requests_total{endpoint="recommendations",code="2xx"} 3
            rummage_http_requests_total{endpoint="similar",code="4xx"} 1
            # HELP rummage_index_listings Listings in the index.
            # TYPE rummage_index_listings gauge
            rummage_index_listings 12
            # HELP rummage_http_request_duration_seconds Latency.
            # TYPE rummage_http_request_duration_seconds histogram
            rummage_http_request_duration_seconds_bucket{endpoint="recommendations",le="0.001"} 1
            rummage_http_request_duration_seconds_bucket{endpoint="recommendations",le="0.01"} 1
            rummage_http_request_duration_seconds_bucket{endpoint="recommendations",le="+Inf"} 2
            rummage_http_request_duration_seconds_sum{endpoint="recommendations"} 0.0205
            rummage_http_request_duration_seconds_count{endpoint="recommendations"} 2
            # HELP rummage_model_info The served model.
            # TYPE rummage_model_info gauge
            rummage_model_info{version="3",note="say \\"hi\\"\\n"} 1

            """)
    }

    @Test func quantilesInterpolateWithinBuckets() {
        let histogram = Histogram(bounds: [1, 2, 4])
        #expect(histogram.quantile(0.5) == nil)
        for _ in 0..<50 { histogram.observe(0.5) }
        for _ in 0..<50 { histogram.observe(3) }
        #expect(histogram.quantile(0.5) == 1)
        let expected: Double = 2 + 2 * 49.0 / 50
        #expect(histogram.quantile(0.99) == expected)
    }

    @Test func logLinesAreJSONWithLevelsAndFields() throws {
        let lines = Mutex<[String]>([])
        let logger = JSONLogger(minimumLevel: .info) { line in lines.withLock { $0.append(line) } }
        logger.log(.debug, "dropped")
        logger.info("served", ["request_id": "r-1", "k": 20, "fallback": false, "note": "a \"quoted\"\nline"])
        logger.error("failed")
        let written = lines.withLock { $0 }
        #expect(written.count == 2 && written.allSatisfy { $0.hasSuffix("}\n") && $0.filter { $0 == "\n" }.count == 1 })
        let first = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect(first["level"] as? String == "info" && first["msg"] as? String == "served")
        #expect(first["request_id"] as? String == "r-1" && first["k"] as? Int == 20 && first["fallback"] as? Bool == false)
        #expect(first["note"] as? String == "a \"quoted\"\nline")
        #expect((first["ts"] as? String)?.hasSuffix("Z") == true)
    }
}
