import Events
import Foundation

/// Feature definitions from a JSON file, so a team declares its features without writing code:
///
/// ```json
/// {"features": [
///   {"name": "user_views_1h", "entity": "user", "events": ["view"], "window": "1h", "aggregation": "count"},
///   {"name": "user_recent_items", "entity": "user", "events": ["like", "save"], "window": "all",
///    "aggregation": "last_n", "n": 20, "ttl": "30d"},
///   {"name": "user_category_affinity_30d", "entity": "user", "events": ["like"], "window": "30d",
///    "aggregation": "affinity", "attribute": "category"},
///   {"name": "user_spend_30d", "entity": "user", "events": ["purchase"], "window": "30d", "aggregation": "sum_price"}
/// ]}
/// ```
///
/// Windows and TTLs are whole hours or days (`1h`, `1d`, `7d`, `30d`) or `all`; `ttl` defaults to the window.
extension FeatureSet {
    public struct DefinitionError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    public init(json data: Data) throws(DefinitionError) {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let list = root["features"] as? [[String: Any]] else {
            throw DefinitionError(message: "expected a JSON object with a 'features' array of objects")
        }
        var definitions: [FeatureDefinition] = []
        for (k, object) in list.enumerated() {
            let label = (object["name"] as? String).map { "feature '\($0)'" } ?? "feature \(k + 1)"
            func fail(_ text: String) -> DefinitionError { DefinitionError(message: "\(label): \(text)") }
            guard let name = object["name"] as? String, !name.isEmpty else { throw fail("needs a 'name'") }
            guard let entityName = object["entity"] as? String, let entity = FeatureDefinition.Entity(rawValue: entityName) else {
                throw fail("'entity' must be user or item")
            }
            guard let eventNames = object["events"] as? [String], !eventNames.isEmpty else {
                throw fail("'events' must be a non-empty list of event types")
            }
            var types = Set<EventType>()
            for eventName in eventNames {
                guard let type = EventType(rawValue: eventName), type.subject == .interaction else {
                    throw fail("'\(eventName)' is not an interaction event type")
                }
                types.insert(type)
            }
            guard let windowText = object["window"] as? String, let window = FeatureWindow.parse(windowText) else {
                throw fail("'window' must be like 1h, 1d, 7d, 30d or all")
            }
            var ttl: Int64? = nil
            if let ttlText = object["ttl"] {
                guard let text = ttlText as? String, let parsed = FeatureWindow.parse(text), let value = parsed else {
                    throw fail("'ttl' must be like 1h, 7d or 30d")
                }
                ttl = value
            }
            let aggregation: FeatureDefinition.Aggregation
            switch object["aggregation"] as? String {
            case "count": aggregation = .count
            case "sum_price": aggregation = .sumOfPrice
            case "last_n":
                guard let n = object["n"] as? Int, n > 0 else { throw fail("last_n needs a positive integer 'n'") }
                aggregation = .lastN(n)
            case "affinity":
                guard let attribute = object["attribute"] as? String, !attribute.isEmpty else {
                    throw fail("affinity needs an 'attribute' (a listing attribute such as category)")
                }
                aggregation = .affinity(attribute: attribute)
            default:
                throw fail("'aggregation' must be count, sum_price, last_n or affinity")
            }
            guard !definitions.contains(where: { $0.name == name }) else { throw fail("is defined twice") }
            definitions.append(FeatureDefinition(name: name, entity: entity, eventTypes: types, window: window,
                                                 aggregation: aggregation, ttl: ttl))
        }
        guard !definitions.isEmpty else { throw DefinitionError(message: "'features' is empty") }
        self.init(definitions)
    }
}

extension FeatureWindow {
    /// Parses `1h`, `1d`, `7d`, `30d` (any whole number of hours or days): the length in seconds; `all`:
    /// no window (`.some(nil)`); anything else: nil.
    public static func parse(_ text: String) -> Int64?? {
        if text == "all" { return .some(nil) }
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0, n < 100_000 else { return nil }
        switch unit {
        case "h": return .some(n * hour)
        case "d": return .some(n * day)
        default: return nil
        }
    }
}
