/// What a model version's report shows; `html` renders it as one self-contained HTML file (inline CSS and
/// SVG, no scripts, no external resources), written by `rummage report` and by `rummage pipeline run`
/// into the registry version.
public struct ModelReport: Sendable {
    public struct Step: Sendable {
        public var step: Int
        public var values: [String: Double]

        public init(step: Int, values: [String: Double]) {
            self.step = step
            self.values = values
        }
    }

    public var model: String
    public var version: Int
    public var kind: String
    public var createdAt: String
    public var dataFingerprint: String
    public var codeVersion: String
    public var configuration: [String: String]
    public var metrics: [String: Double]
    /// The version compared against (usually the champion when this one was registered).
    public var baseline: (name: String, metrics: [String: Double])?
    public var history: [Step]
    /// The baseline's training history, drawn beside this one's (run comparisons).
    public var baselineHistory: [Step] = []
    /// Top-20 scores of a sample of users against the version's index.
    public var servedScores: [Double]
    /// Share of the indexed listings in those users' top 20s.
    public var coverage: Double?
    public var blessed: Bool?

    public init(model: String, version: Int, kind: String, createdAt: String, dataFingerprint: String, codeVersion: String,
                configuration: [String: String], metrics: [String: Double], baseline: (name: String, metrics: [String: Double])?,
                history: [Step], servedScores: [Double], coverage: Double?, blessed: Bool?) {
        self.model = model
        self.version = version
        self.kind = kind
        self.createdAt = createdAt
        self.dataFingerprint = dataFingerprint
        self.codeVersion = codeVersion
        self.configuration = configuration
        self.metrics = metrics
        self.baseline = baseline
        self.history = history
        self.servedScores = servedScores
        self.coverage = coverage
        self.blessed = blessed
    }

    /// Metric names without a slice (`recall@20`), and the slices (`[warm]`, …) per name.
    var overallMetrics: [String] { metrics.keys.filter { !$0.contains("[") }.sorted() }

    var slices: [String: [(slice: String, value: Double)]] {
        var out: [String: [(String, Double)]] = [:]
        for (key, value) in metrics {
            guard let open = key.firstIndex(of: "["), key.hasSuffix("]") else { continue }
            let name = String(key[..<open]), slice = String(key[key.index(after: open)..<key.index(before: key.endIndex)])
            out[name, default: []].append((slice, value))
        }
        return out.mapValues { $0.sorted { $0.0 < $1.0 } }
    }

    public var html: String {
        let e = SVGChart.escape
        let title = "\(model) v\(version)"
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(e(title)) report</title>
            <style>body{font-family:sans-serif;max-width:1000px;margin:24px auto;color:#222}table{border-collapse:collapse;margin:8px 0}
            td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
            .better{color:#109618}.worse{color:#dc3912}section{margin:24px 0}svg{max-width:100%;height:auto}</style></head><body>
            <h1>\(e(title))</h1>
            <p>\(e(kind)) · registered \(e(createdAt)) · data \(e(String(dataFingerprint.prefix(16)))) · code \(e(codeVersion))\(blessed.map { $0 ? " · <b>blessed</b>" : " · <b>not blessed</b>" } ?? "")</p>
            <p>Settings: \(e(configuration.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")))</p>

            """
        // Metrics against the baseline.
        out += "<section><h2>Metrics\(baseline.map { " against \(e($0.name))" } ?? "")</h2><table><tr><th>metric</th><th>this version</th>"
        if baseline != nil { out += "<th>baseline</th><th>change</th>" }
        out += "</tr>"
        for name in overallMetrics {
            let value = metrics[name]!
            out += "<tr><td>\(e(name))</td><td>\(SVGChart.number(value, digits: 4))</td>"
            if let base = baseline?.metrics[name] {
                let delta = value - base
                let lowerIsBetter = name.contains("latency") || name.contains("seconds")
                let css = delta == 0 ? "" : ((delta > 0) != lowerIsBetter ? "better" : "worse")
                out += "<td>\(SVGChart.number(base, digits: 4))</td><td class=\"\(css)\">\(delta >= 0 ? "+" : "")\(SVGChart.number(delta, digits: 4))</td>"
            } else if baseline != nil {
                out += "<td></td><td></td>"
            }
            out += "</tr>"
        }
        out += "</table><p>Per-slice figures are plotted below.</p></section>\n"
        let shared = overallMetrics.filter { baseline?.metrics[$0] != nil && !$0.contains("latency") && metrics[$0]! <= 1 }
        if let baseline, !shared.isEmpty {
            out += "<section>" + SVGChart(title: "Metrics against \(baseline.name)").bars(
                categories: shared, series: [(name: title, values: shared.map { metrics[$0]! }),
                                             (name: baseline.name, values: shared.map { baseline.metrics[$0]! })]) + "</section>\n"
        }
        // Training curves.
        let figures = Set((history + baselineHistory).flatMap { $0.values.keys }).sorted()
        if figures.isEmpty {
            out += "<section><h2>Training</h2><p>This model kind records no per-epoch figures.</p></section>\n"
        }
        for figure in figures {
            func series(_ name: String, _ steps: [Step]) -> SVGChart.Series {
                SVGChart.Series(name: name, points: steps.compactMap { step in step.values[figure].map { (x: Double(step.step), y: $0) } })
            }
            let lines = baselineHistory.isEmpty ? [series(figure, history)]
                : [series(title, history), series(baseline?.name ?? "baseline", baselineHistory)].filter { !$0.points.isEmpty }
            out += "<section>" + SVGChart(title: "Training \(figure) per epoch", xLabel: "epoch", yLabel: figure).lines(lines) + "</section>\n"
        }
        // Per-slice bars.
        for (name, values) in slices.sorted(by: { $0.key < $1.key }) {
            out += "<section>" + SVGChart(title: "\(name) per slice").bars(
                categories: values.map(\.slice), series: [(name: name, values: values.map(\.value))]) + "</section>\n"
        }
        // Served scores and coverage.
        if !servedScores.isEmpty {
            out += "<section>" + SVGChart(title: "Top-20 scores of \(servedScores.count / 20) sampled users", xLabel: "score", yLabel: "count")
                .histogram(servedScores) + "</section>\n"
        }
        if let coverage {
            out += "<section><h2>Coverage</h2><p>\(SVGChart.number(coverage * 100, digits: 2)) % of the indexed listings appear in the "
                + "sampled users' top 20s.</p></section>\n"
        }
        return out + "</body></html>\n"
    }
}
