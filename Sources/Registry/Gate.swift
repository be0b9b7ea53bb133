import Foundation

/// What a candidate must satisfy to be blessed: absolute floors, changes relative to the baseline
/// (the current champion) per metric with a direction and tolerance, and a scoring latency budget.
public struct GatePolicy: Codable, Sendable, Equatable {
    public struct Relative: Codable, Sendable, Equatable {
        /// `higher`: the candidate may fall at most `tolerance` below the baseline; `lower`: at most
        /// `tolerance` above it.
        public var direction: Direction
        public var tolerance: Double

        public enum Direction: String, Codable, Sendable { case higher, lower }

        public init(direction: Direction = .higher, tolerance: Double) {
            self.direction = direction
            self.tolerance = tolerance
        }
    }

    /// Metric → lowest acceptable value.
    public var absolute: [String: Double]
    /// Metric (slices included, e.g. `recall@20[cold]`) → allowed change against the baseline.
    public var relative: [String: Relative]
    /// p99 of scoring one user against the whole catalogue, in milliseconds; nil: not checked.
    public var latencyP99Milliseconds: Double?
    /// The recall@20 against exact search that the ANN index must reach for the model's own users at the
    /// search width it serves with, unfiltered and filtered (`index_recall_target`, default 0.95). The
    /// index step chooses that width; the gate refuses a version whose index could not reach it.
    public var indexRecallTarget: Double

    public static let defaultIndexRecallTarget = 0.95

    public init(absolute: [String: Double] = [:], relative: [String: Relative] = [:], latencyP99Milliseconds: Double? = nil,
                indexRecallTarget: Double = Self.defaultIndexRecallTarget) {
        self.absolute = absolute
        self.relative = relative
        self.latencyP99Milliseconds = latencyP99Milliseconds
        self.indexRecallTarget = indexRecallTarget
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        absolute = try c.decodeIfPresent([String: Double].self, forKey: .absolute) ?? [:]
        relative = try c.decodeIfPresent([String: Relative].self, forKey: .relative) ?? [:]
        latencyP99Milliseconds = try c.decodeIfPresent(Double.self, forKey: .latencyP99Milliseconds)
        indexRecallTarget = try c.decodeIfPresent(Double.self, forKey: .indexRecallTarget) ?? Self.defaultIndexRecallTarget
        guard indexRecallTarget > 0 && indexRecallTarget <= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .indexRecallTarget, in: c, debugDescription: "index_recall_target must be in (0, 1]")
        }
    }

    enum CodingKeys: String, CodingKey {
        case absolute, relative
        case latencyP99Milliseconds = "latency_p99_ms"
        case indexRecallTarget = "index_recall_target"
    }
}

/// The gate's verdict with every check, written as `gate.json` and `gate.md` into the version.
public struct GateReport: Codable, Sendable, Equatable {
    public struct Check: Codable, Sendable, Equatable {
        public var name: String
        public var passed: Bool
        public var detail: String

        public init(name: String, passed: Bool, detail: String) {
            self.name = name
            self.passed = passed
            self.detail = detail
        }
    }

    public var candidate: String
    public var baseline: String?
    public var checks: [Check]
    public var blessed: Bool { checks.allSatisfy(\.passed) }

    public init(candidate: String, baseline: String?, checks: [Check]) {
        self.candidate = candidate
        self.baseline = baseline
        self.checks = checks
    }

