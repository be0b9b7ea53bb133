import Datasets
import Foundation
import RummageAPI
import RummageClient
import RummageCore

/// Plays a generated marketplace's users against a live Rummage server through its HTTP API: the
/// ground truth for online measurements. Each session asks for a user's recommendations, then the user
/// examines the answer top-down (position bias), views, likes, saves, bags and buys by their latent
/// tastes (`Marketplace.User.likeProbability`, the generator's own model); sellers list new items. Every
/// action is an event posted to the server, tied to the answer by `ranking_id` and `position`, so it
/// flows into the event log like production traffic.
///
/// Deterministic by seed given the same answers: every draw comes from one seeded generator, in order.
public struct TrafficSimulator: Sendable {
    public struct Configuration: Sendable {
        /// Users taking part (drawn from the marketplace's, weighted by activity).
        public var users = 200
        /// Sessions each user runs.
        public var sessions = 3
        /// Recommendations asked per session.
        public var k = 10
        /// A seller lists a new item every this many sessions (0: never).
        public var newListingEvery = 10
        public var seed: UInt64 = 1
        /// Stop early (and say so) after this many wall-clock seconds.
        public var timeLimitSeconds = 600.0
        /// Prefix of the event and listing ids this run creates: unique per run, so that runs with the same
        /// seed against the same log never collide (their events would be duplicates).
        public var runID = "sim"

        public init() {}
    }

    /// What happened, per served variant.
    public struct VariantReport: Sendable, Codable, Equatable {
        public var requests = 0
        public var fallbacks = 0
        /// Listings shown (answer slots).
        public var shown = 0
        public var views = 0
        public var likes = 0
        public var bags = 0
        public var purchases = 0
        /// Views per listing shown.
        public var clickThroughRate: Double { shown == 0 ? 0 : Double(views) / Double(shown) }
        /// Purchases per listing shown.
        public var purchaseRate: Double { shown == 0 ? 0 : Double(purchases) / Double(shown) }

        enum CodingKeys: String, CodingKey { case requests, fallbacks, shown, views, likes, bags, purchases }
    }

    /// One user's totals within a variant: the unit of the confidence intervals (`RatioEstimate`).
    public struct UserTotals: Sendable, Equatable {
        public var shown = 0
        public var views = 0
        public var purchases = 0
    }

    public struct Report: Sendable {
        public var variants: [String: VariantReport] = [:]
        /// Per variant, each user's totals.
        public var users: [String: [Int: UserTotals]] = [:]
        /// The session in which each listing the simulator created was created.
        public var creationSessions: [Int] = []
        /// Per variant, the session in which a user of that variant was first shown each created listing
        /// (by the listing's index in `creationSessions`).
        public var firstImpressions: [String: [Int: Int]] = [:]
        /// Listings served after the simulator's purchase of them was acknowledged: must be 0.
        public var soldListingsServed = 0
        public var listingsCreated = 0
        /// Purchases the server refused (the listing was no longer for sale).
        public var purchasesRefused = 0
        public var sessions = 0
        /// True when the time limit stopped the run before every session ran.
        public var cutShort = false
        public var seconds = 0.0
    }

    public let marketplace: Marketplace
    public let configuration: Configuration

    public init(marketplace: Marketplace, configuration: Configuration) {
        self.marketplace = marketplace
        self.configuration = configuration
    }

    /// Chance that the user looks at the listing in this slot of the answer (0-based).
    static func examined(position: Int) -> Double { 0.9 * pow(0.85, Double(position)) }

