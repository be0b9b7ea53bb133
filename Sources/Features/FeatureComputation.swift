import Events
import RummageCore

/// One event as an entity's feature state keeps it. Records sort by (timestamp, tie), where `tie` is
/// a hash of the event id, so events with equal timestamps are ordered the same way whatever order
/// they arrived in.
struct FeatureRecord: Sendable, Equatable, Comparable {
    var timestamp: Int64
    var tie: UInt64
    var type: EventType
    /// The other side: an item index for user features, a user index for item features.
    var counterpart: Int32
    /// The item involved (for attribute and price look-ups).
    var item: Int32

    static func < (a: FeatureRecord, b: FeatureRecord) -> Bool { (a.timestamp, a.tie) < (b.timestamp, b.tie) }

    static func tie(_ eventID: String) -> UInt64 { FNV1a.hash(eventID) }
}

/// Listing content the features look up (from `listing_created` events; content never changes).
struct ListingCatalog: Sendable {
    var attributes: [[String: String]] = []
    var prices: [Double] = []

    mutating func record(item: Int, attributes: [String: String], price: Double?) {
        if self.attributes.count <= item {
            self.attributes.append(contentsOf: repeatElement([:], count: item + 1 - self.attributes.count))
            prices.append(contentsOf: repeatElement(0, count: item + 1 - prices.count))
        }
        self.attributes[item] = attributes
        prices[item] = price ?? 0
    }

    func attribute(_ name: String, of item: Int32) -> String? {
        Int(item) < attributes.count ? attributes[Int(item)][name] : nil
    }

    func price(of item: Int32) -> Double { Int(item) < prices.count ? prices[Int(item)] : 0 }
}

/// The one place a feature's value is computed, used by the online store and offline alike.
enum FeatureComputation {
    /// The value of `definition` at `time` from an entity's `records` (sorted ascending), counting only
    /// events with `time − horizon ≤ timestamp < time` of the definition's types.
    static func value(_ definition: FeatureDefinition, records: ArraySlice<FeatureRecord>, at time: Int64,
                      catalog: ListingCatalog, counterpartNames: (Int32) -> String) -> FeatureValue {
        let lower = definition.horizon.map { time - $0 } ?? Int64.min
        // Records are sorted: find [lower, time) by binary search.
        let start = lowerBound(records, timestamp: lower), end = lowerBound(records, timestamp: time)
        let types = definition.eventTypes.reduce(UInt32(0)) { $0 | $1.bit }
        let window = records[start..<end].lazy.filter { types & $0.type.bit != 0 }
        switch definition.aggregation {
        case .count:
            return .number(Double(window.count))
        case .sumOfPrice:
            return .number(window.reduce(0.0) { $0 + catalog.price(of: $1.item) })
        case .lastN(let n):
            var seen = Set<Int32>(), names: [String] = []
            for record in window.reversed() where names.count < n && seen.insert(record.counterpart).inserted {
                names.append(counterpartNames(record.counterpart))
            }
            return .ids(names)
        case .affinity(let attribute):
            var counts: [String: Int] = [:], total = 0
            for record in window {
                guard let value = catalog.attribute(attribute, of: record.item) else { continue }
                counts[value, default: 0] += 1
                total += 1
            }
            return .distribution(counts.mapValues { Double($0) / Double(total) })
        }
    }

    /// First index in `records` whose timestamp is at least `timestamp`.
    static func lowerBound(_ records: ArraySlice<FeatureRecord>, timestamp: Int64) -> Int {
        var lo = records.startIndex, hi = records.endIndex
        while lo < hi {
            let mid = (lo + hi) / 2
            if records[mid].timestamp < timestamp { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
