import ArgumentParsing
import Datasets
import Foundation
import RummageClient
import RummageCore
import Simulation

/// `rummage simulate`: the generated marketplace's users, played against a live server.
struct SimulateCommand: Command {
    static let configuration = CommandConfiguration(
        name: "simulate",
        abstract: "Play a generated marketplace's users against a live server and report online CTR and purchases.",
        discussion: """
        Rebuilds the marketplace that `rummage generate` wrote into --dataset's directory (from its manifest.json: the
        users' latent tastes are the ground truth), then runs --sessions sessions for each of --users users
        drawn by activity: ask GET /v1/users/{user}/recommendations, examine the answer top-down, and
        view, like, save, bag and buy by the user's tastes, each action posted to /v1/events with the
        answer's ranking_id and position. Every --new-listing-every sessions a seller lists a new item
        (PUT /v1/items/{item}). Reports, per served variant: answers, fallbacks, listings shown, views, CTR
        (views per listing shown), purchases and purchase rate, and the sold listings served after the
        simulator's purchase was acknowledged (must be 0). Deterministic by --seed given the same answers.
        For the listings its sellers created, it reports per variant how many its users were shown and the
        median number of sessions from creation to first impression.

        With several variants (an experiment), each other variant is compared with --control (default: the
        first by name): the difference in CTR and in purchase rate with its 95 % confidence interval, users
        being the independent units (delta method).
        """,
        options: [
            .value("url", "URL", help: "The server, http://HOST:PORT.", required: true),
            .value("dataset", "SPEC", help: "The generated marketplace the server's data came from: synthetic:DIR.", required: true),
            .value("users", "N", help: "Users taking part.", default: "200"),
            .value("sessions", "N", help: "Sessions per user.", default: "3"),
            .value("k", "N", help: "Recommendations asked per session.", default: "10"),
            .value("new-listing-every", "N", help: "A seller lists an item every N sessions (0: never).", default: "10"),
            .value("minutes", "M", help: "Stop after this much wall-clock time, even if sessions remain.", default: "10"),
            .value("seed", "S", help: "Seed of every draw.", default: "1"),
            .value("run-id", "ID", help: "Prefix of the ids of the events and listings this run creates (default: a random one, unique per run)."),
            .value("control", "VARIANT", help: "The variant the others are compared with (default: the first by name)."),
            .value("actions", "FILE", help: "Write one line per action (asks, listings, events) to this file."),
            .flag("json", help: "Print the report as one JSON object on the last line of stdout."),
        ])

