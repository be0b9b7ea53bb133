import Datasets
import Events
import Features
import RummageCore
import TwoTower

/// The two-tower model's time-varying inputs on a generated marketplace, from the feature store:
/// the user's recent items and category affinity, and the listing's popularity windows. Training rows
/// are computed point-in-time at each training pair's first interaction (only events strictly before
/// it); serving rows at the split time, as the online store holds them then.
enum MarketplaceDynamicFeatures {
    static let featureNames = ["user_recent_items", "user_category_affinity_30d", "item_engagements_7d", "item_views_1d"]

    static func build(split: Split, data: MarketplaceData, splitTime: Int64) -> DynamicFeatures {
        let train = split.train
        let features = FeatureSet(FeatureSet.marketplace.definitions.filter { featureNames.contains($0.name) })
        var events: [Event] = []
        MarketplaceEvents.forEach(data) { if $0.timestamp < splitTime { events.append($0) } }

        // Each training pair's first interaction time.
        var firstTime: [Int64: Int64] = [:]
        for e in 0..<data.timestamps.count where data.timestamps[e] < splitTime {
            let key = Int64(data.users[e]) << 32 | Int64(data.items[e])
            if firstTime[key] == nil { firstTime[key] = data.timestamps[e] }
        }
        var requests: [OfflineFeatures.Request] = []
        requests.reserveCapacity(train.interactionCount)
        for u in 0..<train.userCount {
            for e in train.byUser.range(of: u) {
                let i = train.byUser.columns[e]
                requests.append(.init(user: data.userIDs.ids[u], item: data.itemIDs.ids[Int(i)],
                                      time: firstTime[Int64(u) << 32 | Int64(i)] ?? splitTime))
            }
        }
        let categories = IDMap(Array(Set(data.listings.content.map { $0[0].first ?? "" })).sorted())
        let tokens = Tokens(items: data.itemIDs, categories: categories)
        var trainingTokens = [[[Int32]]](repeating: [[], [], [], []], count: requests.count)
        OfflineFeatures.values(events: events, features: features, requests: requests) { k, values in
            trainingTokens[k] = zip(features.definitions, values).map { tokens.bag($0.name, $1) }
        }
        // Serving time: the online store fed everything before the split.
        let store = InMemoryFeatureStore(features: features)
        store.apply(events)
        func servingRows(_ count: Int, _ name: String, id: (Int) -> String) -> SparseRows {
            tokens.rows((0..<count).map { tokens.bag(name, store.value(name, entity: id($0), at: splitTime)) }, name)
        }
        func field(_ f: Int, count: Int, id: @escaping (Int) -> String) -> DynamicFeatures.Field {
            let name = features.definitions[f].name
            return DynamicFeatures.Field(name: name, vocabularySize: tokens.vocabularySize(name),
                                         training: tokens.rows(trainingTokens.map { $0[f] }, name),
                                         serving: servingRows(count, name, id: id))
        }
        let userCount = train.userCount, itemCount = train.itemCount
        var user: [DynamicFeatures.Field] = [], item: [DynamicFeatures.Field] = []
        for (f, definition) in features.definitions.enumerated() {
            if definition.entity == .user {
                user.append(field(f, count: userCount) { data.userIDs.ids[$0].value })
            } else {
                item.append(field(f, count: itemCount) { data.itemIDs.ids[$0].value })
            }
        }
        return DynamicFeatures(user: user, item: item)
    }

    /// Feature values as bags of ids: items by index; an affinity as its categories repeated in
    /// proportion to their share (tenths), so the bag's mean is the share-weighted mean; counts as
    /// power-of-two buckets (0, 1, 2–3, 4–7, …, 64+).
    struct Tokens {
        let items: IDMap<ItemID>
        let categories: IDMap<String>
        static let countBuckets = 8

        func vocabularySize(_ name: String) -> Int {
            switch name {
            case "user_recent_items": items.count
            case "user_category_affinity_30d": categories.count
            default: Self.countBuckets
            }
        }

        func bag(_ name: String, _ value: FeatureValue) -> [Int32] {
            switch value {
            case .ids(let ids): return ids.compactMap { items.index(of: ItemID($0)) }
            case .distribution(let shares):
                return shares.sorted { $0.key < $1.key }.flatMap { category, share -> [Int32] in
                    guard let c = categories.index(of: category) else { return [] }
                    return Array(repeating: c, count: Int((share * 10).rounded()))
                }
            case .number(let x):
                var bucket = 0
                while bucket < Self.countBuckets - 1 && x >= Double(1 << bucket) { bucket += 1 }
                return [Int32(bucket)]
            }
        }

        /// One row per bag, ids kept in bag order with repeats (not merged, as coordinates would be).
        func rows(_ bags: [[Int32]], _ name: String) -> SparseRows {
            var offsets = [0], columns: [Int32] = []
            offsets.reserveCapacity(bags.count + 1)
            for bag in bags {
                columns.append(contentsOf: bag)
                offsets.append(columns.count)
            }
            return SparseRows(rowCount: bags.count, columnCount: vocabularySize(name), offsets: offsets, columns: columns,
                              values: [Float](repeating: 1, count: columns.count))
        }
    }
}
