/// The answers of Rummage's serving API (openapi.yaml, docs/serving.md), encoded by the server and
/// decoded by `RummageClient`: one definition of each JSON shape. Foundation only.

/// A listing and its score in an answer.
public struct ScoredItem: Sendable, Codable, Equatable {
    public var item: String
    public var score: Float

    public init(item: String, score: Float) {
        self.item = item
        self.score = score
    }
}

/// Why an answer is a fallback rather than the model's personalised ranking, and what was served instead.
public enum FallbackReason: String, Sendable, Codable, CaseIterable {
    /// The model cannot rank the user in real time; their list from `batch-recommend` was served.
    case precomputed
    /// No personal data (a user the model never saw, with no online signal): popular listings.
    case popularUnknownUser = "popular_unknown_user"
    /// The model ranked, but no listing it found may be served under the request's filters: popular listings.
    case popularNoCandidates = "popular_no_candidates"
}

/// `GET /v1/users/{user}/recommendations`: a user's ranked listings and which deployment ranked them.
public struct Recommendations: Sendable, Codable, Equatable {
    public var user: String
    public var modelVersion: Int
    public var items: [ScoredItem]
    /// True when the model could not rank for this user (precomputed or popular listings instead).
    public var fallback: Bool
    /// The alias that served this answer (the experiment's variant, or the primary alias).
    public var variant: String
    /// The experiment the user is in, if one is running.
    public var experiment: String?
    /// Identifies this answer; impressions and the client's later events refer to it.
    public var rankingID: String
    /// With `fallback`: why, and what was served instead.
    public var reason: FallbackReason?
    /// The shared stores this answer was made without, their reads having failed or their circuit being
    /// open (absent: none): `listing_states` (checked against the event log instead), `features` (no
    /// online features), `precomputed` (no batch list).
    public var degraded: [String]?

    public init(user: String, modelVersion: Int, items: [ScoredItem], fallback: Bool, variant: String, experiment: String?,
                rankingID: String, reason: FallbackReason? = nil, degraded: [String]? = nil) {
        self.degraded = degraded
        self.user = user
        self.modelVersion = modelVersion
        self.items = items
        self.fallback = fallback
        self.variant = variant
        self.experiment = experiment
        self.rankingID = rankingID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case user, items, fallback, variant, experiment, reason, degraded
        case modelVersion = "model_version"
        case rankingID = "ranking_id"
    }
}

/// `GET /v1/surfaces/{surface}/recommendations`: a surface's list (docs/serving.md, "Surfaces") for a user, an
/// anchor listing, or both, with the stages that made it when asked (`explain=true`).
public struct SurfaceRecommendations: Sendable, Codable, Equatable {
    /// How one listing of the answer got its place: what retrieval gave it, and each later stage.
    public struct Explanation: Sendable, Codable, Equatable {
        public var item: String
        /// Where it came from (`personalised`, `similar`, `new-in`, `popular`, `latest`, `precomputed`), its
        /// score there and its rank among the candidates (0-based).
        public var source: String
        public var retrievalScore: Float
        public var retrievalRank: Int
        /// The surface's learned ranker's score (absent without a ranker): what orders the answer.
        public var rankerScore: Float?
        /// With exploration: the probability with which this listing was chosen for its slot (1: not sampled).
        public var propensity: Double?
        /// The re-ranking rules that moved it, as written (`boost brand=acme by 3`, `bury …`, `pin …`), or
        /// `diversity` (over a seller or category cap, moved down) and `new listings: minimum share` /
        /// `maximum share`.
        public var rules: [String]?
        /// With a ranker: the features that moved its score most (largest absolute contributions first).
        public var rankerFeatures: [FeatureContribution]?

        public init(item: String, source: String, retrievalScore: Float, retrievalRank: Int, rankerScore: Float? = nil,
                    propensity: Double? = nil, rules: [String]? = nil, rankerFeatures: [FeatureContribution]? = nil) {
            self.rules = rules
            self.rankerFeatures = rankerFeatures
            self.item = item
            self.source = source
            self.retrievalScore = retrievalScore
            self.retrievalRank = retrievalRank
            self.rankerScore = rankerScore
            self.propensity = propensity
        }

        enum CodingKeys: String, CodingKey {
            case item, source, propensity, rules
            case retrievalScore = "retrieval_score", retrievalRank = "retrieval_rank", rankerScore = "ranker_score"
            case rankerFeatures = "ranker_features"
        }
    }

    /// One feature's part in a ranker's score for a listing (SHAP value, through XGBoost's `pred_contribs`):
    /// the score is the sum of every feature's contribution and a bias.
    public struct FeatureContribution: Sendable, Codable, Equatable {
        public var name: String
        /// The feature's value in the listing's row (nil: missing).
        public var value: Float?
        public var contribution: Float

        public init(name: String, value: Float?, contribution: Float) {
            self.name = name
            self.value = value
            self.contribution = contribution
        }
    }