    /// Evaluates `policy` for a candidate's metrics against an optional baseline's, with the measured
    /// scoring latency and whether the saved artifact loaded and answered like the trained model.
    public static func evaluate(policy: GatePolicy, candidate: String, metrics: [String: Double],
                                baseline: (name: String, metrics: [String: Double])?, latencyP99Milliseconds: Double,
                                loadsAndAnswers: (passed: Bool, detail: String)) -> GateReport {
        var checks: [Check] = [Check(name: "artifact loads and answers", passed: loadsAndAnswers.passed, detail: loadsAndAnswers.detail),
                               indexRecallCheck(target: policy.indexRecallTarget, metrics: metrics)]
        for (metric, floor) in policy.absolute.sorted(by: { $0.key < $1.key }) {
            guard let value = metrics[metric] else {
                checks.append(Check(name: "\(metric) ≥ \(floor)", passed: false, detail: "the candidate has no metric '\(metric)'"))
                continue
            }
            checks.append(Check(name: "\(metric) ≥ \(floor)", passed: value >= floor, detail: "candidate \(format(value))"))
        }
        for (metric, rule) in policy.relative.sorted(by: { $0.key < $1.key }) {
            let name = "\(metric) \(rule.direction == .higher ? "≥" : "≤") baseline \(rule.direction == .higher ? "−" : "+") \(rule.tolerance)"
            guard let baseline else {
                checks.append(Check(name: name, passed: true, detail: "no baseline: first version"))
                continue
            }
            guard let value = metrics[metric], let reference = baseline.metrics[metric] else {
                checks.append(Check(name: name, passed: false, detail: "metric '\(metric)' missing from the candidate or the baseline"))
                continue
            }
            let passed = rule.direction == .higher ? value >= reference - rule.tolerance : value <= reference + rule.tolerance
            checks.append(Check(name: name, passed: passed,
                                detail: "candidate \(format(value)), baseline \(format(reference)) (\(baseline.name)), change \(format(value - reference, sign: true))"))
        }
        if let budget = policy.latencyP99Milliseconds {
            checks.append(Check(name: "scoring p99 ≤ \(budget) ms", passed: latencyP99Milliseconds <= budget,
                                detail: "p99 \(format(latencyP99Milliseconds)) ms"))
        }
        return GateReport(candidate: candidate, baseline: baseline?.name, checks: checks)
    }

    /// The index's recall@20 at its serving width against the policy's target: the lower ends of the 95 %
    /// confidence intervals (`index_recall@20_lower`, and `index_recall@20[filtered]_lower` when filters
    /// were measured), or the plain measurements for versions that recorded only those.
    public static func indexRecallCheck(target: Double, metrics: [String: Double]) -> Check {
        let name = "index recall@20 ≥ \(target) at its search width"
        func measured(_ metric: String) -> (value: Double, text: String)? {
            guard let mean = metrics[metric] else { return nil }
            guard let lower = metrics[metric + "_lower"] else { return (mean, format(mean)) }
            return (lower, "\(format(mean)) (≥ \(format(lower)) at 95 %)")
        }
        guard let recall = measured("index_recall@20") else {
            return Check(name: name, passed: false, detail: "the candidate has no metric 'index_recall@20'")
        }
        let filtered = measured("index_recall@20[filtered]")
        let width = metrics["index_search_width"].map { " at search width \(Int($0))" } ?? ""
        return Check(name: name, passed: recall.value >= target && (filtered?.value ?? 1) >= target,
                     detail: "recall \(recall.text)" + (filtered.map { ", filtered \($0.text)" } ?? "") + width)
    }

    public var markdown: String {
        var text = "# Gate: \(candidate) \(blessed ? "BLESSED" : "NOT BLESSED")\n\n"
        text += "Baseline: \(baseline ?? "none (first version)")\n\n| check | result | detail |\n|---|---|---|\n"
        for c in checks { text += "| \(c.name) | \(c.passed ? "pass" : "FAIL") | \(c.detail) |\n" }
        return text
    }

    public var json: Data {
        struct Body: Encodable { var candidate: String; var baseline: String?; var blessed: Bool; var checks: [Check] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Body(candidate: candidate, baseline: baseline, blessed: blessed, checks: checks))) ?? Data()
    }

    static func format(_ x: Double, sign: Bool = false) -> String { String(format: sign ? "%+.4f" : "%.4f", x) }
}
