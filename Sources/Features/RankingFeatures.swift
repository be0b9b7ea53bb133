import Events
import Foundation
import RummageCore
import Storage

/// What a learned ranker reads for one (user, listing) candidate, defined once: `row` is the only code
/// that computes it, fed offline with point-in-time values (`OfflineFeatures.values` at an impression's
/// time, the listing as it was then) and online with the online store's current values and the listing's
/// current facts. The base features it reads are ordinary features of the feature set, so
/// `FeatureConsistency` (`rummage features check`) covers the ranker's inputs too.
public enum RankingFeatures {
    /// The listing attributes the ranker reads (through the user's affinities).
    public static let attributes = ["category", "brand", "size", "style"]

    /// A listing as the ranker sees it.
    public struct Listing: Sendable, Equatable {
        /// Its value of each of `RankingFeatures.attributes`, in that order (nil: none, or over 64 bytes,
        /// which serving does not keep).
        public var values: [String?]
        public var price: Double?
        /// When it was created (event time).
        public var createdAt: Int64?

        /// Keeps of `attributes` only the ranker's, as serving keeps them, so both paths see the same listing.
        public init(attributes: [String: String], price: Double?, createdAt: Int64?) {
            self.init(values: RankingFeatures.attributes.map { attributes[$0] }, price: price, createdAt: createdAt)
        }

        /// `values` in the order of `RankingFeatures.attributes`.
        public init(values: [String?], price: Double?, createdAt: Int64?) {
            precondition(values.count == RankingFeatures.attributes.count)
            self.values = values.map { $0.flatMap { $0.utf8.count <= 64 ? $0 : nil } }
            self.price = price
            self.createdAt = createdAt
        }
    }

    /// The ranker's columns, in order. Unknown inputs are NaN (the trees' "missing").
    public static let names = [
        "retrieval_score",          // the candidate's similarity from retrieval
        "user_category_affinity",   // share of the user's engagements (30 days) in the listing's category
        "user_brand_affinity",      // … in its brand
        "user_size_affinity",       // … in its size
        "user_style_affinity",      // … in its style
        "log_price",                // log(1 + price)
        "price_vs_recent",          // log(price / mean price of the user's recent listings); 0 without any
        "listing_age_hours",        // hours since the listing was created
        "item_views_1d", "item_engagements_7d",   // log(1 + count)
        "user_views_1d", "user_engagements_7d",   // log(1 + count): how active the user is
    ]

    /// The user features `row` reads, in the order it takes their values.
    public static let userFeatures = ["user_category_affinity_30d", "user_brand_affinity_30d", "user_size_affinity_30d",
                                      "user_style_affinity_30d", "user_views_1d", "user_engagements_7d", "user_recent_items"]
    /// The listing features `row` reads, in the order it takes their values.
    public static let itemFeatures = ["item_views_1d", "item_engagements_7d"]

    /// The user's side of a list's rows: their values of `userFeatures` and the mean price of their recent
    /// listings.
    public struct UserSide: Sendable {
        public var values: [FeatureValue]
        /// Over the prices above 0 of the listings of `user_recent_items` (nil: none).
        public var meanRecentPrice: Double?

        public init(values: [FeatureValue], recentPrices: [Double]) {
            precondition(values.count == userFeatures.count)
            self.values = values
            let known = recentPrices.filter { $0 > 0 }
            meanRecentPrice = known.isEmpty ? nil : known.reduce(0, +) / Double(known.count)
        }
    }

    /// A listing's side of a row: the user's share of engagements in each of its `attributes` (0: none),
    /// its price and creation time.
    public struct ListingSide: Sendable, Equatable {
        public var shares: SIMD4<Float>
        public var price: Double?
        public var createdAt: Int64?

        public init(shares: SIMD4<Float>, price: Double?, createdAt: Int64?) {
            (self.shares, self.price, self.createdAt) = (shares, price, createdAt)
        }

        /// The side of `listing` for a user whose affinity values (`userFeatures`' first four, in the order
        /// of `attributes`) are `user`: each share looked up by the listing's attribute value.
        public init(_ listing: Listing, user: [FeatureValue]) {
            precondition(attributes.count == 4)
            var shares = SIMD4<Float>.zero
            for column in 0..<4 {
                if case .distribution(let distribution) = user[column], let value = listing.values[column] {
                    shares[column] = Float(distribution[value] ?? 0)
                }
            }
            self.init(shares: shares, price: listing.price, createdAt: listing.createdAt)
        }
    }

