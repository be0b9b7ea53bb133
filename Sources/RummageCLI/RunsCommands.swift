import ArgumentParsing
import Foundation
import Registry
import Reporting
import RummageCore

/// `rummage runs list`: the runs `evaluate --record` and `train --record` kept.
struct RunsListCommand: Command {
    static let configuration = CommandConfiguration(
        name: "runs list",
        abstract: "List the recorded evaluate and train runs (--record) of a registry's run store.",
        discussion: """
        One line per run: its number, when it finished, the command, model kind and dataset, and its headline
        metrics. The store is REGISTRY/runs/N/run.json: settings (defaults included), metrics, per-epoch
        history, the SHA-256 of what it wrote and, for imports, where the model came from.
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("kind", "KIND", help: "Only runs of this model kind."),
            .flag("json", help: "Print the runs as one JSON array."),
        ])

    let store: RunStore
    let kind: String?
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        store = RunStore(registry: ModelRegistry(root: try arguments.requiredString("registry")))
        kind = arguments.string("kind")
        json = arguments.flag("json")
    }

    /// The metrics a run's line shows: the protocols' headline figures, when it has them.
    static let headline = ["hr@10", "ndcg@10", "recall@20", "ndcg@20"]

    func run(output: CommandOutput) throws {
        let runs = store.runs().filter { kind == nil || $0.kind == kind }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            output.standardOutput(String(decoding: try encoder.encode(runs), as: UTF8.self) + "\n")
            return
        }
        guard !runs.isEmpty else {
            output.standardOutput("no recorded runs in \(store.root) (evaluate or train with --record)\n")
            return
        }
        for run in runs {
            let metrics = Self.headline.compactMap { name in run.metrics[name].map { "\(name) \(String(format: "%.4f", $0))" } }
            output.standardOutput("\(run.id)  \(run.finishedAt)  \(run.command) \(run.kind) on \(run.dataset)"
                                  + (metrics.isEmpty ? "" : "  " + metrics.joined(separator: "  ")) + "\n")
        }
    }
}

/// `rummage runs compare --run B --against A`: two runs side by side.
struct RunsCompareCommand: Command {
    static let configuration = CommandConfiguration(
        name: "runs compare",
        abstract: "Compare two recorded runs: the settings that differ, the metrics with their changes, the training curves.",
        discussion: """
        Run numbers as 'rummage runs list' shows them: the table shows --run B against --against A (as
        'registry diff' does); --html writes the report with both runs' training curves and the metrics as
        charts (self-contained, no scripts).
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("run", "B", help: "The run to compare.", required: true),
            .value("against", "A", help: "The run it is compared with.", required: true),
            .value("html", "FILE", help: "Also write an HTML report here."),
            .flag("json", help: "Print the comparison as one JSON object."),
        ])

    let store: RunStore
    let ids: (Int, Int)
    let html: String?
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        store = RunStore(registry: ModelRegistry(root: try arguments.requiredString("registry")))
        ids = (try arguments.requiredInt("against", in: 1...Int.max), try arguments.requiredInt("run", in: 1...Int.max))
        html = arguments.string("html")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let a = try store.run(ids.0), b = try store.run(ids.1)
        let settings = Set(a.settings.keys).union(b.settings.keys).sorted().filter { a.settings[$0] != b.settings[$0] }
        let metrics = Set(a.metrics.keys).union(b.metrics.keys).sorted().filter { !$0.contains("[") }
        if let html {
            var report = ModelReport(model: "run", version: b.id, kind: "\(b.command) \(b.kind)", createdAt: b.finishedAt,
                                     dataFingerprint: b.dataset, codeVersion: b.codeVersion, configuration: b.settings, metrics: b.metrics,
                                     baseline: (name: "run \(a.id)", metrics: a.metrics),
                                     history: b.history.map { .init(step: $0.step, values: $0.values) }, servedScores: [], coverage: nil,
                                     blessed: nil)
            report.baselineHistory = a.history.map { .init(step: $0.step, values: $0.values) }
            try TextFile.write(report.html, to: html)
        }
        if json {
            var object: [String: Any] = ["a": a.id, "b": b.id]
            object["settings"] = Dictionary(uniqueKeysWithValues: settings.map { ($0, ["a": a.settings[$0] ?? "", "b": b.settings[$0] ?? ""]) })
            object["metrics"] = Dictionary(uniqueKeysWithValues: metrics.map { name in
                (name, ["a": a.metrics[name] as Any, "b": b.metrics[name] as Any,
                        "change": (b.metrics[name] ?? .nan) - (a.metrics[name] ?? .nan)].compactMapValues { ($0 as? Double)?.isFinite == false ? nil : $0 })
            })
            output.standardOutput(try jsonObjectLine(object) + "\n")
            return
        }
        var lines = ["run \(a.id): \(a.command) \(a.kind) on \(a.dataset), \(a.finishedAt)",
                     "run \(b.id): \(b.command) \(b.kind) on \(b.dataset), \(b.finishedAt)"]
        if a.kind != b.kind { lines.append("model kind: \(a.kind) → \(b.kind)") }
        if a.dataset != b.dataset { lines.append("dataset differs") }
        lines.append(settings.isEmpty ? "settings: the same" : "settings that differ:")
        for key in settings { lines.append("  \(key): \(a.settings[key] ?? "(unset)") → \(b.settings[key] ?? "(unset)")") }
        if !metrics.isEmpty {
            let width = max(6, metrics.map(\.count).max() ?? 0)
            func row(_ cells: [String]) -> String {
                cells[0].padding(toLength: width, withPad: " ", startingAt: 0)
                    + cells.dropFirst().map { String(repeating: " ", count: max(1, 11 - $0.count)) + $0 }.joined()
            }
            lines.append(row(["metric", "run \(a.id)", "run \(b.id)", "change"]))
            for name in metrics {
                func cell(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "–" }
                let change = a.metrics[name].flatMap { x in b.metrics[name].map { String(format: "%+.4f", $0 - x) } } ?? ""
                lines.append(row([name, cell(a.metrics[name]), cell(b.metrics[name]), change]))
            }
        }
        if let html { lines.append("report: \(html)") }
        output.standardOutput(lines.joined(separator: "\n") + "\n")
    }
}
