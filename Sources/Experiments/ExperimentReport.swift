import Events
import Foundation
import RummageCore

/// What an experiment did, read back from the event log: per variant and surface, the users and
/// impressions the experiment logged and the engagement attributed to them (`Attribution`), rates with
/// 95 % confidence intervals (users as units, delta method: `RatioEstimate`), each variant's differences
/// from the control, a sample-ratio-mismatch check against the configured split, guardrails, and a verdict.
public struct ExperimentReport: Sendable, Codable {
    public enum Metric: String, Sendable, Codable, CaseIterable {
        /// Impressions followed by a view / impressions.
        case ctr
        /// Impressions followed by an add to bag / impressions.
        case addToBagRate = "add_to_bag_rate"
        /// Impressions followed by a purchase / impressions.
        case purchaseRate = "purchase_rate"
        /// Purchases attributed to the experiment's impressions per user.
        case purchasesPerUser = "purchases_per_user"
    }

    public struct Options: Sendable {
        public var experiment: String
        /// Impressions at or after `from` and before `to` (event time); engagement up to the window after.
        public var from: Int64?
        public var to: Int64?
        public var attributionSeconds: Int64 = 3_600
        /// The variant the others are compared with (nil: the split's first variant, or the first by name).
        public var control: String?
        /// The configured split, variant → weight (nil: no sample-ratio check).
        public var split: [(variant: String, weight: Int)]?
        /// The metric the verdict is about.
        public var primary: Metric = .ctr
        /// The sample-ratio check flags a mismatch below this p-value (0.001: a healthy split is flagged once
        /// in a thousand experiments).
        public var mismatchPValue = 0.001
        /// The server's metrics, for the guardrails the log does not hold (fallbacks, empty answers, latency).
        public var serverMetrics: ServerGuardrails?
        public var limits = ServerGuardrails.Limits()

        public init(experiment: String) { self.experiment = experiment }
    }

    /// One variant on one surface (`surface` "*": every surface together).
    public struct Group: Sendable, Codable {
        public var surface: String
        public var variant: String
        public var users: Int
        public var impressions: Int
        public var views: Int
        public var addToBags: Int
        public var purchases: Int
        public var metrics: [String: IntervalEstimate]
    }

    /// A variant against the control on one surface and metric: the difference and its 95 % interval.
    public struct Comparison: Sendable, Codable {
        public var surface: String
        public var variant: String
        public var metric: String
        public var absolute: Double
        public var low: Double
        public var high: Double
        /// The difference relative to the control's value (nil when that is 0).
        public var relative: Double?
        public var significant: Bool
    }

    /// Users per variant against the configured split: Pearson's chi-square, k − 1 degrees of freedom.
    public struct SampleRatio: Sendable, Codable {
        public var expectedShares: [String: Double]
        public var users: [String: Int]
        public var chiSquare: Double
        public var degreesOfFreedom: Int
        public var pValue: Double
        public var mismatch: Bool
    }

    /// A check every variant must pass whatever the metrics say.
    public struct Guardrail: Sendable, Codable {
        public var name: String
        public var variant: String
        public var value: Double
        /// The most allowed.
        public var limit: Double
        public var passed: Bool { value <= limit }
    }

    /// Two rankings interleaved in one list (team draft): which one users preferred.
    public struct Interleaving: Sendable, Codable {
        /// The two rankings (variants): the control first.
        public var teams: [String]
        public var lists: Int
        /// Lists whose attributed views went more to one team than the other, per team; and lists with views
        /// tied between the teams.
        public var wins: [String: Int]
        public var ties: Int
        /// Among lists with a winner, the share `teams[1]` won, users as units, with its 95 % interval.
        public var preference: IntervalEstimate
        /// Whether the interval excludes one half.
        public var significant: Bool { preference.low > 0.5 || preference.high < 0.5 }
    }

    public var experiment: String
    public var from: Int64?
    public var to: Int64?
    public var attributionSeconds: Int64
    public var control: String
    public var primary: String
    public var groups: [Group]
    public var comparisons: [Comparison]
    public var sampleRatio: SampleRatio?
    public var guardrails: [Guardrail]
    public var verdict: String
    /// Impressions per variant and day (days since the first impression), for the report's plots.
    public var daily: [String: [DailyCount]]
    /// For an interleaving experiment (impressions carrying a `team`): the preference between the two.
    public var interleaving: Interleaving?