    /// Runs every session against `client`. `log` receives one line per action (for the record).
    public func run(_ client: RummageClient, now: () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                    log: (String) -> Void = { _ in }) throws(RummageClientError) -> Report {
        var rng = SeededGenerator(seed: configuration.seed)
        var report = Report()
        let clock = Stopwatch()
        let m = marketplace
        // Listings the simulator knows: the generated ones and those its sellers create.
        var listings = Dictionary(uniqueKeysWithValues: m.listings.enumerated().map { ("l\($0.offset)", $0.element) })
        var sold = Set<String>()
        // Each created listing's index in `creationSessions`.
        var created: [String: Int] = [:]
        let activity = CumulativeWeights(m.users.map(\.activity))
        let players = (0..<configuration.users).map { _ in activity.sample(&rng) }
        let sellers = m.users.indices.filter { m.users[$0].isSeller }
        var eventNumber = 0
        func nextID() -> String { eventNumber += 1; return "\(configuration.runID)-\(eventNumber)" }
        sessions: for _ in 0..<configuration.sessions {
            for u in players {
                if clock.elapsedSeconds > configuration.timeLimitSeconds { report.cutShort = true; break sessions }
                report.sessions += 1
                if configuration.newListingEvery > 0, report.sessions % configuration.newListingEvery == 0, !sellers.isEmpty {
                    // A seller lists an item like one of the catalogue's.
                    let seller = sellers[rng.nextInt(below: sellers.count)]
                    var listing = m.listings[rng.nextInt(below: m.listings.count)]
                    listing.seller = Int32(seller)
                    let item = "\(configuration.runID)-l\(report.listingsCreated)"
                    let v = MarketplaceVocabulary.self
                    let attributes = ["category": v.categories[listing.category].name, "brand": v.brands[listing.brand].name,
                                      "size": listing.sizeName, "condition": v.conditions[listing.condition], "colour": v.colours[listing.colour],
                                      "style": v.styles[listing.style], "title": listing.title]
                    let reply = try client.createListing(item: item, seller: "u\(seller)", price: listing.price, attributes: attributes)
                    if reply.appended == 1 {
                        listings[item] = listing
                        created[item] = report.creationSessions.count
                        report.creationSessions.append(report.sessions)
                        report.listingsCreated += 1
                        log("list \(item) by u\(seller)")
                    }
                }
                let user = m.users[u], userID = "u\(u)"
                let answer = try client.recommendations(user: userID, k: configuration.k)
                var variant = report.variants[answer.variant] ?? VariantReport()
                variant.requests += 1
                if answer.fallback { variant.fallbacks += 1 }
                variant.shown += answer.items.count
                report.soldListingsServed += answer.items.filter { sold.contains($0.item) }.count
                for scored in answer.items {
                    if let index = created[scored.item], report.firstImpressions[answer.variant]?[index] == nil {
                        report.firstImpressions[answer.variant, default: [:]][index] = report.sessions
                    }
                }
                var totals = report.users[answer.variant, default: [:]][u, default: UserTotals()]
                totals.shown += answer.items.count
                log("ask \(userID) \(answer.variant) v\(answer.modelVersion) \(answer.items.map(\.item).joined(separator: ","))")
                var events: [EventPayload] = []
                var purchased: [String] = []
                let time = now()
                func event(_ type: String, _ item: String, _ position: Int) {
                    events.append(EventPayload(id: nextID(), type: type, timestamp: time, user: userID, item: item, surface: "home",
                                               rankingID: answer.rankingID, position: position))
                }
                for (position, scored) in answer.items.enumerated() {
                    guard rng.nextDouble() < Self.examined(position: position), let listing = listings[scored.item] else { continue }
                    // A listing that matches the user's tastes draws the click: P(view | examined) = √p, and
                    // P(like | view) = √p, so a like follows an examined listing with the generator's p.
                    let p = user.likeProbability(of: listing), attraction = p.squareRoot()
                    guard rng.nextDouble() < attraction else { continue }
                    event("view", scored.item, position)
                    variant.views += 1
                    totals.views += 1
                    var engaged = false
                    if rng.nextDouble() < attraction { event("like", scored.item, position); variant.likes += 1; engaged = true }
                    if rng.nextDouble() < 0.6 * attraction { event("save", scored.item, position); engaged = true }
                    guard engaged, rng.nextDouble() < 0.35 * p * (user.fits(listing) ? 1 : 0.2) else { continue }
                    event("add_to_bag", scored.item, position)
                    variant.bags += 1
                    if rng.nextDouble() < 0.5 { event("purchase", scored.item, position); purchased.append(scored.item) }
                }
                if !events.isEmpty {
                    let reply = try client.send(events: events)
                    let refused = Set(reply.refused.map(\.index))
                    for (index, e) in events.enumerated() where e.type == "purchase" {
                        if refused.contains(index) {
                            report.purchasesRefused += 1
                        } else if let item = e.item {
                            sold.insert(item)
                            variant.purchases += 1
                            totals.purchases += 1
                        }
                    }
                    log("act \(userID) \(events.map { "\($0.type):\($0.item ?? "")" }.joined(separator: " "))")
                }
                report.variants[answer.variant] = variant
                report.users[answer.variant, default: [:]][u] = totals
            }
        }
        report.seconds = clock.elapsedSeconds
        return report
    }
}

extension TrafficSimulator.Report {
    /// A variant's click-through rate (views per listing shown) and purchase rate, clustered by user.
    public func rates(of variant: String) -> (clickThrough: RatioEstimate, purchase: RatioEstimate) {
        let totals = (users[variant] ?? [:]).values
        return (RatioEstimate(units: totals.map { (Double($0.views), Double($0.shown)) }),
                RatioEstimate(units: totals.map { (Double($0.purchases), Double($0.shown)) }))
    }

    /// How many sessions after its creation each created listing was first shown to a user of `variant`
    /// (nil: never, in this run).
    public func sessionsToFirstImpression(in variant: String) -> [Int?] {
        let first = firstImpressions[variant] ?? [:]
        return creationSessions.enumerated().map { index, session in first[index].map { $0 - session } }
    }

    /// The median number of sessions from a created listing's creation to its first impression in
    /// `variant`, counting listings never shown as later than any (nil when half or more were never shown,
    /// or none were created).
    public func medianSessionsToFirstImpression(in variant: String) -> Double? {
        let created = creationSessions.count
        guard created > 0 else { return nil }
        let shown = sessionsToFirstImpression(in: variant).compactMap { $0 }.sorted()
        func at(_ rank: Int) -> Double? { rank < shown.count ? Double(shown[rank]) : nil }
        if created % 2 == 1 { return at(created / 2) }
        guard let low = at(created / 2 - 1), let high = at(created / 2) else { return nil }
        return (low + high) / 2
    }
}

extension MarketplaceGenerator.Configuration {
    /// The configuration a generated marketplace's `manifest.json` records (what `rummage generate` wrote).
    public static func load(manifestIn directory: String) throws(DataError) -> Self {
        let path = directory + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DataError(.fileNotFound, "no generator manifest (this directory was not written by rummage generate)", path: path)
        }
        func int(_ key: String) throws(DataError) -> Int {
            guard let value = json[key] as? Int else { throw DataError(.malformedLine, "manifest lacks '\(key)'", path: path) }
            return value
        }
        return Self(users: try int("users"), listings: try int("listings"), events: try int("events"), days: try int("days"),
                    seed: UInt64(try int("seed")), startTime: Int64(try int("start_time")))
    }
}
