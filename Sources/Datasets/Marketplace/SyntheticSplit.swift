import Catalogue
import Evaluation
import RummageCore

/// Loads what `rummage generate` wrote and splits it in time, as a marketplace would evaluate.
///
/// - Split time: the timestamp at the `trainFraction` quantile of all events. Events before it are
///   training data, weighted by funnel depth (view 1, like 2, save 3, add_to_bag 4, purchase 5;
///   repeated pairs keep the deepest).
/// - Held out: listings a user liked, saved, bagged or bought at or after the split time and had
///   not interacted with before it.
/// - Candidates: every listing except those sold before the split time (one-off listings can't be
///   recommended once sold). Protocol: full ranking with each user's training items masked.
/// - Slices: `cold` (listings created at or after the split, so absent from training) and `warm`, both
///   found in the full ranking; `cold-only`, the cold listings ranked among the cold candidates alone
///   (a "new in" feed), which measures how well content alone orders new listings; `new-users`
///   (users without training interactions); `category=…` and `price_band=…` for each value.
public enum SyntheticSplit {
    public static func load(directory: String, trainFraction: Double = 0.9) throws(DataError) -> Split {
        let data = try MarketplaceData.load(directory: directory)
        guard !data.timestamps.isEmpty else { throw DataError(.malformedLine, "has no events", path: directory + "/events.csv") }
        return split(data, trainFraction: trainFraction, slices: CatalogueSchema.secondhandFashion.slices, source: "synthetic")
    }

    /// The temporal split of a marketplace's interactions (at least one), with slices for each value of
    /// the `slices` listing fields. `source` names the data in the split's name. A `trainFraction` of 1
    /// trains on every interaction (a refit) and holds nothing out; candidates are then the listings
    /// still for sale.
    public static func split(_ data: MarketplaceData, trainFraction: Double = 0.9, slices sliceFields: [String], source: String) -> Split {
        precondition(trainFraction > 0 && trainFraction <= 1 && !data.timestamps.isEmpty)
        let n = data.timestamps.count
        let splitTime = trainFraction == 1 ? data.timestamps.max()! + 1 : data.timestamps.sorted()[min(n - 1, Int(Double(n) * trainFraction))]

        var soldBeforeSplit = [Bool](repeating: false, count: data.itemIDs.count)
        var trainUsers: [Int32] = [], trainItems: [Int32] = [], trainWeights: [Float] = []
        for e in 0..<n where data.timestamps[e] < splitTime {
            trainUsers.append(data.users[e]); trainItems.append(data.items[e])
            trainWeights.append(Float(data.kinds[e].rawValue) + 1)
            if data.kinds[e] == .purchase { soldBeforeSplit[Int(data.items[e])] = true }
        }
        let train = InteractionMatrix(userCount: data.userIDs.count, itemCount: data.itemIDs.count, users: trainUsers,
                                      items: trainItems, weights: trainWeights, duplicates: .maximum)
        var testUsers: [Int32] = [], testItems: [Int32] = []
        for e in 0..<n where data.timestamps[e] >= splitTime && data.kinds[e] != .view {
            let u = data.users[e], i = data.items[e]
            if soldBeforeSplit[Int(i)] || train.contains(UserIndex(u), ItemIndex(i)) { continue }
            testUsers.append(u); testItems.append(i)
        }
        let heldOut = SparseRows(rowCount: train.userCount, columnCount: train.itemCount, rows: testUsers,
                                 columns: testItems, duplicates: .maximum)
        // Cold listings appeared at or after the split: no training event can mention them.
        let cold = data.itemCreatedAt.map { $0 >= splitTime }
        // New users: no training interaction at all. Categories and price bands: the listing's.
        let newUsers = (0..<train.userCount).map { train.byUser.count(of: $0) == 0 }
        let everyItem = [Bool](repeating: true, count: train.itemCount)
        var slices: [FullRankingProtocol.Slice] = [.init("cold", items: cold), .init("warm", items: cold.map { !$0 }),
                                                   .init("cold-only", items: cold, ranking: .withinSlice),
                                                   .init("new-users", items: everyItem, users: newUsers)]
        for name in sliceFields {
            guard let field = data.itemFeatures.fields.first(where: { $0.name == name }) else { continue }
            for (v, value) in field.vocabulary.enumerated() {
                let members = (0..<train.itemCount).map { field.values.columns(of: $0).contains(Int32(v)) }
                slices.append(.init("\(name)=\(value)", items: members))
            }
        }
        let evaluation = FullRankingProtocol(heldOut: heldOut, excluded: train.byUser,
                                             eligible: soldBeforeSplit.map { !$0 }, cutoffs: [10, 20], slices: slices)
        let percent = Int((trainFraction * 100).rounded())
        var split = Split(name: "\(source) (temporal split at \(percent)% of events)", train: train,
                          evaluation: .fullRanking(evaluation), userFeatures: data.userFeatures, itemFeatures: data.itemFeatures)
        split.marketplace = (data, splitTime)
        return split
    }
}