    /// Appends a candidate's row of `names` to `rows`: the one definition of every column. `views` and
    /// `engagements` are the listing's `itemFeatures` at `time`.
    public static func appendRow(to rows: inout [Float], retrievalScore: Float, user: UserSide, listing: ListingSide,
                                 views: FeatureValue, engagements: FeatureValue, at time: Int64) {
        func count(_ value: FeatureValue) -> Float {
            if case .number(let n) = value { return Float(log1p(max(0, n))) }
            return 0
        }
        let relative: Float
        if let price = listing.price, price > 0, let mean = user.meanRecentPrice {
            relative = Float(log(price / mean))
        } else {
            relative = listing.price == nil ? .nan : 0
        }
        rows.append(retrievalScore)
        for column in 0..<4 { rows.append(listing.shares[column]) }   // in the order of `attributes`
        rows.append(listing.price.map { Float(log1p(max(0, $0))) } ?? .nan)
        rows.append(relative)
        rows.append(listing.createdAt.map { Float(Double(time - $0) / 3600) } ?? .nan)
        rows.append(count(views))
        rows.append(count(engagements))
        rows.append(count(user.values[4]))
        rows.append(count(user.values[5]))
    }

    /// The row of `names` for a candidate: `user` and `item` are the values of `userFeatures` and
    /// `itemFeatures` at `time`; `recentPrices` the prices of the listings of the user's `user_recent_items`
    /// (those known).
    public static func row(retrievalScore: Float, user: [FeatureValue], item: [FeatureValue], listing: Listing,
                           recentPrices: [Double], at time: Int64) -> [Float] {
        precondition(user.count == userFeatures.count && item.count == itemFeatures.count)
        var row: [Float] = []
        appendRow(to: &row, retrievalScore: retrievalScore, user: UserSide(values: user, recentPrices: recentPrices),
                  listing: ListingSide(listing, user: user), views: item[0], engagements: item[1], at: time)
        return row
    }

    /// Serving's rows (row-major, `names.count` columns) for `items` shown to `user` at `time`: the online
    /// store's current values of the user, the listings' values at `time`, and the listings' facts as
    /// serving remembers them (`listings` runs its argument on them, e.g. under serving's lock).
    public static func onlineRows(store: any OnlineFeatureStore, user: String, items: [String], retrievalScores: [Float], at time: Int64,
                                  listings: ((ListingFactTable) -> Void) -> Void) throws(StorageError) -> [Float] {
        let userValues = try store.currentValues(userFeatures, entity: user)
        let itemValues = try store.values(itemFeatures, entities: items, at: time)
        var sides: [ListingSide] = [], recentPrices: [Double] = []
        listings { table in
            recentPrices = recentItems(userValues).compactMap { table[$0]?.price }
            sides = table.rankingSides(items, affinities: userValues[0..<4])
        }
        let userSide = UserSide(values: userValues, recentPrices: recentPrices)
        var rows: [Float] = []
        rows.reserveCapacity(items.count * names.count)
        for k in items.indices {
            appendRow(to: &rows, retrievalScore: retrievalScores[k], user: userSide, listing: sides[k],
                      views: itemValues[0][k], engagements: itemValues[1][k], at: time)
        }
        return rows
    }

    /// A candidate shown at a time, for `offlineRows`.
    public struct Shown: Sendable {
        public var user: String
        public var item: String
        public var time: Int64
        public var retrievalScore: Float

        public init(user: String, item: String, time: Int64, retrievalScore: Float) {
            self.user = user
            self.item = item
            self.time = time
            self.retrievalScore = retrievalScore
        }
    }

    /// Training's rows for `shown`, point in time: the feature values from `events` strictly before each
    /// one's time (`OfflineFeatures`) and the listings as they were then (`ListingHistory`). Impressions
    /// feed no feature and may be in `events`.
    public static func offlineRows(events: [Event], shown: [Shown]) -> [[Float]] {
        let features = FeatureSet.marketplace, names = features.definitions.map(\.name)
        let userColumns = userFeatures.map { names.firstIndex(of: $0)! }, itemColumns = itemFeatures.map { names.firstIndex(of: $0)! }
        let history = ListingHistory(events: events)
        var rows = [[Float]](repeating: [], count: shown.count)
        OfflineFeatures.values(events: events.filter { $0.type != .impression }, features: features,
                               requests: shown.map { .init(user: UserID($0.user), item: ItemID($0.item), time: $0.time) }) { k, values in
            let s = shown[k], user = userColumns.map { values[$0] }
            rows[k] = row(retrievalScore: s.retrievalScore, user: user, item: itemColumns.map { values[$0] },
                          listing: history.listing(s.item, at: s.time),
                          recentPrices: recentItems(user).compactMap { history.price(of: $0, at: s.time) }, at: s.time)
        }
        return rows
    }

    /// The listings of a `user_recent_items` value.
    public static func recentItems(_ user: [FeatureValue]) -> [String] {
        if case .ids(let ids) = user[6] { return ids }
        return []
    }
}
