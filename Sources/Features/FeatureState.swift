import CVectorKernels
import Events
import RummageCore

/// Per-entity event records and the listing catalog, built from events in any order: each record is
/// inserted at its sorted place, so the state after a set of events does not depend on the order they
/// arrived in. The online store and the offline computation both use it; only the online store prunes.
struct FeatureState: Sendable {
    let features: FeatureSet
    private(set) var users = IDMap<UserID>()
    private(set) var items = IDMap<ItemID>()
    private(set) var catalog = ListingCatalog()
    private(set) var userRecords: [[FeatureRecord]] = []
    private(set) var itemRecords: [[FeatureRecord]] = []
    let userTypes: Set<EventType>
    let itemTypes: Set<EventType>
    /// Per entity kind, how far back any feature looks (nil: some feature keeps everything).
    let userHorizon: Int64?
    let itemHorizon: Int64?
    /// The latest event timestamp seen.
    private(set) var latest = Int64.min

    init(features: FeatureSet) {
        self.features = features
        func of(_ entity: FeatureDefinition.Entity) -> [FeatureDefinition] { features.definitions.filter { $0.entity == entity } }
        userTypes = of(.user).reduce(into: []) { $0.formUnion($1.eventTypes) }
        itemTypes = of(.item).reduce(into: []) { $0.formUnion($1.eventTypes) }
        func horizon(_ definitions: [FeatureDefinition]) -> Int64? {
            definitions.contains { $0.horizon == nil } ? nil : definitions.compactMap(\.horizon).max() ?? 0
        }
        userHorizon = horizon(of(.user))
        itemHorizon = horizon(of(.item))
    }

    /// Adds the event's records (and catalog entry); returns the entities it touched.
    @discardableResult
    mutating func add(_ event: Event) -> (user: Int32?, item: Int32?) {
        latest = max(latest, event.timestamp)
        if event.type == .listingCreated, let item = event.item {
            let i = items.insert(item)
            catalog.record(item: Int(i), attributes: event.attributes, price: event.price)
            return (nil, i)
        }
        guard event.type.subject == .interaction, let user = event.user, let item = event.item else { return (nil, nil) }
        let forUser = userTypes.contains(event.type), forItem = itemTypes.contains(event.type)
        guard forUser || forItem else { return (nil, nil) }
        let u = users.insert(user), i = items.insert(item)
        let tie = FeatureRecord.tie(event.id)
        if forUser {
            while userRecords.count <= Int(u) { userRecords.append([]) }
            Self.insert(FeatureRecord(timestamp: event.timestamp, tie: tie, type: event.type, counterpart: i, item: i),
                        into: &userRecords[Int(u)])
        }
        if forItem {
            while itemRecords.count <= Int(i) { itemRecords.append([]) }
            Self.insert(FeatureRecord(timestamp: event.timestamp, tie: tie, type: event.type, counterpart: u, item: i),
                        into: &itemRecords[Int(i)])
        }
        return (forUser ? u : nil, forItem ? i : nil)
    }

    /// Drops records no feature can count any more: older than `latest − horizon`. Later questions are
    /// about times at or after `latest`, so no value changes.
    mutating func prune(user: Int32?, item: Int32?) {
        if let user, let h = userHorizon { Self.dropBefore(latest - h, in: &userRecords[Int(user)]) }
        if let item, let h = itemHorizon, Int(item) < itemRecords.count { Self.dropBefore(latest - h, in: &itemRecords[Int(item)]) }
    }

    /// Number of records held (memory accounting).
    var recordCount: Int { userRecords.reduce(0) { $0 + $1.count } + itemRecords.reduce(0) { $0 + $1.count } }

    func value(_ definition: FeatureDefinition, entity: Int32, at time: Int64) -> FeatureValue {
        switch definition.entity {
        case .user:
            let records = Int(entity) < userRecords.count ? userRecords[Int(entity)][...] : []
            let names = items.ids   // captured alone: the closure must not copy the whole state
            return FeatureComputation.value(definition, records: records, at: time, catalog: catalog) { names[Int($0)].value }
        case .item:
            let records = Int(entity) < itemRecords.count ? itemRecords[Int(entity)][...] : []
            let names = users.ids
            return FeatureComputation.value(definition, records: records, at: time, catalog: catalog) { names[Int($0)].value }
        }
    }

