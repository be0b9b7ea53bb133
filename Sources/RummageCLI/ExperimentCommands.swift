import ArgumentParsing
import Backends
import Events
import Experiments
import Features
import Foundation
import Pipeline
import Ranking
import Registry
import RummageClient
import RummageCore

/// `rummage experiment report`: what an experiment did, from the impressions and engagement in the log.
struct ExperimentReportCommand: Command {
    static let configuration = CommandConfiguration(
        name: "experiment report",
        abstract: "Report an experiment from the log: rates per variant and surface with confidence intervals, the split check, guardrails, a verdict.",
        discussion: """
        Reads the impressions the server logged for --experiment (`serve --experiment NAME --split …`) and the
        views, likes, add-to-bags and purchases that name their ranking_id within --attribution-window
        seconds after them. Per variant and surface: users, impressions, CTR (impressions followed by a
        view), add-to-bag and purchase rates, purchases per user, each with a 95 % confidence interval by
        the delta method with users as units (a user's impressions are not independent); each variant's
        difference from --control with its interval. With --split (the weights the server was given), a
        sample-ratio-mismatch check: Pearson's chi-square of users per variant, flagged below p = 0.001.
        Guardrails, which must be 0 for every variant: listings served after they were sold, users shown
        their own listings; with --metrics (the server's /metrics), also each variant's fallback and empty-
        answer rates, listings served that the lifecycle did not allow, and the p99 latency of the
        recommendation endpoints. The verdict names a winner on --metric only when its interval excludes 0, the
        split is healthy and every guardrail holds (docs/experiments.md).

        Exit codes: 0 a report was made (whatever its verdict); 65 when the log holds no impression of the
        experiment in the period.
        """,
        options: [
            .value("log", "PATH", help: "Event log: a SQLite file or a postgresql:// URI.", default: ".rummage/events.sqlite"),
            .value("experiment", "NAME", help: "The experiment's name, as given to serve --experiment.", required: true),
            .value("split", "V=W,V=W", help: "The split the server was given (e.g. champion=90,challenger=10): checks the sample ratio."),
            .value("control", "VARIANT", help: "The variant the others are compared with (default: the split's first)."),
            .value("metric", "NAME", help: "The metric the verdict is about: ctr, add_to_bag_rate, purchase_rate or purchases_per_user.", default: "ctr"),
            .value("from", "UNIX", help: "Impressions at or after this time (event time, seconds)."),
            .value("to", "UNIX", help: "Impressions before this time."),
            .value("attribution-window", "SECONDS", help: "How long after an impression engagement naming it counts.", default: "3600"),
            .value("metrics", "URL|FILE", help: "The server's metrics (http://HOST:PORT/metrics, or a saved scrape): guardrails on fallbacks, empty answers, latency."),
            .value("max-fallback-rate", "RATE", help: "Guardrail: a variant's answers that fell back to popular listings.", default: "0.05"),
            .value("max-empty-rate", "RATE", help: "Guardrail: a variant's empty answers.", default: "0.01"),
            .value("max-p99-ms", "MS", help: "Guardrail: p99 latency of the recommendation endpoints.", default: "50"),
            .value("html", "FILE", help: "Also write the report as an HTML page with plots."),
            .flag("json", help: "Print the report as one JSON object on the last line of stdout."),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let log: String
    let metrics: String?
    let options: ExperimentReport.Options
    let html: String?
    let json: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        log = try arguments.requiredString("log")
        var options = ExperimentReport.Options(experiment: try arguments.requiredString("experiment"))
        if let split = arguments.string("split") {
            options.split = try split.split(separator: ",").map { part in
                let pieces = part.split(separator: "=")
                guard pieces.count == 2, let weight = Int(pieces[1]), weight > 0 else {
                    throw UsageError("'\(part)' in --split is not variant=weight with a positive integer weight")
                }
                return (String(pieces[0]), weight)
            }
            guard options.split!.count >= 2 else { throw UsageError("--split names at least two variants, e.g. champion=90,challenger=10") }
        }
        options.control = arguments.string("control")
        let metric = try arguments.requiredString("metric")
        guard let primary = ExperimentReport.Metric(rawValue: metric) else {
            throw UsageError("--metric \(metric) is not one of " + ExperimentReport.Metric.allCases.map(\.rawValue).joined(separator: ", "))
        }
        options.primary = primary
        options.from = try arguments.int("from", in: 0...Int(Int32.max) * 4).map(Int64.init)
        options.to = try arguments.int("to", in: 0...Int(Int32.max) * 4).map(Int64.init)
        options.attributionSeconds = Int64(try arguments.requiredInt("attribution-window", in: 1...30 * 86_400))
        options.limits.fallbackRate = try arguments.double("max-fallback-rate", in: 0...1)!
        options.limits.emptyRate = try arguments.double("max-empty-rate", in: 0...1)!
        options.limits.p99Milliseconds = try arguments.double("max-p99-ms", in: 0...1e9)!
        metrics = arguments.string("metrics")
        self.options = options
        html = arguments.string("html")
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let eventLog = try openExistingEventLog(log)
        var events: [Event] = []
        try eventLog.readAll { events.append($0) }
        console.progress("experiment report: read \(events.count) events from \(log)")
        var options = options
        if let metrics { options.serverMetrics = ServerGuardrails(metrics: try Self.scrape(metrics)) }
        let report: ExperimentReport
        do { report = try ExperimentReport.build(events: events, options: options) } catch {
            throw DataError(.malformedLine, error.description, path: log)
        }
        for line in Self.lines(report) { console.result(line) }
        if let html {
            try TextFile.write(Array(report.html.utf8), to: html)
            console.progress("experiment report: wrote \(html)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            console.result(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
    }

    /// The metrics text at `source`: an http:// URL of a server's /metrics, or a file.
    static func scrape(_ source: String) throws -> String {
        guard source.hasPrefix("http://") else { return String(decoding: try TextFile(path: source).bytes, as: UTF8.self) }
        guard let components = URLComponents(string: source), let host = components.host, let port = components.port.flatMap(UInt16.init) else {
            throw UsageError("--metrics \(source) is not http://HOST:PORT/PATH")
        }
        let answer = try RummageClient(host: host, port: port).request("GET", components.path.isEmpty ? "/metrics" : components.path)
        guard answer.status == 200 else { throw UsageError("--metrics \(source) answered \(answer.status)") }
        return answer.text
    }

    /// The report for a person: a table per surface, the differences, the split check, guardrails, the verdict.
    static func lines(_ report: ExperimentReport) -> [String] {
        func rate(_ e: IntervalEstimate?) -> String {
            e.map { String(format: "%.4f [%.4f, %.4f]", $0.value, $0.low, $0.high) } ?? "-"
        }
        var lines = ["experiment \(report.experiment): control \(report.control), metric \(report.primary), attribution window \(report.attributionSeconds) s"]
        for surface in Array(Set(report.groups.map(\.surface))).sorted() {
            lines.append("surface \(surface == "*" ? "(all)" : surface):")
            for g in report.groups where g.surface == surface {
                lines.append("  \(g.variant): \(g.users) users, \(g.impressions) impressions; ctr \(rate(g.metrics["ctr"])), "
                             + "add to bag \(rate(g.metrics["add_to_bag_rate"])), purchase \(rate(g.metrics["purchase_rate"])), "
                             + "purchases/user \(rate(g.metrics["purchases_per_user"]))")
            }
            for c in report.comparisons where c.surface == surface {
                lines.append(String(format: "  %@ − %@ %@: %+.4g [%+.4g, %+.4g]%@%@", c.variant, report.control, c.metric, c.absolute, c.low, c.high,
                                    c.relative.map { String(format: " (%+.1f %%)", $0 * 100) } ?? "", c.significant ? " *" : ""))
            }
        }
        if let i = report.interleaving {
            lines.append(String(format: "interleaving: %d lists; won by %@ %d, by %@ %d, tied %d; %@ won %.1f %% [%.1f, %.1f] of lists with a preference",
                                i.lists, i.teams[0], i.wins[i.teams[0]] ?? 0, i.teams[1], i.wins[i.teams[1]] ?? 0, i.ties, i.teams[1],
                                i.preference.value * 100, i.preference.low * 100, i.preference.high * 100))
        }
        if let s = report.sampleRatio {
            lines.append(String(format: "sample ratio: users %@; chi-square %.2f (%d df), p = %.3g: %@",
                                s.users.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) (expected \(String(format: "%.1f", 100 * (s.expectedShares[$0.key] ?? 0))) %)" }
                                    .joined(separator: ", "), s.chiSquare, s.degreesOfFreedom, s.pValue, s.mismatch ? "MISMATCH" : "healthy"))
        } else {
            lines.append("sample ratio: not checked (give --split)")
        }
        lines.append("guardrails: " + report.guardrails.map { g in
            "\(g.variant) \(g.name) \(ExperimentReport.format(g.value))\(g.passed ? "" : " FAILED")"
        }.joined(separator: ", "))
        lines.append("verdict: " + report.verdict)
        return lines
    }
}

/// `rummage ope estimate`: off-policy estimates of a target policy's value from logged rounds in a file.
struct OffPolicyEstimateCommand: Command {
    static let configuration = CommandConfiguration(
        name: "ope estimate",
        abstract: "Estimate a target policy's expected reward from logged bandit feedback (IPS, SNIPS, doubly robust).",
        discussion: """
        --rounds is JSON Lines, one logged round per line: {"action": A, "reward": R, "propensity": P,
        "target": [π(0), π(1), …], "predicted": [q̂(0), q̂(1), …], "unit": "u1"}: the logging policy chose
        action A with probability P and got reward R; the target policy would choose each action with
        probability π(a); a reward model predicts q̂(a) ("predicted" is optional: without it there is no
        doubly robust estimate); rounds of one "unit" (a user) are not independent (optional). The
        estimates are Open Bandit Pipeline's (docs/experiments.md, "Off-policy estimates"), each with a 95 %
        interval, beside the diagnostics that say when not to trust them: the effective sample size, the
        largest importance weight and, with --clip, the share of weights clipped.
        """,
        options: [
            .value("rounds", "FILE", help: "Logged rounds, JSON Lines ('-' for stdin).", required: true),
            .value("clip", "W", help: "Clip importance weights at W (default: no clipping)."),
            .flag("json", help: "Print the estimates as one JSON object on the last line of stdout."),
        ])

    let rounds: String
    let clip: Double?
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        rounds = try arguments.requiredString("rounds")
        clip = try arguments.double("clip", in: 1e-9...1e12)
        json = arguments.flag("json")
    }

    struct Round: Decodable {
        var action: Int
        var reward: Double
        var propensity: Double
        var target: [Double]
        var predicted: [Double]?
        var unit: String?
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let text = rounds == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            : String(decoding: try TextFile(path: rounds).bytes, as: UTF8.self)
        var logged: [LoggedRound] = []
        let decoder = JSONDecoder()
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            do {
                let r = try decoder.decode(Round.self, from: Data(line.utf8))
                logged.append(LoggedRound(action: r.action, reward: r.reward, propensity: r.propensity, target: r.target,
                                          predicted: r.predicted, unit: r.unit))
            } catch {
                throw DataError(.malformedLine, "not a logged round (action, reward, propensity, target[, predicted, unit]): \(error)",
                                path: rounds, line: number + 1)
            }
        }
        let estimates: OffPolicyEstimates
        do { estimates = try OffPolicyEstimates(logged, clip: clip) } catch { throw DataError(.malformedLine, error.description, path: rounds) }
        func line(_ name: String, _ e: IntervalEstimate) -> String {
            String(format: "%@ %.6f [%.6f, %.6f]", name, e.value, e.low, e.high)
        }
        console.result("\(estimates.rounds) rounds; " + line("logging policy", estimates.logged))
        console.result(line("IPS", estimates.ips) + "; " + line("SNIPS", estimates.snips)
                       + (estimates.doublyRobust.map { "; " + line("DR", $0) } ?? "; DR: no predicted rewards"))
        console.result(String(format: "effective sample size %.1f of %d rounds; largest weight %.3g", estimates.effectiveSampleSize, estimates.rounds,
                              estimates.largestWeight) + (clip.map { String(format: "; %.2f %% of weights clipped at %g", estimates.clippedShare * 100, $0) } ?? ""))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            console.result(String(decoding: try encoder.encode(estimates), as: UTF8.self))
        }
    }
}

