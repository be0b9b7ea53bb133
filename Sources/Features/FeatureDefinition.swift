import Events
import RummageCore

/// A feature, declared once: which entity it describes, which events feed it, over what window, and
/// how they are aggregated. The same definition drives the online store and offline training sets.
public struct FeatureDefinition: Sendable, Equatable {
    public enum Entity: String, Sendable { case user, item }

    public enum Aggregation: Sendable, Equatable {
        /// Number of events.
        case count
        /// Sum of the listing's price (from its `listing_created` event) over the events.
        case sumOfPrice
        /// The `n` most recent distinct counterparts (items for a user, users for an item), newest first.
        case lastN(Int)
        /// Share of the events per value of a listing attribute (e.g. `category`), summing to 1.
        case affinity(attribute: String)
    }

    public var name: String
    public var entity: Entity
    public var eventTypes: Set<EventType>
    /// Only events in the `window` seconds before the time asked about count; nil = no window.
    public var window: Int64?
    public var aggregation: Aggregation
    /// Events older than this (seconds) are dropped from the entity's state and never count again;
    /// bounds the memory of unwindowed features. Defaults to the window; nil = kept forever.
    public var ttl: Int64?

    public init(name: String, entity: Entity, eventTypes: Set<EventType>, window: Int64?, aggregation: Aggregation,
                ttl: Int64? = nil) {
        precondition(window.map { $0 > 0 } ?? true && ttl.map { $0 > 0 } ?? true)
        self.name = name
        self.entity = entity
        self.eventTypes = eventTypes
        self.window = window
        self.aggregation = aggregation
        self.ttl = ttl ?? window
    }

    /// The value of an entity without events: 0, no ids, or no shares.
    public var emptyValue: FeatureValue {
        switch aggregation {
        case .count, .sumOfPrice: .number(0)
        case .lastN: .ids([])
        case .affinity: .distribution([:])
        }
    }

    /// How far back events matter: the shorter of window and ttl.
    var horizon: Int64? {
        switch (window, ttl) {
        case let (w?, t?): min(w, t)
        case let (w?, nil): w
        case let (nil, t?): t
        case (nil, nil): nil
        }
    }
}

/// Window lengths in seconds.
public enum FeatureWindow {
    public static let hour: Int64 = 3_600
    public static let day: Int64 = 86_400
}

/// A feature's value for one entity at one time.
public enum FeatureValue: Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case ids([String])
    case distribution([String: Double])

    public var description: String {
        switch self {
        case .number(let x): "\(x)"
        case .ids(let ids): "[" + ids.joined(separator: ",") + "]"
        case .distribution(let d): "{" + d.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",") + "}"
        }
    }
}

/// The features a deployment computes, with a version that changes whenever a definition does.
public struct FeatureSet: Sendable, Equatable {
    public var definitions: [FeatureDefinition]

    public init(_ definitions: [FeatureDefinition]) {
        precondition(Set(definitions.map(\.name)).count == definitions.count, "feature names must be unique")
        self.definitions = definitions
    }

    /// The definition called `name`.
    public func definition(named name: String) -> FeatureDefinition? { definitions.first { $0.name == name } }

    /// A hash of every definition (FNV-1a over a canonical text of each), for manifests.
    public var version: String {
        let text = definitions.map { d in
            [d.name, d.entity.rawValue, d.eventTypes.map(\.rawValue).sorted().joined(separator: "+"),
             d.window.map(String.init) ?? "-", String(describing: d.aggregation), d.ttl.map(String.init) ?? "-"]
                .joined(separator: "|")
        }.joined(separator: "\n")
        return String(FNV1a.hash(text), radix: 16)
    }

    /// The marketplace defaults: activity counts over 1h/1d/7d windows, recent items and views, category,
    /// brand and size affinity, spend, and listing popularity windows.
    public static let marketplace: FeatureSet = {
        let engaged: Set<EventType> = [.like, .save, .addToBag, .purchase]
        let h = FeatureWindow.hour, d = FeatureWindow.day
        return FeatureSet([
            FeatureDefinition(name: "user_views_1h", entity: .user, eventTypes: [.view], window: h, aggregation: .count),
            FeatureDefinition(name: "user_views_1d", entity: .user, eventTypes: [.view], window: d, aggregation: .count),
            FeatureDefinition(name: "user_engagements_7d", entity: .user, eventTypes: engaged, window: 7 * d, aggregation: .count),
            FeatureDefinition(name: "user_recent_items", entity: .user, eventTypes: engaged, window: nil,
                              aggregation: .lastN(20), ttl: 30 * d),
            FeatureDefinition(name: "user_recent_views", entity: .user, eventTypes: [.view], window: nil,
                              aggregation: .lastN(50), ttl: 7 * d),
            FeatureDefinition(name: "user_category_affinity_30d", entity: .user, eventTypes: engaged, window: 30 * d,
                              aggregation: .affinity(attribute: "category")),
            FeatureDefinition(name: "user_brand_affinity_30d", entity: .user, eventTypes: engaged, window: 30 * d,
                              aggregation: .affinity(attribute: "brand")),
            FeatureDefinition(name: "user_size_affinity_30d", entity: .user, eventTypes: engaged, window: 30 * d,
                              aggregation: .affinity(attribute: "size")),
            FeatureDefinition(name: "user_style_affinity_30d", entity: .user, eventTypes: engaged, window: 30 * d,
                              aggregation: .affinity(attribute: "style")),
            FeatureDefinition(name: "user_spend_30d", entity: .user, eventTypes: [.purchase], window: 30 * d,
                              aggregation: .sumOfPrice),
            FeatureDefinition(name: "item_views_1h", entity: .item, eventTypes: [.view], window: h, aggregation: .count),
            FeatureDefinition(name: "item_views_1d", entity: .item, eventTypes: [.view], window: d, aggregation: .count),
            FeatureDefinition(name: "item_engagements_7d", entity: .item, eventTypes: engaged, window: 7 * d, aggregation: .count),
            FeatureDefinition(name: "item_recent_users", entity: .item, eventTypes: engaged, window: 7 * d, aggregation: .lastN(10)),
        ])
    }()
}
