import Foundation
import RummageAPI
import RummageCore

/// The JSON form of an event (one object per line in `.jsonl` files and HTTP bodies): `EventPayload`
/// (RummageAPI), documented in docs/events.md. A listing_created's `seller` is stored as `user`.
extension Event {
    /// Parses one JSON object (`EventPayload`: unknown fields refused, so a misspelt field never goes
    /// unnoticed) and checks its fields (`validate`).
    public init(json: some DataProtocol, now: Int64, maxFutureSkew: Int64 = Event.defaultMaxFutureSkew) throws(EventError) {
        let payload: EventPayload
        do { payload = try PayloadError.decode(EventPayload.self, from: json) } catch { throw EventError(error) }
        try self.init(payload: payload, now: now, maxFutureSkew: maxFutureSkew)
    }

    /// The event a payload describes, once its type is known and its fields pass `validate`.
    public init(payload p: EventPayload, now: Int64, maxFutureSkew: Int64 = Event.defaultMaxFutureSkew) throws(EventError) {
        guard let type = EventType(rawValue: p.type) else { throw EventError(.unknownType, "event '\(p.id)': unknown type '\(p.type)'") }
        self.init(id: p.id, type: type, timestamp: p.timestamp, user: (p.user ?? p.seller).map { UserID($0) }, item: p.item.map { ItemID($0) },
                  surface: p.surface, rankingID: p.rankingID, position: p.position, price: p.price, attributes: p.attributes ?? [:])
        try validate(now: now, maxFutureSkew: maxFutureSkew)
    }

    /// Events may be at most this far ahead of the receiving clock (clock skew), in seconds.
    public static let defaultMaxFutureSkew: Int64 = 3_600

    /// Checks the fields each type needs: interactions a user and an item, impressions also
    /// `ranking_id` and `position`, listing events an item (`listing_created` a seller), user events a
    /// user; ids canonical (`CanonicalID`: 1 to 128 characters, no control characters, NFC); prices finite and non-negative; the timestamp not
    /// before 2000 nor more than `maxFutureSkew` seconds after `now`.
    public func validate(now: Int64, maxFutureSkew: Int64 = Event.defaultMaxFutureSkew) throws(EventError) {
        func checkID(_ value: String?, _ name: String) throws(EventError) {
            guard let value, let problem = CanonicalID.problem(with: value) else { return }
            throw EventError(.invalidField, "event '\(id)': '\(name)' \(problem)")
        }
        if let problem = CanonicalID.problem(with: id) { throw EventError(.invalidField, "'event_id' \(problem)") }
        try checkID(user?.value, "user")
        try checkID(item?.value, "item")
        try checkID(rankingID, "ranking_id")
        guard timestamp >= 946_684_800 else {
            throw EventError(.invalidField, "event '\(id)': timestamp \(timestamp) is before 2000-01-01")
        }
        guard timestamp <= now + maxFutureSkew else {
            // Unix milliseconds read as seconds land tens of thousands of years ahead.
            let hint = timestamp > 100_000_000_000 ? " (milliseconds? timestamps are Unix seconds: divide by 1000)" : ""
            throw EventError(.futureTimestamp, "event '\(id)': timestamp \(timestamp) is \(timestamp - now) s in the future\(hint)")
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

    /// What tells a resend from a different event under the same id: the first 128 bits of the SHA-256
    /// of every field in a fixed order (each absent, or its length and bytes; attributes sorted by name),
    /// as 32 hex digits.
    public var fingerprint: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160)
        func append(_ text: String?) {
            guard let text else { return bytes.append(0) }
            bytes.append(1)
            withUnsafeBytes(of: UInt32(text.utf8.count).littleEndian) { bytes += $0 }
            bytes += text.utf8
        }
        func append(_ number: UInt64?) {
            guard let number else { return bytes.append(0) }
            bytes.append(1)
            withUnsafeBytes(of: number.littleEndian) { bytes += $0 }
        }
        append(id)
        append(type.rawValue)
        append(UInt64(bitPattern: timestamp))
        append(user?.value)
        append(item?.value)
        append(surface)
        append(rankingID)
        append(position.map { UInt64(bitPattern: Int64($0)) })
        append(price?.bitPattern)
        append(UInt64(attributes.count))
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
            append(name)
            append(value)
        }
        return SHA256Hasher.hexString(Array(SHA256Hasher.digest(of: bytes).prefix(16)))
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
