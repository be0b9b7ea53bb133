import Synchronization

/// A metric a family can hold: how it is named in the exposition and how it prints its samples.
public protocol Metric: AnyObject, Sendable {
    static var typeName: String { get }
    /// Sample lines for this metric under `name` with the rendered `labels` (`a="x",b="y"`, maybe empty).
    func samples(name: String, labels: String) -> [String]
}

extension Counter: Metric {
    public static var typeName: String { "counter" }
    public func samples(name: String, labels: String) -> [String] { ["\(name)\(MetricsRegistry.braced(labels)) \(current)"] }
}

extension Gauge: Metric {
    public static var typeName: String { "gauge" }
    public func samples(name: String, labels: String) -> [String] {
        ["\(name)\(MetricsRegistry.braced(labels)) \(MetricsRegistry.format(current))"]
    }
}

extension Histogram: Metric {
    public static var typeName: String { "histogram" }
    public func samples(name: String, labels: String) -> [String] {
        let (buckets, count, sum) = snapshot
        let prefix = labels.isEmpty ? "" : labels + ","
        var lines: [String] = []
        var cumulative = 0
        for (i, n) in buckets.enumerated() {
            cumulative += n
            let le = i < bounds.count ? MetricsRegistry.format(bounds[i]) : "+Inf"
            lines.append("\(name)_bucket{\(prefix)le=\"\(le)\"} \(cumulative)")
        }
        lines.append("\(name)_sum\(MetricsRegistry.braced(labels)) \(MetricsRegistry.format(sum))")
        lines.append("\(name)_count\(MetricsRegistry.braced(labels)) \(count)")
        return lines
    }
}

/// One metric name with its label names, and a child metric per combination of label values. Look a
/// child up once (`labels(…)`) and keep it: the lookup takes a lock, updating the child does not.
public final class MetricFamily<M: Metric>: Sendable {
    public let name: String
    public let help: String
    public let labelNames: [String]
    private let make: @Sendable () -> M
    private let children = Mutex<[[String]: M]>([:])
    private let order = Mutex<[[String]]>([])

    init(name: String, help: String, labelNames: [String], make: @escaping @Sendable () -> M) {
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.make = make
    }

    /// The child for these label values (created at the first call), in `labelNames` order.
    public func labels(_ values: String...) -> M { labels(values) }

    public func labels(_ values: [String]) -> M {
        precondition(values.count == labelNames.count, "\(name) takes labels \(labelNames)")
        return children.withLock { children in
            if let child = children[values] { return child }
            let child = make()
            children[values] = child
            order.withLock { $0.append(values) }
            return child
        }
    }

    func exposition() -> [String] {
        let keys = order.withLock { $0 }
        let all = children.withLock { $0 }
        return keys.flatMap { values in
            all[values]!.samples(name: name, labels: MetricsRegistry.render(labelNames, values))
        }
    }
}

/// The metrics of one process and their Prometheus text exposition (format 0.0.4): families in the
/// order they were registered, children in the order they were first used, then collected metrics,
/// whose values are computed at each scrape (sizes, ages, ratios).
///
/// Names follow `rummage_<subsystem>_<name>_<unit>`; counters end in `_total`. Registering a name twice
/// is a programming error.
public final class MetricsRegistry: Sendable {
    private struct Entry: Sendable {
        var name: String
        var help: String
        var type: String
        var lines: @Sendable () -> [String]
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    public func counter(_ name: String, _ help: String, labels: [String] = []) -> MetricFamily<Counter> {
        add(MetricFamily(name: name, help: help, labelNames: labels) { Counter() })
    }

    public func gauge(_ name: String, _ help: String, labels: [String] = []) -> MetricFamily<Gauge> {
        add(MetricFamily(name: name, help: help, labelNames: labels) { Gauge() })
    }

    public func histogram(_ name: String, _ help: String, labels: [String] = [], bounds: [Double]) -> MetricFamily<Histogram> {
        add(MetricFamily(name: name, help: help, labelNames: labels) { Histogram(bounds: bounds) })
    }

    /// A gauge (or counter) whose samples `collect` computes at each scrape: label values and value.
    public func collected(_ name: String, _ help: String, type: String = "gauge", labels: [String] = [],
                          _ collect: @escaping @Sendable () -> [(labels: [String], value: Double)]) {
        register(Entry(name: name, help: help, type: type) {
            collect().map { "\(name)\(Self.braced(Self.render(labels, $0.labels))) \(Self.format($0.value))" }
        })
    }

    private func add<M: Metric>(_ family: MetricFamily<M>) -> MetricFamily<M> {
        register(Entry(name: family.name, help: family.help, type: M.typeName) { family.exposition() })
        return family
    }

    private func register(_ entry: Entry) {
        precondition(entry.name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") },
                     "invalid metric name \(entry.name)")
        entries.withLock { entries in
            precondition(!entries.contains { $0.name == entry.name }, "metric \(entry.name) registered twice")
            entries.append(entry)
        }
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String {
        var text = ""
        for entry in entries.withLock({ $0 }) {
            text += "# HELP \(entry.name) \(Self.escapeHelp(entry.help))\n# TYPE \(entry.name) \(entry.type)\n"
            for line in entry.lines() { text += line + "\n" }
        }
        return text
    }

    public static let contentType: StaticString = "text/plain; version=0.0.4; charset=utf-8"

    // MARK: Rendering

    static func render(_ names: [String], _ values: [String]) -> String {
        zip(names, values).map { "\($0)=\"\(escapeLabel($1))\"" }.joined(separator: ",")
    }

    static func braced(_ labels: String) -> String { labels.isEmpty ? "" : "{\(labels)}" }

    /// A label value with backslash, double quote and newline escaped.
    static func escapeLabel(_ value: String) -> String { escape(value, quotes: true) }

    /// HELP text with backslash and newline escaped.
    static func escapeHelp(_ text: String) -> String { escape(text, quotes: false) }

    private static func escape(_ text: String, quotes: Bool) -> String {
        var out = ""
        for c in text {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.append(c)
            }
        }
        return out
    }

    /// Go's float formatting as Prometheus reads it: integers without a fraction, `+Inf`, `NaN`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
