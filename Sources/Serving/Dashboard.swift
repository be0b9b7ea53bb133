import Dispatch
import Foundation
import Reporting
import Synchronization
import Telemetry

/// The live dashboard at `GET /`: one HTML page, refreshed every 5 seconds, built from the same metrics
/// `/metrics` exports: the served versions, request rate, latency, error and fallback shares over the
/// last minute, the recommendation-quality gauges, which alert conditions hold now (the thresholds of
/// monitoring/alerts.yml, evaluated here over the last minute) and charts of the last 10 minutes.
final class Dashboard: @unchecked Sendable {
    // @unchecked because: `timer` is set in init and cancelled in deinit; samples are behind a Mutex.
    struct Sample {
        var time: Double
        var requests: Int
        var errors: Int
        var answers: Int
        var fallbacks: Int
        var empty: Int
        var latency: [Int]
    }

    private let service: RecommendationService
    private let samples = Mutex<[Sample]>([])
    private let timer: DispatchSourceTimer
    static let interval = 5.0, kept = 120

    init(service: RecommendationService) {
        self.service = service
        timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now(), repeating: Self.interval)
        timer.setEventHandler { [weak self] in self?.sample() }
        timer.resume()
    }

    deinit { timer.cancel() }

    private func sample() {
        let m = service.metrics
        let endpoint = "recommendations"
        let requests = ["2xx", "4xx", "5xx"].map { m.requests.labels(endpoint, $0).current }
        var answers = 0, fallbacks = 0, empty = 0
        for alias in service.servedAliases {
            let kinds = (m.answerCounters[alias] ?? []).map(\.current)
            guard kinds.count == 3 else { continue }
            answers += kinds.reduce(0, +)
            fallbacks += kinds[1]
            empty += kinds[2]
        }
        let next = Sample(time: Date().timeIntervalSince1970, requests: requests.reduce(0, +), errors: requests[2], answers: answers,
                          fallbacks: fallbacks, empty: empty, latency: m.requestDuration.labels(endpoint).snapshot.buckets)
        samples.withLock {
            $0.append(next)
            if $0.count > Self.kept { $0.removeFirst($0.count - Self.kept) }
        }
    }

    /// Rates and shares between two samples.
    struct Window {
        var requestsPerSecond = 0.0, errorShare = 0.0, fallbackShare = 0.0, empty = 0, p50: Double?, p99: Double?
    }

    static func window(_ a: Sample, _ b: Sample) -> Window {
        let seconds = max(b.time - a.time, 1e-9), answers = b.answers - a.answers, requests = b.requests - a.requests
        let latency = zip(b.latency, a.latency).map { $0 - $1 }
        let bounds = Histogram.latencySeconds
        return Window(requestsPerSecond: Double(requests) / seconds,
                      errorShare: requests > 0 ? Double(b.errors - a.errors) / Double(requests) : 0,
                      fallbackShare: answers > 0 ? Double(b.fallbacks - a.fallbacks) / Double(answers) : 0,
                      empty: b.empty - a.empty,
                      p50: Histogram.quantile(0.5, buckets: latency, bounds: bounds),
                      p99: Histogram.quantile(0.99, buckets: latency, bounds: bounds))
    }

    var html: String {
        sample()
        let history = samples.withLock { $0 }
        let last = history.last!
        let minuteAgo = history.last { $0.time <= last.time - 60 } ?? history.first!
        let now = Self.window(minuteAgo, last)
        let e = SVGChart.escape
        func fmt(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
        func ms(_ x: Double?) -> String { x.map { fmt($0 * 1000) + " ms" } ?? "–" }

        // Gauges as /metrics computes them.
        let gauges = Self.gauges(service.metricsExposition)
        func gauge(_ name: String, _ alias: String? = nil) -> Double? {
            gauges.first { $0.name == name && (alias == nil || $0.labels.contains("alias=\"\(alias!)\"")) }?.value
        }
        let unservable = service.metrics.unservableServed.current
        var firing: [String] = []
        if unservable > 0 { firing.append("RummageSoldListingServed") }
        if (now.p99 ?? 0) > 0.05 { firing.append("RummageLatencyHigh") }
        if now.errorShare > 0.01 { firing.append("RummageErrorRateHigh") }
        if now.fallbackShare > 0.3 { firing.append("RummageFallbackSpike") }
        if now.empty > 0 { firing.append("RummageEmptyResults") }
        for alias in service.servedAliases {
            if (gauge("rummage_index_newest_listing_age_seconds", alias) ?? 0) > 3600 { firing.append("RummageIndexStale (\(alias))") }
            if (gauge("rummage_recs_score_psi", alias) ?? 0) > 0.2 && (gauge("rummage_recs_scores_observed_total", alias) ?? 0) > 2000 {
                firing.append("RummageScoreDrift (\(alias))")
            }
        }
        if (gauge("rummage_features_freshness_seconds") ?? 0) > 900 { firing.append("RummageFeaturesStale") }

        var out = """
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
            <title>Rummage · \(e(service.modelName))</title>
            <style>body{font-family:sans-serif;margin:20px;color:#222}.cards{display:flex;flex-wrap:wrap;gap:10px}
            .card{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:150px}.card b{display:block;font-size:22px}
            .alert{color:#fff;background:#dc3912;border-radius:4px;padding:4px 8px;margin:4px;display:inline-block}
            .ok{color:#109618}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}
            .charts{display:flex;flex-wrap:wrap;gap:10px}</style></head><body>
            <h1>Rummage · \(e(service.modelName))</h1>
            <table><tr><th>alias</th><th>version</th><th>kind</th><th>registered</th><th>listings indexed</th><th>newest listing age</th>
            <th>score PSI</th><th>coverage</th></tr>

            """
        for (alias, version) in service.servedVersions {
            let info = gauges.first { $0.name == "rummage_model_info" && $0.labels.contains("alias=\"\(alias)\"") }?.labels ?? ""
            func label(_ key: String) -> String {
                guard let range = info.range(of: "\(key)=\"") else { return "" }
                return String(info[range.upperBound...].prefix { $0 != "\"" })
            }
            out += "<tr><td>\(e(alias))</td><td>v\(version)</td><td>\(e(label("kind")))</td><td>\(e(label("created_at")))</td>"
                + "<td>\(Int(gauge("rummage_index_listings", alias) ?? 0))</td>"
                + "<td>\(fmt((gauge("rummage_index_newest_listing_age_seconds", alias) ?? 0) / 60, 1)) min</td>"
                + "<td>\(fmt(gauge("rummage_recs_score_psi", alias) ?? 0, 3))</td>"
                + "<td>\(fmt(100 * (gauge("rummage_recs_catalog_coverage_ratio", alias) ?? 0), 1)) %</td></tr>"
        }
        out += "</table><p>user query: \(e(service.userQuery))\(service.experiment.map { " · experiment \(e($0.name))" } ?? "")</p>"
        out += "<h2>Last minute</h2><div class=\"cards\">"
        for (title, value) in [("requests/s", fmt(now.requestsPerSecond, 1)), ("p50", ms(now.p50)), ("p99", ms(now.p99)),
                               ("5xx", fmt(100 * now.errorShare, 2) + " %"), ("fallback", fmt(100 * now.fallbackShare, 1) + " %"),
                               ("empty answers", String(now.empty)), ("unservable served (ever)", String(unservable)),
                               ("feature freshness", fmt((gauge("rummage_features_freshness_seconds") ?? 0) / 60, 1) + " min")] {
            out += "<div class=\"card\">\(e(title))<b>\(e(value))</b></div>"
        }
        out += "</div><h2>Alerts</h2>"
        out += firing.isEmpty ? "<p class=\"ok\">No alert condition holds.</p>"
            : firing.map { "<span class=\"alert\">\(e($0))</span>" }.joined()
        out += "<p>Thresholds of monitoring/alerts.yml over the last minute; Prometheus's own evaluation is authoritative.</p>"
        // Charts over the kept samples.
        let windows = zip(history, history.dropFirst()).map { (time: $1.time, window: Self.window($0, $1)) }
        if let start = windows.first?.time {
            let rate = windows.map { (x: ($0.time - start) / 60, y: $0.window.requestsPerSecond) }
            let p99 = windows.compactMap { w in w.window.p99.map { (x: (w.time - start) / 60, y: $0 * 1000) } }
            out += "<h2>Last \(fmt(Double(windows.count) * Self.interval / 60, 1)) minutes</h2><div class=\"charts\">"
                + SVGChart(title: "Requests per second", xLabel: "minutes", yLabel: "req/s").lines([.init(name: "req/s", points: rate)])
                + SVGChart(title: "p99 latency", xLabel: "minutes", yLabel: "ms").lines([.init(name: "p99", points: p99)]) + "</div>"
        }
        return out + "</body></html>\n"
    }

    /// The samples of a Prometheus text exposition: name, rendered labels, value.
    static func gauges(_ text: String) -> [(name: String, labels: String, value: Double)] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            if let brace = series.firstIndex(of: "{") { return (String(series[..<brace]), String(series[brace...]), value) }
            return (String(series), "", value)
        }
    }
}
