import Datasets
import Events
import Features
import RummageCore
import TwoTower

/// The two-tower model's time-varying inputs on a generated marketplace, from the feature store:
/// the user's recent items and category affinity, and the listing's popularity windows. Training rows
/// are computed point-in-time at each training pair's first interaction (only events strictly before
/// it); serving rows at the split time, as the online store holds them then.
public enum MarketplaceDynamicFeatures {
    public static let featureNames = ["user_recent_items", "user_category_affinity_30d", "item_engagements_7d", "item_views_1d"]

    public static func build(split: Split, data: MarketplaceData, splitTime: Int64) -> DynamicFeatures {
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
        let tokens = FeatureTokens(items: data.itemIDs, categories: categories)
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
                                         vocabulary: name == "user_category_affinity_30d" ? categories.ids : [],
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
}
