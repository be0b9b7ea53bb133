import Foundation
import RummageCore

/// The JSON form of an event (one object per line in `.jsonl` files and HTTP bodies), documented in
/// docs/events.md. Fields: `event_id`, `type`, `timestamp` (Unix seconds, or an ISO 8601 string such as
/// `2026-01-01T12:00:00Z`), `user`, `item`, `seller` (listing_created: the seller, stored as `user`),
/// `surface`, `ranking_id`, `position`, `price`, `attributes` (an object of strings).
extension Event {
    /// Parses one JSON object and checks its fields (`validate`). Unknown fields are refused, so a
    /// misspelt field never goes unnoticed.
    public init(json: some DataProtocol, now: Int64, maxFutureSkew: Int64 = Event.defaultMaxFutureSkew) throws(EventError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json), options: [])
        } catch {
            throw EventError(.malformedJSON, "not valid JSON")
        }
        guard let fields = object as? [String: Any] else { throw EventError(.malformedJSON, "not a JSON object") }
        if let unknown = fields.keys.filter({ !Self.jsonFields.contains($0) }).sorted().first {
            throw EventError(.invalidField, "unknown field '\(unknown)'")
        }
        func string(_ key: String) throws(EventError) -> String? {
            guard let value = fields[key], !(value is NSNull) else { return nil }
            guard let text = value as? String else { throw EventError(.invalidField, "'\(key)' must be a string") }
            return text
        }
        func number(_ key: String) throws(EventError) -> Double? {
            guard let value = fields[key], !(value is NSNull) else { return nil }
            if value is Bool { throw EventError(.invalidField, "'\(key)' must be a number") }
            if let n = value as? Int { return Double(n) }
            if let n = value as? Double { return n }
            throw EventError(.invalidField, "'\(key)' must be a number")
        }
        guard let id = try string("event_id") else { throw EventError(.missingField, "missing 'event_id'") }
        guard let typeName = try string("type") else { throw EventError(.missingField, "event '\(id)': missing 'type'") }
        guard let type = EventType(rawValue: typeName) else {
            throw EventError(.unknownType, "event '\(id)': unknown type '\(typeName)'")
        }
        let timestamp: Int64
        if let text = fields["timestamp"] as? String {
            guard let date = ISO8601DateFormatter().date(from: text) else {
                throw EventError(.invalidField, "event '\(id)': 'timestamp' is not ISO 8601: '\(text)'")
            }
            timestamp = Int64(date.timeIntervalSince1970.rounded(.down))
        } else if let seconds = try number("timestamp") {
            guard seconds == seconds.rounded(), abs(seconds) < 1e15 else {
                throw EventError(.invalidField, "event '\(id)': 'timestamp' must be whole Unix seconds")
            }
            timestamp = Int64(seconds)
        } else {
            throw EventError(.missingField, "event '\(id)': missing 'timestamp'")
        }
        var attributes: [String: String] = [:]
        if let value = fields["attributes"], !(value is NSNull) {
            guard let object = value as? [String: Any] else {
                throw EventError(.invalidField, "event '\(id)': 'attributes' must be an object of strings")
            }
            for (key, value) in object {
                guard let text = value as? String else {
                    throw EventError(.invalidField, "event '\(id)': attribute '\(key)' must be a string")
                }
                attributes[key] = text
            }
        }
        let user = try string("user"), seller = try string("seller")
        if user != nil && seller != nil { throw EventError(.invalidField, "event '\(id)': give 'user' or 'seller', not both") }
        var position: Int? = nil
        if let p = try number("position") {
            guard p == p.rounded(), p >= 0, p < 1e9 else {
                throw EventError(.invalidField, "event '\(id)': 'position' must be a non-negative integer")
            }
            position = Int(p)
        }
        let actor: UserID? = (user ?? seller).map { UserID($0) }
        let item: ItemID? = try string("item").map { ItemID($0) }
        let surface = try string("surface"), rankingID = try string("ranking_id"), price = try number("price")
        self.init(id: id, type: type, timestamp: timestamp, user: actor, item: item, surface: surface,
                  rankingID: rankingID, position: position, price: price, attributes: attributes)
        try validate(now: now, maxFutureSkew: maxFutureSkew)
    }

    /// Events may be at most this far ahead of the receiving clock (clock skew), in seconds.
    public static let defaultMaxFutureSkew: Int64 = 3_600

    static let jsonFields: Set<String> = ["event_id", "type", "timestamp", "user", "item", "seller", "surface",
                                          "ranking_id", "position", "price", "attributes"]

    /// Checks the fields each type needs: interactions a user and an item, impressions also
    /// `ranking_id` and `position`, listing events an item (`listing_created` a seller), user events a
    /// user; ids non-empty and at most 256 bytes; prices finite and non-negative; the timestamp not
    /// before 2000 nor more than `maxFutureSkew` seconds after `now`.
    public func validate(now: Int64, maxFutureSkew: Int64 = Event.defaultMaxFutureSkew) throws(EventError) {
        func checkID(_ value: String?, _ name: String) throws(EventError) {
            guard let value else { return }
            guard !value.isEmpty, value.utf8.count <= 256 else {
                throw EventError(.invalidField, "event '\(id)': '\(name)' must be 1 to 256 bytes")
            }
        }
        guard !id.isEmpty, id.utf8.count <= 256 else { throw EventError(.invalidField, "'event_id' must be 1 to 256 bytes") }
        try checkID(user?.value, "user")
        try checkID(item?.value, "item")
        try checkID(rankingID, "ranking_id")
        guard timestamp >= 946_684_800 else {
            throw EventError(.invalidField, "event '\(id)': timestamp \(timestamp) is before 2000-01-01")
        }
        guard timestamp <= now + maxFutureSkew else {
            throw EventError(.futureTimestamp, "event '\(id)': timestamp \(timestamp) is \(timestamp - now) s in the future")
        }
        func require(_ present: Bool, _ field: String) throws(EventError) {
            if !present { throw EventError(.missingField, "event '\(id)': \(type.rawValue) needs '\(field)'") }
        }
        switch type.subject {
        case .interaction:
            try require(user != nil, "user")
            try require(item != nil, "item")
            if type == .impression {
                try require(rankingID != nil, "ranking_id")
                try require(position != nil, "position")
            }
        case .listing:
            try require(item != nil, "item")
            if type == .listingCreated { try require(user != nil, "seller") }
            if type == .priceChanged { try require(price != nil, "price") }
        case .user:
            try require(user != nil, "user")
        }
        if let price, !(price.isFinite && price >= 0) {
            throw EventError(.invalidField, "event '\(id)': 'price' must be a non-negative number")
        }
    }

    /// One line of JSON with keys in a fixed order; `Event(json:)` reads it back to an equal event.
    public var jsonLine: String {
        var parts = ["\"event_id\":\(JSONText.quoted(id))", "\"type\":\"\(type.rawValue)\"", "\"timestamp\":\(timestamp)"]
        if let user { parts.append("\"\(type == .listingCreated ? "seller" : "user")\":\(JSONText.quoted(user.value))") }
        if let item { parts.append("\"item\":\(JSONText.quoted(item.value))") }
        if let surface { parts.append("\"surface\":\(JSONText.quoted(surface))") }
        if let rankingID { parts.append("\"ranking_id\":\(JSONText.quoted(rankingID))") }
        if let position { parts.append("\"position\":\(position)") }
        if let price { parts.append("\"price\":\(price)") }
        if !attributes.isEmpty {
            let pairs = attributes.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))" }
            parts.append("\"attributes\":{\(pairs.joined(separator: ","))}")
        }
        return "{" + parts.joined(separator: ",") + "}"
    }
}