/// `rummage ope ranker`: a registered ranker's CTR estimated off-policy from a surface's fully explored lists.
struct OffPolicyRankerCommand: Command {
    static let configuration = CommandConfiguration(
        name: "ope ranker",
        abstract: "Estimate a registered ranker's CTR, and its uplift over a baseline, from a surface's fully explored lists in the log.",
        discussion: """
        The lists: impressions of --surface whose every slot was drawn uniformly from the candidates the
        list logged (a surface with exploration_share: 1 and exploration_temperature: 1000000 logs them).
        The ranker orders each list's candidates (its features point in time) and would show its first
        listings in the list's slots; a slot's reward is a view of the listing shown there within the
        attribution window. IPS, SNIPS and doubly robust estimates of the ranker's CTR and the baseline's,
        and the uplift paired slot by slot, each with a 95 % interval (users as units), beside the effective
        sample size. Valid when a slot's engagement depends on the listing and the slot, not on the rest of
        the list; re-ranking rules are not applied (docs/experiments.md, "Off-policy evaluation of a ranker").
        """,
        options: [
            .value("log", "PATH", help: "Event log: a SQLite file or a postgresql:// URI.", default: ".rummage/events.sqlite"),
            .value("surface", "NAME", help: "The surface whose fully explored lists are evaluated on.", required: true),
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name of the ranker, e.g. home-ranker.", required: true),
            .value("version", "REF", help: "The version or alias evaluated.", default: "champion"),
            .value("against", "REF", help: "The version or alias compared with, or 'retrieval' (retrieval's order).", default: "retrieval"),
            .value("from", "UNIX", help: "Lists shown at or after this time (event time, seconds)."),
            .value("to", "UNIX", help: "Lists shown before this time."),
            .value("attribution-window", "SECONDS", help: "How long after an impression a view counts.", default: "3600"),
            .flag("json", help: "Print the estimates as one JSON object on the last line of stdout."),
            .flag("quiet", help: "No progress on stderr."),
        ])