    let host: String, port: UInt16
    let data: String
    let settings: TrafficSimulator.Configuration
    let actionsPath: String?
    let control: String?
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        let url = try arguments.requiredString("url")
        guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host,
              let port = components.port, (1...65_535).contains(port) else {
            throw UsageError("--url must be http://HOST:PORT, got '\(url)'")
        }
        self.host = host
        self.port = UInt16(port)
        let spec = try arguments.requiredString("dataset")
        guard spec.hasPrefix("synthetic:") else { throw UsageError("--dataset must be synthetic:DIR (a marketplace `rummage generate` wrote), got '\(spec)'") }
        data = String(spec.dropFirst("synthetic:".count))
        var c = TrafficSimulator.Configuration()
        c.users = try arguments.requiredInt("users", in: 1...10_000_000)
        c.sessions = try arguments.requiredInt("sessions", in: 1...1_000_000)
        c.k = try arguments.requiredInt("k", in: 1...1_000)
        c.newListingEvery = try arguments.requiredInt("new-listing-every", in: 0...1_000_000)
        c.timeLimitSeconds = Double(try arguments.requiredInt("minutes", in: 1...10_000)) * 60
        c.seed = UInt64(try arguments.requiredInt("seed", in: 0...Int.max))
        c.runID = arguments.string("run-id") ?? "sim-" + UUID().uuidString.prefix(8).lowercased()
        guard !c.runID.isEmpty, c.runID.utf8.count <= 64 else { throw UsageError("--run-id must be 1 to 64 bytes") }
        settings = c
        actionsPath = arguments.string("actions")
        control = arguments.string("control")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let marketplace = MarketplaceGenerator(try .load(manifestIn: data)).generate()
        let client = RummageClient(host: host, port: port, timeout: 30)
        var actions: [String] = []
        let report = try TrafficSimulator(marketplace: marketplace, configuration: settings)
            .run(client, log: { if actionsPath != nil { actions.append($0) } })
        if let actionsPath { try TextFile.write(Array((actions.joined(separator: "\n") + "\n").utf8), to: actionsPath) }
        console.result("simulated \(report.sessions) sessions of \(settings.users) users in \(formattedSeconds(report.seconds))"
                       + "\(report.cutShort ? " (stopped by --minutes)" : ""); \(report.listingsCreated) listings created")
        console.result("variant          answers  fallback   shown   views    CTR  purchases  purchase rate")
        for (name, v) in report.variants.sorted(by: { $0.key < $1.key }) {
            console.result(name.padding(toLength: 16, withPad: " ", startingAt: 0)
                           + String(format: " %7d %9d %7d %7d %6.3f %10d %14.4f", v.requests, v.fallbacks, v.shown, v.views,
                                    v.clickThroughRate, v.purchases, v.purchaseRate))
        }
        let names = report.variants.keys.sorted()
        let baseline = control ?? names.first
        if let control, report.variants[control] == nil {
            throw UsageError("--control \(control) served no answer; variants: \(names.joined(separator: ", "))")
        }
        var comparisons: [String: Any] = [:]
        if let baseline, names.count > 1 {
            let base = report.rates(of: baseline)
            for name in names where name != baseline {
                let rates = report.rates(of: name)
                let ctr = rates.clickThrough.difference(from: base.clickThrough), purchase = rates.purchase.difference(from: base.purchase)
                console.result("\(name) against \(baseline) (\(rates.clickThrough.units) and \(base.clickThrough.units) users): "
                               + "CTR \(Self.describe(ctr)); purchase rate \(Self.describe(purchase))")
                comparisons[name] = ["control": baseline, "ctr": Self.json(ctr), "purchase_rate": Self.json(purchase)]
            }
        }
        for name in names where !report.creationSessions.isEmpty {
            let shown = report.sessionsToFirstImpression(in: name).compactMap { $0 }.count
            console.result("\(name): new listings shown \(shown) of \(report.creationSessions.count); median sessions from creation to first impression: "
                           + (report.medianSessionsToFirstImpression(in: name).map { String(format: "%.1f", $0) } ?? "not reached (half or more never shown)"))
        }
        console.result("sold listings served after their sale: \(report.soldListingsServed); purchases refused: \(report.purchasesRefused)")
        if json {
            var variants: [String: Any] = [:]
            for (name, v) in report.variants {
                let rates = report.rates(of: name)
                variants[name] = ["answers": v.requests, "fallbacks": v.fallbacks, "shown": v.shown, "views": v.views, "likes": v.likes,
                                  "bags": v.bags, "purchases": v.purchases, "ctr": v.clickThroughRate, "purchase_rate": v.purchaseRate,
                                  "users": rates.clickThrough.units, "ctr_standard_error": Self.json(rates.clickThrough.standardError),
                                  "purchase_rate_standard_error": Self.json(rates.purchase.standardError),
                                  "new_listings_shown": report.sessionsToFirstImpression(in: name).compactMap { $0 }.count,
                                  "median_sessions_to_first_impression": Self.json(report.medianSessionsToFirstImpression(in: name))]
            }
            console.result(try jsonObjectLine(["sessions": report.sessions, "seconds": report.seconds, "cut_short": report.cutShort,
                                               "listings_created": report.listingsCreated,
                                               "sold_listings_served": report.soldListingsServed,
                                               "purchases_refused": report.purchasesRefused, "variants": variants, "comparisons": comparisons]))
        }
    }

    static func describe(_ d: RatioEstimate.Difference) -> String {
        String(format: "%+.4f [%+.4f, %+.4f]", d.absolute, d.low, d.high)
            + (d.relative.map { String(format: " (%+.1f %%)", $0 * 100) } ?? "") + (d.isSignificant ? "" : ", not significant")
    }

    static func json(_ d: RatioEstimate.Difference) -> [String: Any] {
        ["difference": json(d.absolute), "ci95": [json(d.low), json(d.high)], "relative": json(d.relative), "significant": d.isSignificant]
    }

    /// A number for JSON: null when absent or not finite (one user gives no standard error).
    static func json(_ value: Double?) -> Any { value.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
}