/// The parsed files of a generated marketplace: ids in file order and events as parallel arrays.
public struct MarketplaceData: Sendable {
    public var userIDs: IDMap<UserID>
    public var userJoinedAt: [Int64]
    public var itemIDs: IDMap<ItemID>
    public var itemCreatedAt: [Int64]
    /// The listings file as read (sellers, prices, content names).
    public var listings: ListingsFile
    /// Listing content: category, brand, size, condition, colour, style, price band, title tokens.
    public var itemFeatures: CategoricalFeatures
    /// Profile: declared top, waist and shoe sizes, seller flag.
    public var userFeatures: CategoricalFeatures
    public var timestamps: [Int64]
    public var users: [Int32]
    public var items: [Int32]
    public var kinds: [EventKind]

    /// Reads `users.csv`, `listings.csv` and `events.csv` from `directory`, checking headers, ids and
    /// kinds; errors name the file and line.
    public static func load(directory: String) throws(DataError) -> MarketplaceData {
        let usersFile = try TextFile(path: DataDirectory.find(["users.csv"], in: directory))
        var seen = Set<UserID>()
        var rows: [(id: UserID, joinedAt: Int64, profile: [String])] = []  // profile: top, waist, shoe size, seller flag
        try records(usersFile, header: Marketplace.usersHeader) { (line, fields) throws(DataError) in
            let id = UserID(fields.string(0))
            guard seen.insert(id).inserted else { throw usersFile.error(line: line, "duplicate user_id '\(id)'") }
            guard let joined = fields.int(1) else {
                throw usersFile.error(line: line, "joined_at is not a Unix time: '\(fields.string(1))'")
            }
            rows.append((id, Int64(joined), [fields.string(2), fields.string(3), fields.string(4), fields.string(5)]))
        }
        // Users are indexed in the order they joined (file order among equal times), the order a log
        // replays them in, so a split from the ingested events indexes them alike (`EventLogSplit`).
        rows = rows.indices.sorted { (rows[$0].joinedAt, $0) < (rows[$1].joinedAt, $1) }.map { rows[$0] }
        var userIDs = IDMap<UserID>()
        for row in rows { userIDs.insert(row.id) }
        let joinedAt = rows.map(\.joinedAt), profile = rows.map(\.profile)
        let listings = try ListingsFile.read(path: DataDirectory.find(["listings.csv"], in: directory))
        let itemIDs = listings.ids
        let userFieldNames = ["top_size", "waist_size", "shoe_size", "is_seller"]
        let userFeatures = CategoricalFeatures(entityCount: profile.count, fields: userFieldNames.enumerated().map { f, name in
            CategoricalFeatures.Field(name: name, entityValues: profile.map { [$0[f]] })
        })
        let eventsFile = try TextFile(path: DataDirectory.find(["events.csv"], in: directory))
        var data = MarketplaceData(userIDs: userIDs, userJoinedAt: joinedAt, itemIDs: itemIDs,
                                   itemCreatedAt: listings.createdAt, listings: listings,
                                   itemFeatures: listings.features,
                                   userFeatures: userFeatures, timestamps: [], users: [], items: [], kinds: [])
        let kindByName = Dictionary(uniqueKeysWithValues: EventKind.allCases.map { ($0.description, $0) })
        try records(eventsFile, header: Marketplace.eventsHeader) { (line, fields) throws(DataError) in
            guard let t = fields.int(1) else {
                throw eventsFile.error(line: line, "timestamp is not a Unix time: '\(fields.string(1))'")
            }
            guard let u = userIDs.index(of: UserID(fields.string(2))) else {
                throw eventsFile.error(line: line, "unknown user_id '\(fields.string(2))'")
            }
            guard let i = itemIDs.index(of: ItemID(fields.string(3))) else {
                throw eventsFile.error(line: line, "unknown item_id '\(fields.string(3))'")
            }
            guard let kind = kindByName[fields.string(4)] else {
                throw eventsFile.error(line: line, "unknown kind '\(fields.string(4))'; kinds: \(MarketplaceVocabulary.eventKinds.joined(separator: ", "))")
            }
            data.timestamps.append(Int64(t)); data.users.append(u); data.items.append(i); data.kinds.append(kind)
        }
        return data
    }

