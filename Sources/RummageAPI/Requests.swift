/// The request bodies and query filters of Rummage's serving API, encoded by `RummageClient` and decoded
/// by the server into these typed values (never untyped dictionaries). Decoding errors are
/// `PayloadError`s that name the field.

/// Optional query filters for recommendations: only listings of this category and size, and within this
/// price range (`category`, `size`, `min_price`, `max_price`).
public struct RecommendationFilters: Sendable, Equatable {
    public var category: String?
    public var size: String?
    public var minimumPrice: Double?
    public var maximumPrice: Double?

    public init(category: String? = nil, size: String? = nil, minimumPrice: Double? = nil, maximumPrice: Double? = nil) {
        self.category = category
        self.size = size
        self.minimumPrice = minimumPrice
        self.maximumPrice = maximumPrice
    }

    public var isEmpty: Bool { self == RecommendationFilters() }

    /// The query parameters, in a fixed order.
    public var queryItems: [(String, String)] {
        var query: [(String, String)] = []
        if let category { query.append(("category", category)) }
        if let size { query.append(("size", size)) }
        if let minimumPrice { query.append(("min_price", String(minimumPrice))) }
        if let maximumPrice { query.append(("max_price", String(maximumPrice))) }
        return query
    }
}

/// `PUT /v1/items/{item}`: a new listing.
public struct ListingPayload: Sendable, Codable, Equatable {
    public var seller: String
    public var price: Double?
    public var attributes: [String: String]

    public init(seller: String, price: Double? = nil, attributes: [String: String] = [:]) {
        self.seller = seller
        self.price = price
        self.attributes = attributes
    }

    enum CodingKeys: String, CodingKey { case seller, price, attributes }

    public init(from decoder: any Decoder) throws {
        let c = try PayloadError.object(decoder, CodingKeys.self)
        guard let seller = try PayloadError.optional(String.self, c, .seller, "a string") else {
            throw PayloadError(.missingField, "a listing needs 'seller'")
        }
        self.seller = seller
        price = try PayloadError.optional(Double.self, c, .price, "a number")
        attributes = try PayloadError.optional([String: String].self, c, .attributes, "an object of strings") ?? [:]
    }
}

/// The states `PATCH /v1/items/{item}` can move a listing to; `hidden` is `deleted` for serving.
public enum ListingStateChange: String, Sendable, Codable, CaseIterable {
    case sold, reserved, active, relisted, deleted, hidden
}

/// `PATCH /v1/items/{item}`.
public struct StateChangePayload: Sendable, Codable, Equatable {
    public var state: ListingStateChange

    public init(state: ListingStateChange) { self.state = state }

    enum CodingKeys: String, CodingKey { case state }

    public init(from decoder: any Decoder) throws {
        let c = try PayloadError.object(decoder, CodingKeys.self)
        let names = ListingStateChange.allCases.map(\.rawValue).sorted().joined(separator: ", ")
        guard let name = try? c.decode(String.self, forKey: .state), let state = ListingStateChange(rawValue: name) else {
            throw PayloadError(.invalidField, "'state' must be one of \(names)")
        }
        self.state = state
    }
}

/// `POST /v1/admin/reload`: the alias (or version) to reload; absent: `champion`.
public struct ReloadPayload: Sendable, Codable, Equatable {
    public var alias: String?

    public init(alias: String? = nil) { self.alias = alias }

    enum CodingKeys: String, CodingKey { case alias }

    public init(from decoder: any Decoder) throws {
        let c = try PayloadError.object(decoder, CodingKeys.self)
        alias = try PayloadError.optional(String.self, c, .alias, "a non-empty string")
        if alias?.isEmpty == true { throw PayloadError(.invalidField, "'alias' must be a non-empty string") }
    }
}
