import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Reporting
import Testing

@Suite struct ReportingTests {
    static func report(baseline: Bool = true) -> ModelReport {
        ModelReport(model: "mp <two-tower>", version: 3, kind: "two-tower", createdAt: "2026-11-25T10:00:00Z",
                    dataFingerprint: "0123456789abcdef0123", codeVersion: "abc123", configuration: ["epochs": "8", "content": "true"],
                    metrics: ["recall@20": 0.25, "recall@20[warm]": 0.3, "recall@20[cold-only]": 0.2, "ndcg@20": 0.12,
                              "latency_p99_ms": 1.5],
                    baseline: baseline ? (name: "mp v2 (champion)", metrics: ["recall@20": 0.2, "ndcg@20": 0.13, "latency_p99_ms": 2]) : nil,
                    history: (1...8).map { ModelReport.Step(step: $0, values: ["loss": 7 - Double($0) * 0.3, "val_auc": 0.8 + Double($0) * 0.01]) },
                    servedScores: (0..<2_000).map { Double($0 % 97) / 97 }, coverage: 0.4217, blessed: true)
    }

    /// Every SVG in `html`, each parsed as XML.
    static func svgs(_ html: String) -> [(text: String, wellFormed: Bool)] {
        html.components(separatedBy: "<svg ").dropFirst().map { part in
            let svg = "<svg " + part.components(separatedBy: "</svg>")[0] + "</svg>"
            return (svg, XMLParser(data: Data(svg.utf8)).parse())
        }
    }

    @Test func theReportHasEveryPlotAsWellFormedSVGAndNoExternalResource() {
        let html = Self.report().html
        let plots = Self.svgs(html)
        // Metrics vs baseline, 1 slice family, 2 training curves, the score histogram.
        #expect(plots.count == 5)
        #expect(plots.allSatisfy { $0.wellFormed })
        #expect(html.contains("<h1>mp &lt;two-tower&gt; v3</h1>"))
        #expect(html.contains("Training loss per epoch") && html.contains("Training val_auc per epoch"))
        #expect(html.contains("recall@20 per slice") && html.contains("cold-only"))
        #expect(html.contains("<td class=\"better\">+0.05</td>"))   // recall up
        #expect(html.contains("<td class=\"worse\">-0.01</td>"))    // ndcg down
        #expect(html.contains("<td class=\"better\">-0.5</td>"))    // latency down is better
        #expect(html.contains("42.17 % of the indexed listings"))
        #expect(!html.contains("<script"))
        #expect(html.components(separatedBy: "http").count - 1 == plots.count)  // only the SVG namespace URIs
    }

    @Test func aReportWithoutBaselineOrHistoryStillRenders() {
        var report = Self.report(baseline: false)
        report.history = []
        report.servedScores = []
        let html = report.html
        #expect(Self.svgs(html).allSatisfy { $0.wellFormed })
        #expect(html.contains("records no per-epoch figures") && !html.contains("<th>baseline</th>"))
    }

    @Test func chartsDrawTheirData() {
        let line = SVGChart(title: "t").lines([SVGChart.Series(name: "a", points: [(0, 1), (1, 2), (2, 4)])])
        #expect(line.contains("<polyline") && line.components(separatedBy: "<circle").count == 4)
        let bars = SVGChart(title: "b").bars(categories: ["x", "y"], series: [(name: "s", values: [1, 2]), (name: "u", values: [2, 1])])
        #expect(bars.components(separatedBy: "<rect").count - 1 == 4 + 2)  // 4 bars + 2 legend swatches
        let histogram = SVGChart(title: "h").histogram([0, 0, 1, 1, 1, 2], binCount: 2)
        #expect(histogram.contains("<title>2 in [0, 1)</title>") && histogram.contains("<title>4 in [1, 2)</title>"))
        #expect(SVGChart(title: "e").lines([]).contains("no data"))
    }
}