    public struct DailyCount: Sendable, Codable {
        public var day: Int
        public var impressions: Int
        public var views: Int
    }

    /// The report of `options.experiment` from `events` (the log as read, any order). Throws when the log
    /// holds no impression of the experiment in the period.
    public static func build(events: [Event], options: Options) throws(ExperimentError) -> ExperimentReport {
        let shown = Attribution.join(events, windowSeconds: options.attributionSeconds) { event in
            event.attributes["experiment"] == options.experiment && event.attributes["variant"] != nil
                && options.from.map { event.timestamp >= $0 } ?? true && options.to.map { event.timestamp < $0 } ?? true
        }
        guard !shown.isEmpty else {
            throw ExperimentError("the log holds no impression of experiment '\(options.experiment)'"
                                  + (options.from != nil || options.to != nil ? " in that period" : ""))
        }
        let variants = Set(shown.map { $0.impression.attributes["variant"]! })
        let splitOrder = options.split?.map(\.variant) ?? []
        let ordered = splitOrder.filter(variants.contains) + variants.subtracting(splitOrder).sorted()
        // In an interleaving experiment the control names a team (a ranking), not a variant.
        let teams = Set(shown.compactMap { $0.impression.attributes["team"] })
        let control = options.control.flatMap { variants.contains($0) ? $0 : nil } ?? ordered[0]
        if let asked = options.control, !variants.contains(asked) && !teams.contains(asked) {
            throw ExperimentError("the control '\(asked)' served no impression of '\(options.experiment)' (variants: \(ordered.joined(separator: ", ")))")
        }
        let surfaces = Set(shown.map { $0.impression.surface ?? "" }).sorted()
        // The group holding every impression of a variant: "*" with several surfaces, else the one surface.
        let overall = surfaces.count > 1 ? "*" : surfaces[0]

        // Per (surface, variant), per user: impressions and what followed them.
        struct GroupKey: Hashable { var surface: String, variant: String }
        struct Totals { var impressions = 0, views = 0, addToBags = 0, purchases = 0 }
        var byGroup: [GroupKey: [String: Totals]] = [:]
        for s in shown {
            let variant = s.impression.attributes["variant"]!, user = s.impression.user!.value
            for surface in Set([s.impression.surface ?? "", overall]) {
                var t = byGroup[GroupKey(surface: surface, variant: variant), default: [:]][user, default: Totals()]
                t.impressions += 1
                if s.engaged(.view) { t.views += 1 }
                if s.engaged(.addToBag) { t.addToBags += 1 }
                if s.engaged(.purchase) { t.purchases += 1 }
                byGroup[GroupKey(surface: surface, variant: variant), default: [:]][user] = t
            }
        }
        func estimates(_ users: [Totals]) -> [Metric: RatioEstimate] {
            [.ctr: RatioEstimate(units: users.map { (Double($0.views), Double($0.impressions)) }),
             .addToBagRate: RatioEstimate(units: users.map { (Double($0.addToBags), Double($0.impressions)) }),
             .purchaseRate: RatioEstimate(units: users.map { (Double($0.purchases), Double($0.impressions)) }),
             .purchasesPerUser: RatioEstimate(mean: users.map { Double($0.purchases) })]
        }
        var groups: [Group] = [], comparisons: [Comparison] = []
        for surface in (surfaces.count > 1 ? surfaces + ["*"] : surfaces) {
            var controlEstimates: [Metric: RatioEstimate]?
            for variant in [control] + ordered.filter({ $0 != control }) {
                guard let users = byGroup[GroupKey(surface: surface, variant: variant)].map({ Array($0.values) }) else { continue }
                let e = estimates(users)
                groups.append(Group(surface: surface, variant: variant, users: users.count,
                                    impressions: users.reduce(0) { $0 + $1.impressions }, views: users.reduce(0) { $0 + $1.views },
                                    addToBags: users.reduce(0) { $0 + $1.addToBags }, purchases: users.reduce(0) { $0 + $1.purchases },
                                    metrics: Dictionary(uniqueKeysWithValues: e.map { ($0.key.rawValue, IntervalEstimate($0.value)) })))
                guard let controlEstimates else {
                    controlEstimates = variant == control ? e : nil
                    continue
                }
                for metric in Metric.allCases {
                    let d = e[metric]!.difference(from: controlEstimates[metric]!)
                    comparisons.append(Comparison(surface: surface, variant: variant, metric: metric.rawValue, absolute: d.absolute,
                                                  low: d.low, high: d.high, relative: d.relative, significant: d.isSignificant))
                }
            }
        }

        // Sample ratio: users per variant (every surface) against the configured weights.
        var sampleRatio: SampleRatio?
        if let split = options.split {
            let total = Double(split.reduce(0) { $0 + $1.weight })
            let names = split.map(\.variant) + ordered.filter { !splitOrder.contains($0) }
            let shares = names.map { name in split.first { $0.variant == name }.map { Double($0.weight) / total } ?? 0 }
            let observed = names.map { byGroup[GroupKey(surface: overall, variant: $0)]?.count ?? 0 }
            let statistic = ChiSquare.statistic(observed: observed, shares: shares)
            // A variant served without a configured weight is a mismatch whatever the statistic says.
            let unexpected = zip(shares, observed).contains { $0.0 == 0 && $0.1 > 0 }
            let p = unexpected ? 0 : ChiSquare.survival(statistic, degreesOfFreedom: max(1, split.count - 1))
            sampleRatio = SampleRatio(expectedShares: Dictionary(uniqueKeysWithValues: zip(names, shares)),
                                      users: Dictionary(uniqueKeysWithValues: zip(names, observed)),
                                      chiSquare: unexpected ? .infinity : statistic, degreesOfFreedom: max(1, split.count - 1),
                                      pValue: p, mismatch: p < options.mismatchPValue)
        }

        let guardrails = Self.guardrails(events: events, shown: shown, variants: ordered)
            + (options.serverMetrics?.guardrails(variants: ordered, limits: options.limits) ?? [])
        var report = ExperimentReport(experiment: options.experiment, from: options.from, to: options.to,
                                      attributionSeconds: options.attributionSeconds, control: control, primary: options.primary.rawValue,
                                      groups: groups, comparisons: comparisons, sampleRatio: sampleRatio, guardrails: guardrails,
                                      verdict: "", daily: Self.daily(shown), interleaving: Self.interleaving(shown, control: options.control))
        report.verdict = report.decide()
        return report
    }