    public var surface: String
    /// The user the list is for (absent: anonymous).
    public var user: String?
    /// The listing the list is anchored on (similar-to-listing surfaces).
    public var item: String?
    public var modelVersion: Int
    public var items: [ScoredItem]
    /// True when the surface's retrieval found nothing to serve (precomputed or popular listings instead).
    public var fallback: Bool
    public var reason: FallbackReason?
    /// The alias that served this answer.
    public var variant: String
    public var experiment: String?
    /// Identifies this answer; impressions and the client's later events refer to it.
    public var rankingID: String
    /// As in `Recommendations`.
    public var degraded: [String]?
    /// With `explain=true`: one per listing of `items`, in order.
    public var explanations: [Explanation]?

    public init(surface: String, user: String?, item: String?, modelVersion: Int, items: [ScoredItem], fallback: Bool,
                reason: FallbackReason? = nil, variant: String, experiment: String?, rankingID: String, degraded: [String]? = nil,
                explanations: [Explanation]? = nil) {
        self.surface = surface
        self.user = user
        self.item = item
        self.modelVersion = modelVersion
        self.items = items
        self.fallback = fallback
        self.reason = reason
        self.variant = variant
        self.experiment = experiment
        self.rankingID = rankingID
        self.degraded = degraded
        self.explanations = explanations
    }

    enum CodingKeys: String, CodingKey {
        case surface, user, item, items, fallback, reason, variant, experiment, degraded, explanations
        case modelVersion = "model_version"
        case rankingID = "ranking_id"
    }
}

/// `GET /v1/items/{item}/similar`.
public struct SimilarItems: Sendable, Codable, Equatable {
    public var item: String
    public var modelVersion: Int
    public var items: [ScoredItem]

    public init(item: String, modelVersion: Int, items: [ScoredItem]) {
        self.item = item
        self.modelVersion = modelVersion
        self.items = items
    }

    enum CodingKeys: String, CodingKey { case item, items, modelVersion = "model_version" }
}

/// `GET /readyz`: what the server serves.
public struct Readiness: Sendable, Codable, Equatable {
    public struct Variant: Sendable, Codable, Equatable {
        public var alias: String
        public var modelVersion: Int

        public init(alias: String, modelVersion: Int) {
            self.alias = alias
            self.modelVersion = modelVersion
        }

        enum CodingKeys: String, CodingKey { case alias, modelVersion = "model_version" }
    }

    public var status: String
    public var model: String
    public var modelVersion: Int
    public var indexed: Int
    /// `user-tower` or `embedding+recent` (openapi.yaml).
    public var userQuery: String
    public var experiment: String?
    public var variants: [Variant]
    /// Each dependency this replica writes to or reads from, "ok" or why not (`event_log`, …).
    public var dependencies: [String: String]

    public init(status: String, model: String, modelVersion: Int, indexed: Int, userQuery: String, experiment: String?,
                variants: [Variant], dependencies: [String: String] = [:]) {
        self.dependencies = dependencies
        self.status = status
        self.model = model
        self.modelVersion = modelVersion
        self.indexed = indexed
        self.userQuery = userQuery
        self.experiment = experiment
        self.variants = variants
    }

    enum CodingKeys: String, CodingKey {
        case status, model, indexed, experiment, variants, dependencies
        case modelVersion = "model_version", userQuery = "user_query"
    }
}

/// `POST /v1/admin/reload`: the slot that was reloaded and its versions before and after.
public struct Reloaded: Sendable, Codable, Equatable {
    public var variant: String
    public var from: Int
    public var to: Int

    public init(variant: String, from: Int, to: Int) {
        self.variant = variant
        self.from = from
        self.to = to
    }
}

/// One event of a batch that was not taken, by its position in the batch.
public struct Refusal: Sendable, Codable, Equatable {
    public var index: Int
    public var error: String

    public init(index: Int, error: String) {
        self.index = index
        self.error = error
    }
}

/// A listing's state: `GET /v1/items/{item}`, and `PATCH` (with `changed`: false when the listing was
/// already in the state asked for, so a retry is safe).
public struct ListingReply: Sendable, Codable, Equatable {
    public var item: String
    public var seller: String?
    public var state: String
    public var changed: Bool?

    public init(item: String, seller: String?, state: String, changed: Bool? = nil) {
        self.item = item
        self.seller = seller
        self.state = state
        self.changed = changed
    }
}

/// `POST /v1/events` and `PUT /v1/items/{item}`: what was appended (200), partly refused (207) or all
/// refused (422).
public struct IngestReply: Sendable, Codable, Equatable {
    public var appended: Int
    public var duplicates: Int
    public var refused: [Refusal]

    public init(appended: Int, duplicates: Int, refused: [Refusal]) {
        self.appended = appended
        self.duplicates = duplicates
        self.refused = refused
    }
}

/// `POST /v1/events` on a server that publishes to a queue (202).
public struct Published: Sendable, Codable, Equatable {
    public var published: Int
    public var queue: String
    public var refused: [Refusal]

    public init(published: Int, queue: String, refused: [Refusal]) {
        self.published = published
        self.queue = queue
        self.refused = refused
    }
}

/// Every error answer: `{"error": message}`.
public struct ErrorReply: Sendable, Codable, Equatable {
    public var error: String

    public init(error: String) { self.error = error }
}

/// `GET /healthz`.
public struct Health: Sendable, Codable, Equatable {
    public var status: String

    public init(status: String) { self.status = status }
}
