import RummageCore

/// Feature values as bags of ids: items by index; an affinity as its categories repeated in
/// proportion to their share (tenths), so the bag's mean is the share-weighted mean; counts as
/// power-of-two buckets (0, 1, 2–3, 4–7, …, 64+).
public struct FeatureTokens: Sendable {
    public let items: IDMap<ItemID>
    public let categories: IDMap<String>
    public static let countBuckets = 8

    public init(items: IDMap<ItemID>, categories: IDMap<String>) {
        self.items = items
        self.categories = categories
    }

    public func vocabularySize(_ name: String) -> Int {
        switch name {
        case "user_recent_items": items.count
        case "user_category_affinity_30d": categories.count
        default: Self.countBuckets
        }
    }

    public func bag(_ name: String, _ value: FeatureValue) -> [Int32] {
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
    public func rows(_ bags: [[Int32]], _ name: String) -> SparseRows {
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