    /// The verdict line: a broken split or a failed guardrail first, then each variant on the primary metric.
    func decide() -> String {
        if let sampleRatio, sampleRatio.mismatch {
            let shares = sampleRatio.users.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return String(format: "INVALID: sample ratio mismatch (p = %.2g; users %@ against the configured split): the split is broken, "
                          + "so the differences cannot be trusted", sampleRatio.pValue, shares)
        }
        let failed = guardrails.filter { !$0.passed }
        if !failed.isEmpty {
            return "GUARDRAIL FAILED: " + failed.map { "\($0.variant) \($0.name) \(Self.format($0.value)) (at most \(Self.format($0.limit)))" }
                .joined(separator: "; ")
        }
        if let i = interleaving {
            let share = String(format: "%.1f %% [%.1f, %.1f]", i.preference.value * 100, i.preference.low * 100, i.preference.high * 100)
            let decided = i.wins.values.reduce(0, +)
            guard i.significant else {
                return "no significant preference between \(i.teams[1]) and \(i.teams[0]): \(i.teams[1]) won \(share) of \(decided) lists with a preference, the interval holds 50 %"
            }
            let (winner, loser) = i.preference.value > 0.5 ? (i.teams[1], i.teams[0]) : (i.teams[0], i.teams[1])
            return "\(winner) is preferred to \(loser) (interleaved): \(i.teams[1]) won \(share) of \(decided) lists with a preference"
        }
        let overall = comparisons.contains { $0.surface == "*" } ? "*" : comparisons.first?.surface
        let lines = comparisons.filter { $0.surface == overall && $0.metric == primary }.map { c -> String in
            let interval = String(format: "%+.4g [%+.4g, %+.4g]", c.absolute, c.low, c.high)
                + (c.relative.map { String(format: " (%+.1f %%)", $0 * 100) } ?? "")
            if !c.significant { return "no significant difference in \(primary) between \(c.variant) and \(control): \(interval), the interval holds 0" }
            return "\(c.variant) \(c.absolute > 0 ? "beats" : "is worse than") \(control) on \(primary): \(interval)"
        }
        return lines.isEmpty ? "only the control served impressions" : lines.joined(separator: "; ")
    }

