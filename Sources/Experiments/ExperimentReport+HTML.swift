import Foundation
import Reporting

extension ExperimentReport {
    /// The report as one HTML page: the verdict, the split check, a table per surface, the differences
    /// from the control with their intervals, guardrails, and daily CTR per variant.
    public var html: String {
        let e = SVGChart.escape
        func n(_ value: Double) -> String { SVGChart.number(value, digits: 4) }
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Experiment \(e(experiment))</title>
            <style>body{font-family:sans-serif;max-width:1000px;margin:24px auto;color:#222}table{border-collapse:collapse;margin:8px 0}
            td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
            .better{color:#109618}.worse{color:#dc3912}section{margin:24px 0}svg{max-width:100%;height:auto}</style></head><body>
            <h1>Experiment \(e(experiment))</h1>
            <p><b>\(e(verdict))</b></p>
            <p>Control \(e(control)); primary metric \(e(primary)); engagement attributed within \(attributionSeconds) s of an impression
            naming its ranking_id; 95 % intervals by the delta method with users as units.</p>

            """
        if let sampleRatio {
            out += "<section><h2>Sample ratio</h2><table><tr><th>variant</th><th>users</th><th>expected share</th><th>observed share</th></tr>"
            let total = Double(sampleRatio.users.values.reduce(0, +))
            for (variant, users) in sampleRatio.users.sorted(by: { $0.key < $1.key }) {
                out += "<tr><td>\(e(variant))</td><td>\(users)</td><td>\(n(sampleRatio.expectedShares[variant] ?? 0))</td><td>\(n(Double(users) / max(total, 1)))</td></tr>"
            }
            out += "</table><p>chi-square \(n(sampleRatio.chiSquare)), \(sampleRatio.degreesOfFreedom) degrees of freedom, p = \(n(sampleRatio.pValue))"
                + (sampleRatio.mismatch ? " — <b class=\"worse\">mismatch</b>" : " — healthy") + "</p></section>\n"
        }
        if let i = interleaving {
            out += "<section><h2>Interleaving</h2><p>\(i.lists) interleaved lists (team draft); won by \(e(i.teams[0])) \(i.wins[i.teams[0]] ?? 0), "
                + "by \(e(i.teams[1])) \(i.wins[i.teams[1]] ?? 0), tied \(i.ties). \(e(i.teams[1])) won \(n(i.preference.value * 100)) % "
                + "[\(n(i.preference.low * 100)), \(n(i.preference.high * 100))] of the lists with a preference.</p></section>\n"
        }
        let metrics = Metric.allCases.map(\.rawValue)
        for surface in Array(Set(groups.map(\.surface))).sorted() {
            out += "<section><h2>Surface \(e(surface == "*" ? "all surfaces" : surface))</h2><table><tr><th>variant</th><th>users</th><th>impressions</th>"
                + metrics.map { "<th>\(e($0))</th>" }.joined() + "</tr>"
            for group in groups where group.surface == surface {
                out += "<tr><td>\(e(group.variant))</td><td>\(group.users)</td><td>\(group.impressions)</td>"
                    + metrics.map { m in group.metrics[m].map { "<td>\(n($0.value)) [\(n($0.low)), \(n($0.high))]</td>" } ?? "<td></td>" }.joined() + "</tr>"
            }
            out += "</table><table><tr><th>against \(e(control))</th>" + metrics.map { "<th>\(e($0))</th>" }.joined() + "</tr>"
            for variant in Set(comparisons.filter { $0.surface == surface }.map(\.variant)).sorted() {
                out += "<tr><td>\(e(variant))</td>"
                for metric in metrics {
                    guard let c = comparisons.first(where: { $0.surface == surface && $0.variant == variant && $0.metric == metric }) else {
                        out += "<td></td>"
                        continue
                    }
                    let css = c.significant ? (c.absolute > 0 ? "better" : "worse") : ""
                    out += "<td class=\"\(css)\">\(c.absolute >= 0 ? "+" : "")\(n(c.absolute)) [\(n(c.low)), \(n(c.high))]</td>"
                }
                out += "</tr>"
            }
            out += "</table></section>\n"
        }
        out += "<section><h2>Guardrails</h2><table><tr><th>variant</th><th>guardrail</th><th>value</th><th>at most</th></tr>"
        for g in guardrails {
            out += "<tr><td>\(e(g.variant))</td><td>\(e(g.name))</td><td class=\"\(g.passed ? "" : "worse")\">\(n(g.value))</td><td>\(n(g.limit))</td></tr>"
        }
        out += "</table></section>\n"
        let series = daily.sorted { $0.key < $1.key }.map { variant, days in
            SVGChart.Series(name: variant, points: days.map { (x: Double($0.day), y: $0.impressions > 0 ? Double($0.views) / Double($0.impressions) : 0) })
        }
        out += "<section>" + SVGChart(title: "CTR per day", xLabel: "day", yLabel: "ctr").lines(series) + "</section>\n"
        return out + "</body></html>\n"
    }
}
