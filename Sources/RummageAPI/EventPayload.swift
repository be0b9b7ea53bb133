import Foundation

/// The JSON form of one event: a line of an events `.jsonl` file, or an element of `POST /v1/events`
/// (docs/events.md). Fields: `event_id`, `type`, `timestamp` (Unix seconds, or an ISO 8601 string such as
/// `2026-01-01T12:00:00Z`), `user`, `item`, `seller` (listing_created: the seller), `surface`,
/// `ranking_id`, `position`, `price`, `attributes` (an object of strings).
///
/// Decoding checks types only (unknown fields refused, so a misspelt field never goes unnoticed; a
/// fractional timestamp or position refused); what each event type needs is checked by `Events.Event`.
public struct EventPayload: Sendable, Codable, Equatable {
    public var id: String
    public var type: String
    /// Unix seconds.
    public var timestamp: Int64
    public var user: String?
    /// The seller of a `listing_created` (give `user` or `seller`, not both).
    public var seller: String?
    public var item: String?
    public var price: Double?
    public var surface: String?
    public var rankingID: String?
    public var position: Int?
    public var attributes: [String: String]?

    public init(id: String, type: String, timestamp: Int64, user: String? = nil, seller: String? = nil, item: String? = nil,
                price: Double? = nil, surface: String? = nil, rankingID: String? = nil, position: Int? = nil,
                attributes: [String: String]? = nil) {
        self.id = id
        self.type = type
        self.timestamp = timestamp
        self.user = user
        self.seller = seller
        self.item = item
        self.price = price
        self.surface = surface
        self.rankingID = rankingID
        self.position = position
        self.attributes = attributes
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id = "event_id", rankingID = "ranking_id"
        case type, timestamp, user, seller, item, price, surface, position, attributes
    }

    /// The field names an event may have.
    public static let fieldNames: Set<String> = Set(CodingKeys.allCases.map(\.stringValue))

    public init(from decoder: any Decoder) throws {
        let all = try PayloadError.object(decoder, AnyCodingKey.self)
        if let unknown = all.allKeys.map(\.stringValue).filter({ !Self.fieldNames.contains($0) }).sorted().first {
            throw PayloadError(.invalidField, "unknown field '\(unknown)'")
        }
        let c = try PayloadError.object(decoder, CodingKeys.self)
        guard let sent = try PayloadError.optional(String.self, c, .id, "a string") else {
            throw PayloadError(.missingField, "missing 'event_id'")
        }
        let id = try CanonicalID.canonical(sent, field: "event_id")
        let prefix = "event '\(id)': "
        /// An optional id field, in NFC.
        func idField(_ key: CodingKeys) throws(PayloadError) -> String? {
            guard let value = try PayloadError.optional(String.self, c, key, "a string", prefix: prefix) else { return nil }
            do { return try CanonicalID.canonical(value, field: key.stringValue) } catch { throw PayloadError(error.kind, prefix + error.message) }
        }
        guard let type = try PayloadError.optional(String.self, c, .type, "a string", prefix: prefix) else {
            throw PayloadError(.missingField, prefix + "missing 'type'")
        }
        self.id = id
        self.type = type
        if let text = try? c.decode(String.self, forKey: .timestamp) {
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions.insert(.withFractionalSeconds)
            guard let date = ISO8601DateFormatter().date(from: text) ?? fractional.date(from: text) else {
                throw PayloadError(.invalidField, prefix + "'timestamp' is not ISO 8601: '\(text)'")
            }
            timestamp = Int64(date.timeIntervalSince1970.rounded(.down))
        } else if let seconds = try PayloadError.optional(Double.self, c, .timestamp, "a number or an ISO 8601 string", prefix: prefix) {
            guard seconds == seconds.rounded(), abs(seconds) < 1e15 else {
                throw PayloadError(.invalidField, prefix + "'timestamp' must be whole Unix seconds")
            }
            timestamp = Int64(seconds)
        } else {
            throw PayloadError(.missingField, prefix + "missing 'timestamp'")
        }
        user = try idField(.user)
        seller = try idField(.seller)
        if user != nil && seller != nil { throw PayloadError(.invalidField, prefix + "give 'user' or 'seller', not both") }
        item = try idField(.item)
        surface = try PayloadError.optional(String.self, c, .surface, "a string", prefix: prefix)
        rankingID = try idField(.rankingID)
        price = try PayloadError.optional(Double.self, c, .price, "a number", prefix: prefix)
        if let p = try PayloadError.optional(Double.self, c, .position, "a non-negative integer", prefix: prefix) {
            guard p == p.rounded(), p >= 0, p < 1e9 else {
                throw PayloadError(.invalidField, prefix + "'position' must be a non-negative integer")
            }
            position = Int(p)
        }
        attributes = try PayloadError.optional([String: String].self, c, .attributes, "an object of strings", prefix: prefix)
    }
}