    /// Asks the CPU to bring the records of `entities` into cache, all at once: the reads that follow then
    /// find them there instead of waiting for memory one entity at a time (a ranker reads hundreds).
    func prefetchRecords(_ kind: FeatureDefinition.Entity, of entities: [Int32]) {
        let table = kind == .user ? userRecords : itemRecords
        for entity in entities where Int(entity) < table.count {
            table[Int(entity)].withUnsafeBufferPointer { rummage_prefetch($0.baseAddress, 128) }
        }
    }

    func userIndex(_ user: UserID) -> Int32? { users.index(of: user) }
    func itemIndex(_ item: ItemID) -> Int32? { items.index(of: item) }

    private static func insert(_ record: FeatureRecord, into records: inout [FeatureRecord]) {
        var k = records.count
        while k > 0 && record < records[k - 1] { k -= 1 }
        records.insert(record, at: k)
    }

    private static func dropBefore(_ time: Int64, in records: inout [FeatureRecord]) {
        let k = FeatureComputation.lowerBound(records[...], timestamp: time)
        if k > 0 { records.removeFirst(k) }
    }
}

extension FeatureState {
    /// Appends the state: latest time, ids, catalog, then each entity's records.
    func write(to w: inout ArtifactWriter) {
        w.append(latest)
        w.append(UInt64(users.count))
        for id in users.ids { w.append(id.value) }
        w.append(UInt64(items.count))
        for id in items.ids { w.append(id.value) }
        w.append(UInt64(catalog.attributes.count))
        for (attributes, price) in zip(catalog.attributes, catalog.prices) {
            w.append(price)
            w.append(UInt32(attributes.count))
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { w.append(key); w.append(value) }
        }
        for table in [userRecords, itemRecords] {
            w.append(UInt64(table.count))
            for records in table {
                w.append(UInt64(records.count))
                for r in records {
                    w.append(r.timestamp); w.append(r.tie); w.append(r.type.rawValue); w.append(r.counterpart); w.append(r.item)
                }
            }
        }
    }

    /// Reads what `write(to:)` wrote.
    init(reading r: inout ArtifactReader, features: FeatureSet) throws(DataError) {
        self.init(features: features)
        latest = try r.integer(Int64.self)
        for _ in 0..<(try r.integer(UInt64.self)) { users.insert(UserID(try r.string())) }
        for _ in 0..<(try r.integer(UInt64.self)) { items.insert(ItemID(try r.string())) }
        for item in 0..<Int(try r.integer(UInt64.self)) {
            let price = try r.double()
            var attributes: [String: String] = [:]
            for _ in 0..<(try r.integer(UInt32.self)) {
                let key = try r.string()
                attributes[key] = try r.string()
            }
            catalog.record(item: item, attributes: attributes, price: price)
        }
        var tables: [[[FeatureRecord]]] = []
        for _ in 0..<2 {
            var table: [[FeatureRecord]] = []
            for _ in 0..<(try r.integer(UInt64.self)) {
                var records: [FeatureRecord] = []
                for _ in 0..<(try r.integer(UInt64.self)) {
                    let timestamp = try r.integer(Int64.self), tie = try r.integer(UInt64.self)
                    let typeName = try r.string()
                    guard let type = EventType(rawValue: typeName) else {
                        throw DataError(.malformedLine, "snapshot holds an unknown event type '\(typeName)'", path: "feature snapshot")
                    }
                    records.append(FeatureRecord(timestamp: timestamp, tie: tie, type: type,
                                                 counterpart: try r.integer(Int32.self), item: try r.integer(Int32.self)))
                }
                table.append(records)
            }
            tables.append(table)
        }
        userRecords = tables[0]
        itemRecords = tables[1]
    }
}
