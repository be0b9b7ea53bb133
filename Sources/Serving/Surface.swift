import Foundation
import RummageAPI

/// A named place in an app where listings are shown (home, similar, new in, …) and how its lists are made:
/// where candidates come from and how many, what is excluded beyond what is never served, whether answers
/// are logged as impressions, and what to serve when retrieval finds nothing. Served at
/// `GET /v1/surfaces/{name}/recommendations`; `home` and `similar` are predefined (and may be redefined)
/// and also answer the older `/v1/users/{user}/recommendations` and `/v1/items/{item}/similar`.
///
/// Configured in the configuration file under `surfaces.NAME` (docs/serving.md, "Surfaces"):
///
/// ```yaml
/// surfaces:
///   new_in:
///     retrieval: new-in        # personalised | similar | new-in | popular | latest
///     candidates: 200          # retrieved before the later stages (default: the k asked)
///     new_within_hours: 72     # new-in: listings created this recently (event time)
///     exclude: [seen]          # besides never-servable, own and bought listings
///     log_impressions: true    # every answer's listings as impressions (default: only in an experiment)
///     fallback: popular        # popular | none (when retrieval finds nothing)
///     ranker: home-ranker      # a registered ranker (`rummage ranker train`) orders the candidates
///     ranker_version: champion
///     exploration_share: 0.1   # the last 10 % of slots sampled (Plackett–Luce), propensities logged
///     exploration_temperature: 1
///     exploration_pool: new    # sampled among new listings (ranking: the rest of the ranking)
///     max_per_seller: 2        # diversity: listings over a cap move down
///     max_per_category: 5
///     rules: ["boost brand=acme by 3", "bury condition=fair", "pin item=l42 at 1"]
///     min_new_share: 0.2       # at least 20 % of the k slots for listings created within new_within_hours
///     max_new_share: 0.6
/// ```
public struct Surface: Sendable, Equatable {
    /// Where a surface's candidates come from.
    public enum Retrieval: String, Sendable, CaseIterable, Codable {
        /// The user's query (their embedding, moved towards recent listings, or the user tower) against
        /// the served index.
        case personalised
        /// The anchor listing's vector against the index (the listing itself left out).
        case similar
        /// As `personalised`, among listings created within `newWithinHours` only: new listings reach users
        /// through their content embedding. Newest first for a user without a query.
        case newIn = "new-in"
        /// The most engaged-with listings of the last 7 days (event time).
        case popular
        /// The newest listings.
        case latest
    }

    /// What a surface leaves out besides what is never served (not active, the user's own, bought).
    public enum Exclusion: String, Sendable, CaseIterable, Codable {
        /// Listings the user viewed or engaged with recently (`user_recent_views`, `user_recent_items`).
        case seen
    }

    /// What a user surface serves when its retrieval finds nothing.
    public enum Fallback: String, Sendable, CaseIterable, Codable {
        /// The user's precomputed list, if any, then popular listings (marked as a fallback).
        case popular
        /// An empty list.
        case none
    }

    public var name: String
    public var retrieval: Retrieval
    /// Candidates retrieved before the later stages; nil: the k asked. Never fewer than k.
    public var candidates: Int?
    /// How recently (event time) a listing must have been created to be new: what `new-in` retrieves and
    /// what the new-listing shares count.
    public var newWithinHours: Double
    public var exclusions: Set<Exclusion>
    /// Whether every answer's listings are logged as impressions (always during an experiment).
    public var logsImpressions: Bool
    public var fallback: Fallback
    /// A registered ranker (`rummage ranker train`) and the version or alias served.
    public struct RankerReference: Sendable, Equatable {
        public var model: String
        public var version: String
        public init(model: String, version: String) {
            self.model = model
            self.version = version
        }
    }

    /// The learned ranker that orders the candidates; nil: retrieval's order.
    public var ranker: RankerReference?
    /// Slots filled by sampling, with the probabilities logged (`Exploration`); nil: none.
    public var exploration: Exploration?
    /// Re-ranking after the ranker: business rules, diversity caps, the share of new listings.
    public var reRanking = ReRanking()

    public init(name: String, retrieval: Retrieval, candidates: Int? = nil, newWithinHours: Double = 72,
                exclusions: Set<Exclusion> = [], logsImpressions: Bool = false, fallback: Fallback? = nil,
                ranker: RankerReference? = nil, exploration: Exploration? = nil) {
        self.exploration = exploration
        self.name = name
        self.retrieval = retrieval
        self.candidates = candidates
        self.newWithinHours = newWithinHours
        self.exclusions = exclusions
        self.logsImpressions = logsImpressions
        self.fallback = fallback ?? (retrieval == .similar ? .none : .popular)
        self.ranker = ranker
    }

