/// Mean metric values over the evaluated users, in a stable order, with the user count.
///
/// Metric names are lower case with the cutoff: `hr@10`, `ndcg@10`, `recall@20`, `precision@20`.
public struct MetricReport: Sendable, Equatable, CustomStringConvertible {
    public private(set) var names: [String] = []
    public private(set) var values: [String: Double] = [:]
    public var userCount: Int

    public init(userCount: Int = 0) { self.userCount = userCount }

    public subscript(name: String) -> Double? { values[name] }

    /// Sets `name` (appending it to the order when new).
    public mutating func set(_ name: String, _ value: Double) {
        if values.updateValue(value, forKey: name) == nil { names.append(name) }
    }

    public var description: String {
        names.map { name in
            let v = values[name]!
            return name.hasPrefix("users[") ? "\(name)=\(Int(v))" : "\(name)=\(String(format4: v))"
        }.joined(separator: " ") + " users=\(userCount)"
    }
}

extension String {
    /// Fixed four decimals, without Foundation's formatter.
    init(format4 value: Double) {
        let scaled = (value * 10_000).rounded()
        let sign = scaled < 0 ? "-" : ""
        let magnitude = Int(abs(scaled))
        let fraction = String(magnitude % 10_000)
        self = "\(sign)\(magnitude / 10_000).\(String(repeating: "0", count: 4 - fraction.count))\(fraction)"
    }
}

extension MetricReport {
    /// Means of row-major per-user values (`values[u * names.count + m]`), summed in user order so
    /// the result does not depend on how the users were split across threads.
    static func averaging(names: [String], perUser values: [Double], userCount: Int) -> MetricReport {
        precondition(values.count == userCount * names.count)
        var report = MetricReport(userCount: userCount)
        for (m, name) in names.enumerated() {
            var sum = 0.0
            for u in 0..<userCount { sum += values[u * names.count + m] }
            report.set(name, userCount > 0 ? sum / Double(userCount) : 0)
        }
        return report
    }
}
