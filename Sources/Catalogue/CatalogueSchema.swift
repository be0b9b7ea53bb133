import Foundation

/// A marketplace's declared catalogue: the fields of its listings and users, each with a type, and the
/// fields derived from others. One file (JSON, docs/bring-your-own-data.md), validated strictly: an
/// unknown key or type is an error naming it.
///
/// The schema is the one piece of code that turns a listing's or user's attributes into the tokens
/// models read: at ingest (`validate`: events whose attributes break it are refused with the field and
/// the reason), in training (datasets from the event log or generated files) and at serving (listings
/// created after training are embedded from the same tokens). Nothing in training or serving names a
/// marketplace's fields.
///
/// Field types and their tokens:
/// - `categorical`: one value, its own token;
/// - `multi`: several values separated by commas, one token each;
/// - `numeric`: a number; with `buckets` (ascending boundaries) the token is the bucket index (the count
///   of boundaries at or below the value), without them the field is checked but not a model input;
/// - `text`: words, lowercased, one token each;
/// - `timestamp`: Unix seconds or ISO 8601, checked but not a model input.
/// A field with `from` is derived: computed from the event's `price` (`"from": "price"`) or another
/// attribute, never sent by clients.
public struct CatalogueSchema: Sendable, Equatable {
    public enum FieldType: String, Sendable, CaseIterable {
        case categorical, multi, numeric, text, timestamp
    }

    public struct Field: Sendable, Equatable {
        public var name: String
        public var type: FieldType
        /// `numeric`: ascending bucket boundaries.
        public var buckets: [Double]?
        /// Derived from `price` or another attribute.
        public var from: String?
        /// Events creating the entity must carry it (derived fields: their source).
        public var required: Bool

        public init(name: String, type: FieldType, buckets: [Double]? = nil, from: String? = nil, required: Bool = false) {
            self.name = name
            self.type = type
            self.buckets = buckets
            self.from = from
            self.required = required
        }

        /// Whether the field yields tokens a model reads.
        public var isModelInput: Bool {
            switch type {
            case .categorical, .multi, .text: true
            case .numeric: buckets != nil
            case .timestamp: false
            }
        }
    }

    public var name: String
    public var listing: [Field]
    public var user: [Field]
    /// Listing fields whose values become evaluation slices (`category=jeans`).
    public var slices: [String]

    public init(name: String, listing: [Field], user: [Field], slices: [String] = []) {
        self.name = name
        self.listing = listing
        self.user = user
        self.slices = slices
    }

    /// A short hash of the schema's content: stored with every model trained under it.
    public var version: String {
        func describe(_ fields: [Field]) -> String {
            fields.map { "\($0.name):\($0.type.rawValue):\($0.buckets ?? []):\($0.from ?? ""):\($0.required)" }.joined(separator: ";")
        }
        let text = "\(name)|\(describe(listing))|\(describe(user))|\(slices.joined(separator: ","))"
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return String(hash, radix: 16)
    }

    /// The listing fields models read, in schema order (the content fields of a two-tower item tower).
    public var listingInputs: [String] { listing.filter(\.isModelInput).map(\.name) }
    /// The user fields models read, in schema order.
    public var userInputs: [String] { user.filter(\.isModelInput).map(\.name) }

    // MARK: Tokens

    /// The tokens of each model-input listing field (`listingInputs` order) from an event's attributes
    /// and price. Throws the field and the reason when a value breaks the schema.
    public func listingTokens(attributes: [String: String], price: Double?) throws(SchemaError) -> [[String]] {
        try tokens(listing, attributes: attributes, price: price, entity: "listing")
    }

    /// The tokens of each model-input user field (`userInputs` order).
    public func userTokens(attributes: [String: String]) throws(SchemaError) -> [[String]] {
        try tokens(user, attributes: attributes, price: nil, entity: "user")
    }

    /// Checks a creating event's attributes: every attribute is a field of the schema (and not a derived
    /// one), every value has its field's type, every required field is there.
    public func validate(listingAttributes attributes: [String: String], price: Double?) throws(SchemaError) {
        try check(listing, attributes: attributes, price: price, entity: "listing")
        _ = try listingTokens(attributes: attributes, price: price)
    }

    /// Checks a user's attributes (`user_created`, `user_attributes_changed`); `complete` requires the
    /// required fields (a change may carry some fields only).
    public func validate(userAttributes attributes: [String: String], complete: Bool) throws(SchemaError) {
        try check(complete ? user : user.map { var f = $0; f.required = false; return f }, attributes: attributes, price: nil, entity: "user")
        _ = try userTokens(attributes: attributes)
    }

    private func check(_ fields: [Field], attributes: [String: String], price: Double?, entity: String) throws(SchemaError) {
        let byName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for key in attributes.keys.sorted() {
            guard let field = byName[key] else {
                throw SchemaError(field: key, "is not a \(entity) field of schema '\(name)' (fields: \(fields.filter { $0.from == nil }.map(\.name).joined(separator: ", ")))")
            }
            if let from = field.from { throw SchemaError(field: key, "is derived from \(from); do not send it") }
        }
        for field in fields where field.required {
            let source = field.from ?? field.name
            let present = source == "price" ? price != nil : !(attributes[source] ?? "").trimmingCharacters(in: .whitespaces).isEmpty
            if !present { throw SchemaError(field: field.name, "is required by schema '\(name)'\(field.from.map { " (from \($0))" } ?? "")") }
        }
    }

    private func tokens(_ fields: [Field], attributes: [String: String], price: Double?, entity: String) throws(SchemaError) -> [[String]] {
        var out: [[String]] = []
        for field in fields {
            let raw: String?
            if let from = field.from {
                raw = from == "price" ? price.map { String($0) } : attributes[from]
            } else {
                raw = attributes[field.name]
            }
            let value = raw?.trimmingCharacters(in: .whitespaces) ?? ""
            var tokens: [String] = []
            switch field.type {
            case .categorical:
                if !value.isEmpty { tokens = [value] }
            case .multi:
                tokens = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            case .text:
                tokens = value.lowercased().split(whereSeparator: { $0.isWhitespace }).map(String.init)
            case .numeric:
                if !value.isEmpty {
                    guard let x = Double(value), x.isFinite else { throw SchemaError(field: field.name, "must be a number, got '\(value)'") }
                    if let buckets = field.buckets { tokens = [String(buckets.filter { x >= $0 }.count)] }
                }
            case .timestamp:
                if !value.isEmpty && Int64(value) == nil && ISO8601DateFormatter().date(from: value) == nil {
                    throw SchemaError(field: field.name, "must be Unix seconds or an ISO 8601 time, got '\(value)'")
                }
            }
            if field.isModelInput { out.append(tokens) }
        }
        return out
    }
}

/// Why a schema file or an entity's attributes were refused: the field (or key) and the reason, in one
/// line.
public struct SchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String?
    public var reason: String

    public init(field: String? = nil, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { field.map { "'\($0)' \(reason)" } ?? reason }
}
