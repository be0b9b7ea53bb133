import Foundation

/// The guardrails an experiment report reads from a server's metrics (Prometheus' text format, as
/// `GET /metrics` serves it): per variant, the share of answers that fell back to popular listings and
/// the share that were empty; listings served that the lifecycle did not allow; the p99 latency of the
/// recommendation endpoints (per endpoint: the server measures latency per endpoint, not per variant).
public struct ServerGuardrails: Sendable {
    public struct Limits: Sendable {
        public var fallbackRate = 0.05
        public var emptyRate = 0.01
        public var p99Milliseconds = 50.0
        public init() {}
    }

    /// Answers per variant and kind (personalised, fallback, empty).
    public var answers: [String: [String: Double]] = [:]
    public var unservableServed = 0.0
    /// Per endpoint, cumulative request counts at each latency bound (seconds).
    public var latency: [String: [(bound: Double, count: Double)]] = [:]

    /// Reads the metrics text; lines it does not use are skipped.
    public init(metrics text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            let name = String(series.prefix { $0 != "{" })
            var labels: [String: String] = [:]
            if let open = series.firstIndex(of: "{"), series.hasSuffix("}") {
                for pair in series[series.index(after: open)..<series.index(before: series.endIndex)].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2 { labels[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                }
            }
            switch name {
            case "rummage_recs_answers_total":
                if let variant = labels["variant"], let kind = labels["kind"] { answers[variant, default: [:]][kind, default: 0] += value }
            case "rummage_recs_unservable_served_total":
                unservableServed += value
            case "rummage_http_request_duration_seconds_bucket":
                guard let endpoint = labels["endpoint"], endpoint.contains("recommendations") || endpoint == "similar",
                      let bound = labels["le"].flatMap({ $0 == "+Inf" ? Double.infinity : Double($0) }) else { continue }
                latency[endpoint, default: []].append((bound, value))
            default:
                continue
            }
        }
        for endpoint in latency.keys { latency[endpoint]!.sort { $0.bound < $1.bound } }
    }

    /// The p99 latency of an endpoint in milliseconds: the upper bound of the bucket that holds the 99th
    /// percentile (nil without requests; infinity when it is past the largest finite bound).
    public func p99Milliseconds(_ endpoint: String) -> Double? {
        guard let buckets = latency[endpoint], let total = buckets.last?.count, total > 0 else { return nil }
        return buckets.first { $0.count >= 0.99 * total }.map { $0.bound * 1_000 }
    }

    /// The guardrails, `variants` being the experiment's (answers of other variants are not read).
    public func guardrails(variants: [String], limits: Limits) -> [ExperimentReport.Guardrail] {
        var out: [ExperimentReport.Guardrail] = []
        for variant in variants {
            guard let kinds = answers[variant] else { continue }
            let total = kinds.values.reduce(0, +)
            guard total > 0 else { continue }
            out.append(.init(name: "fallback_rate", variant: variant, value: (kinds["fallback"] ?? 0) / total, limit: limits.fallbackRate))
            out.append(.init(name: "empty_answer_rate", variant: variant, value: (kinds["empty"] ?? 0) / total, limit: limits.emptyRate))
        }
        out.append(.init(name: "unservable_listings_served", variant: "*", value: unservableServed, limit: 0))
        for endpoint in latency.keys.sorted() {
            if let p99 = p99Milliseconds(endpoint) {
                out.append(.init(name: "p99_ms[\(endpoint)]", variant: "*", value: p99, limit: limits.p99Milliseconds))
            }
        }
        return out
    }
}