    /// `GET /v1/users/{user}/recommendations`.
    public static let home = Surface(name: "home", retrieval: .personalised)
    /// `GET /v1/items/{item}/similar`.
    public static let similar = Surface(name: "similar", retrieval: .similar)

    /// Whether the surface needs an anchor listing (`item`) in each request.
    public var needsItem: Bool { retrieval == .similar }

    /// How many candidates to retrieve for an answer of `k`.
    func candidateCount(k: Int) -> Int { max(k, candidates ?? k) }

    // MARK: Configuration

    /// A surface as the configuration file writes it (every key optional but `retrieval`).
    public struct Definition: Codable, Sendable, Equatable {
        public var retrieval: Retrieval
        public var candidates: Int?
        public var newWithinHours: Double?
        public var exclude: [Exclusion]?
        public var logImpressions: Bool?
        public var fallback: Fallback?
        /// A registered ranker's model name, and the version or alias to serve (default `champion`).
        public var ranker: String?
        public var rankerVersion: String?
        /// The share of slots sampled (0…1), and the sampling temperature (default 1).
        public var explorationShare: Double?
        public var explorationTemperature: Double?
        public var explorationPool: Exploration.Pool?
        public var maxPerSeller: Int?
        public var maxPerCategory: Int?
        /// Business rules (`ReRankingRule`), applied in order.
        public var rules: [String]?
        /// The least and the most of the k slots new listings (created within `new_within_hours`) take.
        public var minNewShare: Double?
        public var maxNewShare: Double?

        public init(retrieval: Retrieval, candidates: Int? = nil, newWithinHours: Double? = nil, exclude: [Exclusion]? = nil,
                    logImpressions: Bool? = nil, fallback: Fallback? = nil, ranker: String? = nil, rankerVersion: String? = nil,
                    explorationShare: Double? = nil, explorationTemperature: Double? = nil, maxPerSeller: Int? = nil,
                    maxPerCategory: Int? = nil, rules: [String]? = nil, minNewShare: Double? = nil, maxNewShare: Double? = nil,
                    explorationPool: Exploration.Pool? = nil) {
            self.explorationPool = explorationPool
            self.rules = rules
            self.minNewShare = minNewShare
            self.maxNewShare = maxNewShare
            self.maxPerSeller = maxPerSeller
            self.maxPerCategory = maxPerCategory
            self.explorationShare = explorationShare
            self.explorationTemperature = explorationTemperature
            self.retrieval = retrieval
            self.candidates = candidates
            self.newWithinHours = newWithinHours
            self.exclude = exclude
            self.logImpressions = logImpressions
            self.fallback = fallback
            self.ranker = ranker
            self.rankerVersion = rankerVersion
        }

        enum CodingKeys: String, CodingKey {
            case retrieval, candidates, exclude, fallback, ranker
            case newWithinHours = "new_within_hours", logImpressions = "log_impressions", rankerVersion = "ranker_version"
            case explorationShare = "exploration_share", explorationTemperature = "exploration_temperature"
            case explorationPool = "exploration_pool"
            case maxPerSeller = "max_per_seller", maxPerCategory = "max_per_category", rules
            case minNewShare = "min_new_share", maxNewShare = "max_new_share"
        }
    }

    /// The keys of a surface's definition, for the configuration file's schema (`surfaces.*.KEY`), with
    /// whether each holds a list.
    public static let definitionKeys: [(key: String, isList: Bool)] = [
        ("retrieval", false), ("candidates", false), ("new_within_hours", false), ("exclude", true), ("log_impressions", false),
        ("fallback", false), ("ranker", false), ("ranker_version", false), ("exploration_share", false),
        ("exploration_temperature", false), ("exploration_pool", false), ("max_per_seller", false), ("max_per_category", false), ("rules", true),
        ("min_new_share", false), ("max_new_share", false),
    ]

