/// Two-way map between external ids and dense indices, assigned in first-seen order.
///
/// Like gorse's `FreqDict`: the only place where external ids become dense indices, so the two can
/// never be confused. Index `i` is always `ids[i]`.
public struct IDMap<ID: Hashable & Sendable>: Sendable {
    public private(set) var ids: [ID] = []
    private var indexByID = DenseIndex<ID>()

    public init() {}

    /// Creates a map whose index `i` is `ids[i]`. Precondition: `ids` has no duplicates.
    public init(_ ids: [ID]) {
        self.ids = ids
        indexByID = DenseIndex(minimumCapacity: ids.count)
        for (i, id) in ids.enumerated() {
            precondition(indexByID[id] == nil, "duplicate id \(id) in IDMap")
            indexByID.set(id, to: Int32(i))
        }
    }

    public var count: Int { ids.count }

    /// The index of `id`, assigning the next free index when it is new.
    @discardableResult
    public mutating func insert(_ id: ID) -> Int32 {
        if let index = indexByID[id] { return index }
        let index = Int32(ids.count)
        ids.append(id)
        indexByID.set(id, to: index)
        return index
    }

    /// The index of `id`, or nil when it was never inserted.
    public func index(of id: ID) -> Int32? { indexByID[id] }

    /// `index(of:)` of each of `ids`, their memory fetched together (`DenseIndex.indices(of:)`).
    public func indices(of ids: [ID]) -> [Int32?] { indexByID.indices(of: ids) }

    public subscript(index: Int32) -> ID { ids[Int(index)] }
}
