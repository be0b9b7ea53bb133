import Events
import RummageCore
import Storage

/// Point-in-time feature computation from a batch of events: the same `FeatureState` and
/// `FeatureComputation` as the online store, fed in timestamp order, so a value at time `t` only ever
/// sees events strictly before `t`.
public enum OfflineFeatures {
    /// The events sorted by (timestamp, tie), the order every offline computation replays.
    static func timeOrdered(_ events: [Event]) -> [Event] {
        events.map { ($0, FeatureRecord.tie($0.id)) }.sorted { ($0.0.timestamp, $0.1) < ($1.0.timestamp, $1.1) }.map(\.0)
    }

    /// One training example: an event, and the values of the user's and the item's features at its
    /// timestamp (in `features.definitions` order, user features then item features).
    public struct Example: Sendable {
        public var event: Event
        public var values: [FeatureValue]
    }

    /// For each event of `exampleTypes` with a timestamp before `asOf`, in time order, its user's and
    /// item's features computed only from events strictly before the example's timestamp.
    public static func trainingSet(events: [Event], features: FeatureSet, exampleTypes: Set<EventType>, asOf: Int64,
                                   _ body: (Example) throws -> Void) rethrows {
        let examples = timeOrdered(events.filter { $0.timestamp < asOf && exampleTypes.contains($0.type) })
        try values(events: events, features: features,
                   requests: examples.map { Request(user: $0.user, item: $0.item, time: $0.timestamp) }) { k, values in
            try body(Example(event: examples[k], values: values))
        }
    }

    /// A question for `values`: the features of a user and an item at a time.
    public struct Request: Sendable {
        public var user: UserID?
        public var item: ItemID?
        public var time: Int64

        public init(user: UserID?, item: ItemID?, time: Int64) {
            self.user = user
            self.item = item
            self.time = time
        }
    }

    /// Answers each request with every feature (in `features.definitions` order; user features for the
    /// request's user, item features for its item) computed from the events strictly before its time,
    /// by one sweep in time order. `body` gets the request's index; requests are answered in time order.
    public static func values(events: [Event], features: FeatureSet, requests: [Request],
                              _ body: (Int, [FeatureValue]) throws -> Void) rethrows {
        guard let last = requests.map(\.time).max() else { return }
        let ordered = timeOrdered(events.filter { $0.timestamp < last })
        let order = requests.indices.sorted { (requests[$0].time, $0) < (requests[$1].time, $1) }
        var state = FeatureState(features: features)
        var next = 0
        for k in order {
            let request = requests[k]
            while next < ordered.count && ordered[next].timestamp < request.time {
                let touched = state.add(ordered[next])
                state.prune(user: touched.user, item: touched.item)
                next += 1
            }
            let user = request.user.flatMap { state.userIndex($0) } ?? Int32.max
            let item = request.item.flatMap { state.itemIndex($0) } ?? Int32.max
            try body(k, features.definitions.map { d in state.value(d, entity: d.entity == .user ? user : item, at: request.time) })
        }
    }
}

/// Measures online/offline consistency: the online store's values against values computed offline
/// from the same events as of the same time.
public enum FeatureConsistency {
    public struct Mismatch: Sendable, CustomStringConvertible {
        public var feature: String
        public var entity: String
        public var online: FeatureValue
        public var offline: FeatureValue
        public var description: String { "\(feature)[\(entity)]: online \(online), offline \(offline)" }
    }

    public struct Report: Sendable {
        public var entitiesChecked = 0
        public var featuresChecked = 0
        public var mismatches = 0
        /// The first mismatches found (at most 10).
        public var examples: [Mismatch] = []
    }

    /// Compares every feature of every entity at `time`: `online` (whatever order it was fed in) against
    /// a fresh offline computation over `events` with timestamps before `time`, in timestamp order and
    /// without pruning.
    public static func check(online: any OnlineFeatureStore, events: [Event], at time: Int64) throws(StorageError) -> Report {
        var offline = FeatureState(features: online.features)
        for event in OfflineFeatures.timeOrdered(events.filter { $0.timestamp < time }) { offline.add(event) }
        let (onlineUsers, onlineItems) = try online.entityIDs()
        var report = Report()
        let users = Set(onlineUsers).union(offline.users.ids), items = Set(onlineItems).union(offline.items.ids)
        report.entitiesChecked = users.count + items.count
        for definition in online.features.definitions {
            let names = (definition.entity == .user ? users.map(\.value) : items.map(\.value)).sorted()
            let onlineValues = try online.values(definition.name, entities: names, at: time)
            for (name, actual) in zip(names, onlineValues) {
                let index = definition.entity == .user ? offline.userIndex(UserID(name)) : offline.itemIndex(ItemID(name))
                let expected = offline.value(definition, entity: index ?? Int32.max, at: time)
                report.featuresChecked += 1
                if expected != actual {
                    report.mismatches += 1
                    if report.examples.count < 10 {
                        report.examples.append(Mismatch(feature: definition.name, entity: name, online: actual, offline: expected))
                    }
                }
            }
        }
        return report
    }

    /// A learned ranker's row that differs between serving and training.
    public struct RowMismatch: Sendable, CustomStringConvertible {
        public var user: String
        public var item: String
        public var column: String
        public var online: Float
        public var offline: Float
        public var description: String { "\(column)[\(user), \(item)]: online \(online), offline \(offline)" }
    }

    public struct RowReport: Sendable {
        public var rowsChecked = 0
        public var valuesChecked = 0
        public var mismatches = 0
        /// The first mismatches found (at most 10).
        public var examples: [RowMismatch] = []
    }

    /// Compares a learned ranker's rows (`RankingFeatures`) for `pairs` of (user, listing) at serving's
    /// "now" (one second after the latest event `online` applied): as serving computes them
    /// (`RankingFeatures.onlineRows` on `online` and the listing facts `listings` remembered from the events
    /// as they arrived) against training's point-in-time computation (`RankingFeatures.offlineRows` over
    /// `events` before then). Values are equal when their bits are, or when both are missing (NaN).
    public static func checkRankingRows(online: any OnlineFeatureStore, listings: ListingFactTable, events: [Event],
                                        pairs: [(user: String, item: String)]) throws(StorageError) -> RowReport {
        let time = InMemoryFeatureStore.currentTime(latest: try online.latestEventTime())
        let offline = RankingFeatures.offlineRows(events: events.filter { $0.timestamp < time },
                                                  shown: pairs.map { .init(user: $0.user, item: $0.item, time: time, retrievalScore: 0) })
        var report = RowReport()
        for (k, pair) in pairs.enumerated() {
            let row = try RankingFeatures.onlineRows(store: online, user: pair.user, items: [pair.item], retrievalScores: [0], at: time,
                                                     listings: { $0(listings) })
            report.rowsChecked += 1
            for (column, (a, b)) in zip(RankingFeatures.names, zip(row, offline[k])) {
                report.valuesChecked += 1
                guard a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) else { continue }
                report.mismatches += 1
                if report.examples.count < 10 {
                    report.examples.append(RowMismatch(user: pair.user, item: pair.item, column: column, online: a, offline: b))
                }
            }
        }
        return report
    }
}