    /// The surface `name` defined by `definition`; refuses a name that cannot label metrics and values
    /// out of range, naming the key.
    public init(name: String, definition: Definition) throws(SurfaceError) {
        guard (1...32).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw SurfaceError("surface name '\(name)': 1 to 32 characters of a-z, 0-9, '_' and '-'")
        }
        if let candidates = definition.candidates, !(1...10_000).contains(candidates) {
            throw SurfaceError("surfaces.\(name).candidates must be in 1...10000, got \(candidates)")
        }
        if let hours = definition.newWithinHours, !(hours > 0 && hours <= 24 * 365) {
            throw SurfaceError("surfaces.\(name).new_within_hours must be in (0, 8760], got \(hours)")
        }
        let sharesNew = definition.minNewShare != nil || definition.maxNewShare != nil || definition.explorationPool == .new
        if definition.newWithinHours != nil && definition.retrieval != .newIn && !sharesNew {
            throw SurfaceError("surfaces.\(name).new_within_hours goes with retrieval new-in, min_new_share, max_new_share or exploration_pool new")
        }
        for (key, share) in [("min_new_share", definition.minNewShare), ("max_new_share", definition.maxNewShare)] {
            if let share, !(0...1).contains(share) { throw SurfaceError("surfaces.\(name).\(key) must be in 0...1, got \(share)") }
        }
        if let low = definition.minNewShare, let high = definition.maxNewShare, low > high {
            throw SurfaceError("surfaces.\(name).min_new_share (\(low)) is above max_new_share (\(high))")
        }
        var rules: [ReRankingRule] = []
        for text in definition.rules ?? [] {
            do { rules.append(try ReRankingRule(parsing: text)) } catch { throw SurfaceError("surfaces.\(name).rules: \(error.message)") }
        }
        if definition.rankerVersion != nil && definition.ranker == nil {
            throw SurfaceError("surfaces.\(name).ranker_version goes with ranker")
        }
        if let share = definition.explorationShare, !(0...1).contains(share) {
            throw SurfaceError("surfaces.\(name).exploration_share must be in 0...1, got \(share)")
        }
        if let temperature = definition.explorationTemperature {
            guard temperature > 0 && temperature <= 1e6 else {
                throw SurfaceError("surfaces.\(name).exploration_temperature must be positive, got \(temperature)")
            }
            guard definition.explorationShare != nil else { throw SurfaceError("surfaces.\(name).exploration_temperature goes with exploration_share") }
        }
        if definition.explorationPool != nil && definition.explorationShare == nil {
            throw SurfaceError("surfaces.\(name).exploration_pool goes with exploration_share")
        }
        for (key, cap) in [("max_per_seller", definition.maxPerSeller), ("max_per_category", definition.maxPerCategory)] {
            if let cap, cap < 1 { throw SurfaceError("surfaces.\(name).\(key) must be at least 1, got \(cap)") }
        }
        self.init(name: name, retrieval: definition.retrieval, candidates: definition.candidates,
                  newWithinHours: definition.newWithinHours ?? 72, exclusions: Set(definition.exclude ?? []),
                  logsImpressions: definition.logImpressions ?? false, fallback: definition.fallback,
                  ranker: definition.ranker.map { RankerReference(model: $0, version: definition.rankerVersion ?? "champion") },
                  exploration: definition.explorationShare.flatMap { $0 > 0 ? Exploration(share: $0, temperature: definition.explorationTemperature ?? 1,
                                                                                                       pool: definition.explorationPool ?? .ranking) : nil })
        reRanking.maxPerSeller = definition.maxPerSeller
        reRanking.maxPerCategory = definition.maxPerCategory
        reRanking.rules = rules
        reRanking.newWithinHours = newWithinHours
        reRanking.minimumNewShare = definition.minNewShare
        reRanking.maximumNewShare = definition.maxNewShare
    }

    /// The surfaces a server answers: `home` and `similar`, replaced or joined by `configured`.
    public static func served(_ configured: [Surface]) -> [String: Surface] {
        var surfaces = ["home": Surface.home, "similar": Surface.similar]
        for surface in configured { surfaces[surface.name] = surface }
        return surfaces
    }
}

/// What a surface is asked for: the user (absent: anonymous), the anchor listing, the length, the query
/// filters, and whether to explain each listing's place.
public struct SurfaceRequest: Sendable, Equatable {
    public var user: String?
    public var item: String?
    public var k: Int
    public var filters: RecommendationFilters
    public var explain: Bool

    public init(user: String? = nil, item: String? = nil, k: Int = 20, filters: RecommendationFilters = RecommendationFilters(),
                explain: Bool = false) {
        self.user = user
        self.item = item
        self.k = k
        self.filters = filters
        self.explain = explain
    }
}

/// A surface that is not configured or cannot be served as asked (`message` says why).
public struct SurfaceError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable { case invalid, unknownSurface, unknownItem }
    public var code: Code
    public var message: String
    public init(_ message: String, code: Code = .invalid) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