    let log: String
    let surface: String
    let registry: ModelRegistry
    let model: String
    let version: String
    let against: String
    let from: Int64?
    let to: Int64?
    let attributionSeconds: Int64
    let json: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        log = try arguments.requiredString("log")
        surface = try arguments.requiredString("surface")
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        version = try arguments.requiredString("version")
        against = try arguments.requiredString("against")
        from = try arguments.int("from", in: 0...Int(Int32.max) * 4).map(Int64.init)
        to = try arguments.int("to", in: 0...Int(Int32.max) * 4).map(Int64.init)
        attributionSeconds = Int64(try arguments.requiredInt("attribution-window", in: 1...30 * 86_400))
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        func ranker(_ reference: String) throws -> (name: String, trees: GradientBoostedTrees) {
            let number = try registry.resolve(model, reference)
            return ("\(model) v\(number)", try RankerFiles.load(files: try registry.verify(model, number), version: "\(model) v\(number)",
                                                                 columns: RankingFeatures.names, threads: Parallel.defaultThreadCount))
        }
        let candidate = try ranker(version)
        let reference = against == "retrieval" ? nil : try ranker(against)
        let eventLog = try openExistingEventLog(log)
        var events: [Event] = []
        try eventLog.readAll { events.append($0) }
        console.progress("ope ranker: read \(events.count) events from \(log)")
        let explored = ExploredLists.build(events: events, surface: surface, attributionSeconds: attributionSeconds) { first in
            first.timestamp >= (from ?? .min) && first.timestamp < (to ?? .max)
        }
        let skipped = explored.skipped.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        console.progress("ope ranker: \(explored.lists.count) fully explored lists of surface '\(surface)'" + (skipped.isEmpty ? "" : "; skipped: \(skipped)"))
        guard !explored.lists.isEmpty else {
            throw DataError(.malformedLine, "no fully explored lists of surface '\(surface)' in the log (a surface with exploration_share: 1 "
                            + "and exploration_temperature: 1000000 logs them; docs/experiments.md)", path: log)
        }
        let evaluation = try RankerOffPolicyEvaluation(explored, rows: explored.rankerRows(events: events), candidate: candidate.trees,
                                                       baseline: reference?.trees)
        func line(_ name: String, _ e: IntervalEstimate) -> String { String(format: "%@ %.4f [%.4f, %.4f]", name, e.value, e.low, e.high) }
        func estimates(_ e: OffPolicyEstimates) -> String {
            [line("IPS", e.ips), line("SNIPS", e.snips), line("DR", e.doublyRobust!)].joined(separator: "; ")
                + String(format: "; effective sample size %.0f", e.effectiveSampleSize)
        }
        let baselineName = reference?.name ?? "retrieval's order"
        console.result("\(evaluation.lists) explored lists, \(evaluation.candidate.rounds) slots; "
                       + line("CTR as shown (uniform draw)", evaluation.candidate.logged))
        console.result("\(candidate.name) CTR: " + estimates(evaluation.candidate))
        console.result("\(baselineName) CTR: " + estimates(evaluation.baseline))
        func change(_ name: String, _ e: IntervalEstimate) -> String { String(format: "%@ %+.4f [%+.4f, %+.4f]", name, e.value, e.low, e.high) }
        console.result("uplift over \(baselineName): " + change("DR", evaluation.uplift.doublyRobust!) + "; " + change("IPS", evaluation.uplift.ips))
        if json {
            struct Body: Encodable {
                var surface: String, candidate: String, baseline: String, lists: Int
                var candidateEstimates: OffPolicyEstimates, baselineEstimates: OffPolicyEstimates, uplift: OffPolicyUplift
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            console.result(String(decoding: try encoder.encode(Body(surface: surface, candidate: candidate.name, baseline: baselineName,
                                                                    lists: evaluation.lists, candidateEstimates: evaluation.candidate,
                                                                    baselineEstimates: evaluation.baseline, uplift: evaluation.uplift)),
                                  as: UTF8.self))
        }
    }
}
