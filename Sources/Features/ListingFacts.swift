import CVectorKernels
import Events
import RummageCore

/// What is remembered of every listing from its events, as serving keeps it: the online side of the
/// listing facts that query filters, re-ranking and a learned ranker read. `ListingHistory` is the
/// offline side (each listing as of a time); `FeatureConsistency.checkRankingRows` compares the two.
///
/// Attributes are kept as ids of distinct name-value pairs (a few bytes per listing, not a dictionary):
/// single-word values of at most 64 bytes (categorical fields; titles and descriptions are not kept) and
/// the attributes a ranker reads. The price is the latest by event time, so a price change that arrives
/// before the listing's creation is not overwritten by it. Facts are rows of an array found through one
/// dictionary, so a ranker reading hundreds of listings copies nothing that is reference-counted.
public struct ListingFactTable: Sendable {
    public struct Facts: Sendable {
        /// Ids of `pairs`.
        public var pairs: [Int32] = []
        /// For each of `RankingFeatures.attributes`, the id of its pair (−1: none).
        var rankerPairs = SIMD4<Int32>(repeating: -1)
        public var price: Double?
        /// Event time of the price kept.
        var priceTime = Int64.min
        /// When the listing was created (event time).
        public var createdAt: Int64?
        /// Who listed it.
        public var seller: String?
    }

    public private(set) var pairIDs: [String: Int32] = [:]
    /// Each pair id's attribute name and value.
    public private(set) var pairs: [(name: String, value: String)] = []
    /// Each listing's row in `rows`.
    private var rowOf = DenseIndex<String>()
    private var rows: [Facts] = []
    /// By pair id, the pair's attribute's place in `RankingFeatures.attributes` (nil: not read by a ranker).
    private var rankerColumn: [Int?] = []

    public init() {}

    public static func key(_ name: String, _ value: String) -> String { name + "\u{1F}" + value }

    /// Records a `listing_created` or `price_changed` event (others are ignored).
    public mutating func remember(_ event: Event) {
        guard let item = event.item?.value else { return }
        switch event.type {
        case .listingCreated:
            let kept = event.attributes.filter {
                $0.value.utf8.count <= 64 && (!$0.value.contains(" ") || RankingFeatures.attributes.contains($0.key))
            }
            let ids = kept.map { name, value -> Int32 in
                let key = Self.key(name, value)
                if let id = pairIDs[key] { return id }
                let id = Int32(pairIDs.count)
                pairIDs[key] = id
                pairs.append((name, value))
                rankerColumn.append(RankingFeatures.attributes.firstIndex(of: name))
                return id
            }
            let row = self.row(item)
            (rows[row].pairs, rows[row].createdAt, rows[row].seller) = (ids, event.timestamp, event.user?.value)
            rows[row].rankerPairs = SIMD4(repeating: -1)
            for id in ids {
                if let column = rankerColumn[Int(id)] { rows[row].rankerPairs[column] = id }
            }
            if event.timestamp >= rows[row].priceTime { (rows[row].price, rows[row].priceTime) = (event.price, event.timestamp) }
        case .priceChanged:
            let row = self.row(item)
            if event.timestamp >= rows[row].priceTime { (rows[row].price, rows[row].priceTime) = (event.price, event.timestamp) }
        default:
            break
        }
    }

    /// The row of `item`, added empty when it has none.
    private mutating func row(_ item: String) -> Int {
        if let row = rowOf[item] { return Int(row) }
        rowOf.set(item, to: Int32(rows.count))
        rows.append(Facts())
        return rows.count - 1
    }

    /// What is remembered of `item` (nil: no event of it).
    public subscript(item: String) -> Facts? { rowOf[item].map { rows[Int($0)] } }

    /// The listings with facts, in no particular order.
    public var items: [String] { rowOf.keys }

    /// The listing's remembered attributes.
    public func attributes(of item: String) -> [String: String] {
        var attributes: [String: String] = [:]
        for id in self[item]?.pairs ?? [] { attributes[pairs[Int(id)].name] = pairs[Int(id)].value }
        return attributes
    }

    /// What a learned ranker reads of each listing (`RankingFeatures.ListingSide`) for a user whose
    /// affinity values (one per `RankingFeatures.attributes`) are `affinities`. The user's shares are put in
    /// an array by pair id once, so each listing costs one look-up of its facts and a few array reads.
    public func rankingSides(_ items: [String], affinities: ArraySlice<FeatureValue>) -> [RankingFeatures.ListingSide] {
        var shareByPair = [Float](repeating: 0, count: pairs.count)
        for (name, value) in zip(RankingFeatures.attributes, affinities) {
            guard case .distribution(let shares) = value else { continue }
            for (value, share) in shares {
                if let id = pairIDs[Self.key(name, value)] { shareByPair[Int(id)] = Float(share) }
            }
        }
        let found = rowOf.indices(of: items)
        rows.withUnsafeBufferPointer { rows in
            for row in found { if let row { rummage_prefetch(rows.baseAddress! + Int(row), MemoryLayout<Facts>.stride) } }
        }
        return found.map { row in
            guard let row = row.map(Int.init) else { return RankingFeatures.ListingSide(shares: .zero, price: nil, createdAt: nil) }
            let ids = rows[row].rankerPairs
            var shares = SIMD4<Float>.zero
            for column in 0..<4 where ids[column] >= 0 { shares[column] = shareByPair[Int(ids[column])] }
            return RankingFeatures.ListingSide(shares: shares, price: rows[row].price, createdAt: rows[row].createdAt)
        }
    }
}

/// Every listing as it was at any time, from the event log: the offline side of `ListingFactTable`
/// (attributes and creation from `listing_created`, prices as they changed).
public struct ListingHistory: Sendable {
    private var attributes: [String: [String: String]] = [:]
    private var created: [String: Int64] = [:]
    private var prices: [String: [(time: Int64, price: Double)]] = [:]

    public init(events: [Event]) {
        for event in OfflineFeatures.timeOrdered(events.filter { $0.type == .listingCreated || $0.type == .priceChanged }) {
            guard let item = event.item?.value else { continue }
            if event.type == .listingCreated {
                attributes[item] = event.attributes
                created[item] = event.timestamp
            }
            if let price = event.price { prices[item, default: []].append((event.timestamp, price)) }
        }
    }

    /// The listings known (created) in the history.
    public var items: [String] { created.keys.sorted() }

    /// The listing's price at `time` (the latest set at or before it).
    public func price(of item: String, at time: Int64) -> Double? { prices[item]?.last { $0.time <= time }?.price }

    /// The listing as a ranker saw it at `time`.
    public func listing(_ item: String, at time: Int64) -> RankingFeatures.Listing {
        RankingFeatures.Listing(attributes: attributes[item] ?? [:], price: price(of: item, at: time), createdAt: created[item])
    }
}