    /// CSV records after a header that must start with `header`'s columns.
    static func records(_ file: TextFile, header: String,
                        _ body: (Int, DelimitedFields) throws(DataError) -> Void) throws(DataError) {
        let columns = header.split(separator: ",").count
        try file.forEachLine { (line, bytes) throws(DataError) in
            if line == 1 {
                let found = String(decoding: bytes, as: UTF8.self)
                guard found.hasPrefix(header) else {
                    throw file.error(line: 1, "expected header '\(header)', found '\(found)'")
                }
                return
            }
            if bytes.isEmpty { return }
            let fields = DelimitedFields(bytes, delimiter: [0x2C], csvQuotes: true)
            guard fields.count >= columns else {
                throw file.error(line: line, "expected \(columns) fields, found \(fields.count)")
            }
            try body(line, fields)
        }
        if file.bytes.isEmpty { throw DataError(.malformedLine, "is empty (expected header '\(header)')", path: file.path) }
    }
}

/// A `listings.csv` file (see docs/data-format.md): ids, creation times and the content features the
/// models read. Also used to embed new listings from content alone.
public struct ListingsFile: Sendable {
    /// The content fields: the model inputs of the generator's schema (`CatalogueSchema.secondhandFashion`).
    public static let featureNames = CatalogueSchema.secondhandFashion.listingInputs

    public var ids: IDMap<ItemID>
    public var createdAt: [Int64]
    public var sellers: [UserID]
    public var prices: [Double]
    /// Fields named `featureNames`: one value each, several title tokens.
    public var features: CategoricalFeatures
    /// Per listing, the value names of each field in `featureNames` order.
    public var content: [[[String]]]

    public static func read(path: String) throws(DataError) -> ListingsFile {
        let file = try TextFile(path: path)
        var ids = IDMap<ItemID>()
        var createdAt: [Int64] = []
        var sellers: [UserID] = [], prices: [Double] = []
        var content: [[[String]]] = []
        try MarketplaceData.records(file, header: Marketplace.listingsHeader) { (line, fields) throws(DataError) in
            let id = ItemID(fields.string(0))
            guard ids.index(of: id) == nil else { throw file.error(line: line, "duplicate item_id '\(id)'") }
            guard let t = fields.int(2) else {
                throw file.error(line: line, "created_at is not a Unix time: '\(fields.string(2))'")
            }
            guard let price = fields.double(8), price >= 0 else {
                throw file.error(line: line, "price is not a non-negative number: '\(fields.string(8))'")
            }
            ids.insert(id)
            createdAt.append(Int64(t))
            sellers.append(UserID(fields.string(1)))
            prices.append(price)
            let attributes = ["category": fields.string(3), "brand": fields.string(4), "size": fields.string(5),
                              "condition": fields.string(6), "colour": fields.string(7), "style": fields.string(9), "title": fields.string(10)]
            do throws(SchemaError) {
                content.append(try CatalogueSchema.secondhandFashion.listingTokens(attributes: attributes, price: price))
            } catch {
                throw file.error(line: line, error.description)
            }
        }
        let features = CategoricalFeatures(entityCount: content.count, fields: featureNames.enumerated().map { f, name in
            CategoricalFeatures.Field(name: name, entityValues: content.map { $0[f] })
        })
        return ListingsFile(ids: ids, createdAt: createdAt, sellers: sellers, prices: prices, features: features,
                            content: content)
    }
}
