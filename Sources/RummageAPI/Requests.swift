/// The request bodies and query filters of Rummage's serving API, encoded by `RummageClient` and decoded
/// by the server into these typed values (never untyped dictionaries). Decoding errors are
/// `PayloadError`s that name the field.

/// Optional query filters for recommendations: only listings whose attributes match exactly (any
/// categorical field of the marketplace's catalogue: `category=jeans`, `device=phone`) and whose price is
/// in range. On the wire: `category` and `size` as their own parameters, any other attribute in
/// `where=NAME:VALUE,NAME:VALUE`, and `min_price`, `max_price`.
public struct RecommendationFilters: Sendable, Equatable {
    /// Listing attributes that must match exactly.
    public var attributes: [String: String]
    public var minimumPrice: Double?
    public var maximumPrice: Double?
    /// Only listings created at or after this time (event time; surfaces of new listings set it, it is
    /// not a query parameter).
    public var createdAfter: Int64?

    public init(category: String? = nil, size: String? = nil, minimumPrice: Double? = nil, maximumPrice: Double? = nil,
                attributes: [String: String] = [:]) {
        self.attributes = attributes
        self.minimumPrice = minimumPrice
        self.maximumPrice = maximumPrice
        if let category { self.attributes["category"] = category }
        if let size { self.attributes["size"] = size }
    }

    public var category: String? {
        get { attributes["category"] }
        set { attributes["category"] = newValue }
    }

    public var size: String? {
        get { attributes["size"] }
        set { attributes["size"] = newValue }
    }

    public var isEmpty: Bool { self == RecommendationFilters() }

    /// The query parameters, in a fixed order.
    public var queryItems: [(String, String)] {
        var query: [(String, String)] = []
        if let category { query.append(("category", category)) }
        if let size { query.append(("size", size)) }
        let others = attributes.filter { $0.key != "category" && $0.key != "size" }.sorted { $0.key < $1.key }
        if !others.isEmpty { query.append(("where", others.map { "\($0.key):\($0.value)" }.joined(separator: ","))) }
        if let minimumPrice { query.append(("min_price", String(minimumPrice))) }
        if let maximumPrice { query.append(("max_price", String(maximumPrice))) }
        return query
    }

    /// Parses a `where` parameter: `NAME:VALUE` pairs separated by commas.
    public static func attributes(where text: String) throws(PayloadError) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let colon = pair.firstIndex(of: ":"), colon != pair.startIndex, pair.index(after: colon) != pair.endIndex else {
                throw PayloadError(.invalidField, "'where' must be NAME:VALUE pairs separated by commas, got '\(pair)'")
            }
            out[String(pair[..<colon])] = String(pair[pair.index(after: colon)...])
        }
        return out
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
        self.seller = try CanonicalID.canonical(seller, field: "seller")
        price = try PayloadError.optional(Double.self, c, .price, "a number")
        attributes = try PayloadError.optional([String: String].self, c, .attributes, "an object of strings") ?? [:]
    }
}

/// The states `PATCH /v1/items/{item}` can move a listing to: `relisted` is `active` (from sold);
/// `hidden` is reversible (PATCH `active` brings it back), `deleted` is for good.
public enum ListingStateChange: String, Sendable, Codable, CaseIterable {
    case sold, reserved, active, relisted, deleted, hidden
}

/// `PATCH /v1/items/{item}`: the state the listing should be in, and the seller on whose behalf (needed
/// unless the key may act for any seller; when given it must be the listing's seller).
public struct StateChangePayload: Sendable, Codable, Equatable {
    public var state: ListingStateChange
    public var seller: String?

    public init(state: ListingStateChange, seller: String? = nil) {
        self.state = state
        self.seller = seller
    }

    enum CodingKeys: String, CodingKey { case state, seller }

    public init(from decoder: any Decoder) throws {
        let c = try PayloadError.object(decoder, CodingKeys.self)
        let names = ListingStateChange.allCases.map(\.rawValue).sorted().joined(separator: ", ")
        guard let name = try? c.decode(String.self, forKey: .state), let state = ListingStateChange(rawValue: name) else {
            throw PayloadError(.invalidField, "'state' must be one of \(names)")
        }
        self.state = state
        seller = try PayloadError.optional(String.self, c, .seller, "a string").map { value throws(PayloadError) in
            try CanonicalID.canonical(value, field: "seller")
        }
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