    /// Listings served that were sold before they were shown, and users shown their own listings: both must be 0.
    static func guardrails(events: [Event], shown: [AttributedImpression], variants: [String]) -> [Guardrail] {
        // Each listing's sold/unsold changes in time order (a relisted listing may be served again).
        var changes: [String: [(time: Int64, sold: Bool)]] = [:], seller: [String: String] = [:]
        for event in events {
            guard let item = event.item?.value else { continue }
            switch event.type {
            case .listingSold, .purchase: changes[item, default: []].append((event.timestamp, true))
            case .listingRelisted: changes[item, default: []].append((event.timestamp, false))
            case .listingCreated: if let user = event.user?.value { seller[item] = user }
            default: break
            }
        }
        for item in changes.keys { changes[item]!.sort { ($0.time, $0.sold ? 1 : 0) < ($1.time, $1.sold ? 1 : 0) } }
        var sold: [String: Int] = [:], own: [String: Int] = [:]
        for s in shown {
            let variant = s.impression.attributes["variant"]!, item = s.impression.item!.value
            if changes[item]?.last(where: { $0.time < s.impression.timestamp })?.sold == true { sold[variant, default: 0] += 1 }
            if seller[item] == s.impression.user?.value { own[variant, default: 0] += 1 }
        }
        return variants.flatMap { variant in
            [Guardrail(name: "sold_listings_served", variant: variant, value: Double(sold[variant] ?? 0), limit: 0),
             Guardrail(name: "own_listings_served", variant: variant, value: Double(own[variant] ?? 0), limit: 0)]
        }
    }

    /// Per list (ranking id), attributed views per team; a list is won by the team with more. Nil when no
    /// impression carries a team.
    static func interleaving(_ shown: [AttributedImpression], control: String?) -> Interleaving? {
        let interleaved = shown.filter { $0.impression.attributes["team"] != nil }
        guard !interleaved.isEmpty else { return nil }
        let names = Set(interleaved.map { $0.impression.attributes["team"]! }).sorted()
        let teams = control.map { c in [c] + names.filter { $0 != c } } ?? names
        guard teams.count == 2 else { return nil }
        var views: [String: (user: String, byTeam: [Int])] = [:]
        for s in interleaved {
            let ranking = s.impression.rankingID!, team = teams.firstIndex(of: s.impression.attributes["team"]!) ?? 0
            var list = views[ranking] ?? (s.impression.user!.value, [0, 0])
            if s.engaged(.view) { list.byTeam[team] += 1 }
            views[ranking] = list
        }
        var wins = [0, 0], ties = 0, users: [String: (second: Double, decided: Double)] = [:]
        for list in views.values {
            let (a, b) = (list.byTeam[0], list.byTeam[1])
            if a == b {
                if a > 0 { ties += 1 }
                continue
            }
            wins[b > a ? 1 : 0] += 1
            users[list.user, default: (0, 0)].second += b > a ? 1 : 0
            users[list.user, default: (0, 0)].decided += 1
        }
        return Interleaving(teams: teams, lists: views.count, wins: [teams[0]: wins[0], teams[1]: wins[1]], ties: ties,
                            preference: IntervalEstimate(RatioEstimate(units: users.values.map { ($0.second, $0.decided) })))
    }

    static func daily(_ shown: [AttributedImpression]) -> [String: [DailyCount]] {
        guard let start = shown.map(\.impression.timestamp).min() else { return [:] }
        var counts: [String: [Int: (Int, Int)]] = [:]
        for s in shown {
            let day = Int((s.impression.timestamp - start) / 86_400)
            let old = counts[s.impression.attributes["variant"]!, default: [:]][day] ?? (0, 0)
            counts[s.impression.attributes["variant"]!, default: [:]][day] = (old.0 + 1, old.1 + (s.engaged(.view) ? 1 : 0))
        }
        return counts.mapValues { days in days.sorted { $0.key < $1.key }.map { DailyCount(day: $0.key, impressions: $0.value.0, views: $0.value.1) } }
    }

    /// A guardrail's value for a person: whole numbers without decimals, others to four significant digits.
    public static func format(_ value: Double) -> String {
        value.isFinite && value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.4g", value)
    }
}

/// A value with its standard error and 95 % confidence interval (normal approximation).
public struct IntervalEstimate: Sendable, Codable, Equatable {
    public var value: Double
    public var standardError: Double
    public var low: Double
    public var high: Double

    public init(_ estimate: RatioEstimate) {
        (value, standardError) = (estimate.value, estimate.standardError)
        (low, high) = estimate.interval95
    }
}

/// A report that cannot be made from the log as asked.
public struct ExperimentError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
