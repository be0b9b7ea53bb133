import Dispatch
import RummageCore
import Storage
import Synchronization

/// Where the current state of every listing lives: the lifecycle that ingest validates against and that
/// serving checks each answer with. Implementations: `InMemoryListingStates` (embedded default, one
/// process) and `RedisListingStates` (shared by every `rummage serve` replica and ingester).
///
/// Contract, checked by the same conformance tests for each implementation:
/// - The store is a projection of the event log: `record` is called only after the events behind it
///   are durable, so a state a reader sees is never ahead of the log.
/// - After `record` returns, every reader of the store (in any process sharing it) sees the new states.
/// - A store that cannot answer (unreachable, or emptied and not yet rebuilt) throws rather than guess:
///   callers then fall back to the log (`EventLog.lifecycle(of:)`).
/// - `exclusively` admits one writer at a time across everything sharing the store, so validation,
///   append and `record` of one batch never interleave with another's. The writer holds a `WriterLease`
///   and reports progress. A turn that can be lost (a shared store) is fenced at the log: the writer
///   claims a token there first (`EventLog.claimTurn`), validates against the log's own states, and its
///   append commits only under the newest token, so a writer whose turn expired while it was paused
///   can neither commit after a newer one nor be validated against a state the store has not recorded.
public protocol ListingStateStore: AnyObject, Sendable {
    /// The lifecycle restricted to `items`: their states and sellers.
    func lifecycle(of items: Set<ItemID>) throws(StorageError) -> ListingLifecycle
    /// The state of each of `items` (nil: never created).
    func states(of items: [ItemID]) throws(StorageError) -> [ListingState?]
    /// The listings `seller` created, ordered by id.
    func listings(of seller: UserID) throws(StorageError) -> [ItemID]
    /// Runs `body` while no other writer of the store runs.
    func exclusively<R>(_ body: (WriterLease) throws(StorageError) -> R) throws(StorageError) -> R
    /// Marks `items` as about to change under `lease`, before the append: should the writer lose its turn
    /// after appending but before recording, the next writer re-derives them from the log
    /// (`WriterLease.unrecorded`). A store in one process cannot lose a turn: it marks nothing.
    func willChange(_ items: Set<ItemID>, under lease: WriterLease) throws(StorageError)
    /// Records the states and sellers that `lifecycle` holds for `items` (events already durable), and
    /// clears the marks of `willChange`, only while `lease` is still held (else `StorageError.fenced`):
    /// a writer that lost its turn never overwrites a newer state.
    func record(_ lifecycle: ListingLifecycle, items: Set<ItemID>, under lease: WriterLease) throws(StorageError)
}

/// What a writer holds while it writes. A turn in a store shared by processes can be lost: it is
/// renewed only by the holder's own progress (each step it reports renews it when a renewal period has
/// passed since the last one), so a holder stuck in a call to a black-holed server (or paused) renews
/// nothing and its turn expires; the log's fencing token (`EventLog.claimTurn`) then refuses its append.
public final class WriterLease: Sendable {
    /// Identifies this turn in the store (the lock's value).
    public let holder: String
    /// Listings an earlier writer marked (`ListingStateStore.willChange`) but did not record: it lost its
    /// turn between its append and its record. This writer re-derives them from the log and records them.
    public let unrecorded: Set<ItemID>
    /// How long the turn lasts without renewal (nil: it cannot be lost, the store being in one process).
    public let lifetimeMilliseconds: Int?
    private let renew: (@Sendable () -> Void)?
    private let lastRenewal: Atomic<UInt64>

    /// `renew` is called from `progressed` at most once every third of `lifetimeMilliseconds`.
    public init(holder: String = "", unrecorded: Set<ItemID> = [], lifetimeMilliseconds: Int? = nil,
                renew: (@Sendable () -> Void)? = nil) {
        self.holder = holder
        self.unrecorded = unrecorded
        self.lifetimeMilliseconds = lifetimeMilliseconds
        self.renew = renew
        lastRenewal = Atomic(DispatchTime.now().uptimeNanoseconds)
    }

    /// Marks a step done (a read, an append, a record), renewing the turn if a period has passed.
    public func progressed() {
        guard let renew, let lifetimeMilliseconds else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let last = lastRenewal.load(ordering: .relaxed)
        guard now - last >= UInt64(lifetimeMilliseconds) * 1_000_000 / 3,
              lastRenewal.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else {
            return
        }
        renew()
    }

    /// Runs one step of the turn within the turn's lifetime (`Deadline`: past it the turn may be another
    /// writer's and a late append would be fenced anyway, so a call to a stuck server is abandoned
    /// rather than waited for), then reports progress.
    public func step<R>(_ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        guard let lifetimeMilliseconds else { return try body() }
        let result = try Deadline.within(milliseconds: lifetimeMilliseconds, body)
        progressed()
        return result
    }
}

/// The embedded store: the whole lifecycle in memory, rebuilt from the log when the process starts.
///
/// Serving reads the state and seller of every listing of every answer (hundreds per request, from
/// every worker thread), so the table is laid out for reads: each listing's slot is found through a
/// `DenseIndex` (one probe, the misses of a request's look-ups overlapping) and readers share a
/// reader-writer lock rather than queueing on a mutex.
public final class InMemoryListingStates: ListingStateStore {
    /// Each listing's state and seller at its slot, and each seller's listings.
    private struct Table {
        var slots = DenseIndex<ItemID>()
        var states: [ListingState?] = []
        var sellers: [UserID?] = []
        var listingsBySeller: [UserID: [ItemID]] = [:]

        init(_ lifecycle: ListingLifecycle) {
            slots = DenseIndex(minimumCapacity: lifecycle.states.count)
            states.reserveCapacity(lifecycle.states.count)
            sellers.reserveCapacity(lifecycle.states.count)
            for item in Set(lifecycle.states.keys).union(lifecycle.sellers.keys) {
                record(item, state: lifecycle.state(of: item), seller: lifecycle.sellers[item])
            }
        }

        /// Sets `item`'s state; a seller is recorded only when none was known (as `ListingLifecycle.record`).
        mutating func record(_ item: ItemID, state: ListingState?, seller: UserID?) {
            let slot: Int
            if let known = slots[item] {
                slot = Int(known)
            } else {
                slot = states.count
                slots.set(item, to: Int32(slot))
                states.append(nil)
                sellers.append(nil)
            }
            states[slot] = state
            if let seller, sellers[slot] == nil {
                sellers[slot] = seller
                listingsBySeller[seller, default: []].append(item)
            }
        }

        func entries(of items: [ItemID]) -> [(state: ListingState?, seller: UserID?)] {
            slots.indices(of: items).map { slot in slot.map { (states[Int($0)], sellers[Int($0)]) } ?? (nil, nil) }
        }
    }

    private let table: ReadWriteLock<Table>
    private let writing = Mutex<Void>(())

    public init(_ lifecycle: ListingLifecycle = ListingLifecycle()) {
        // Writers first: a sale must be recorded while every worker thread keeps reading.
        table = ReadWriteLock(Table(lifecycle), prefersWriters: true)
    }

    /// The lifecycle as the log's events leave it, in append order.
    public convenience init(replaying log: any EventLog) throws(StorageError) {
        var lifecycle = ListingLifecycle()
        try log.readAll(order: .appended, types: ListingLifecycle.eventTypes) { event in try? lifecycle.apply(event) }
        self.init(lifecycle)
    }

    public func lifecycle(of items: Set<ItemID>) -> ListingLifecycle {
        let items = Array(items)
        let found = entries(of: items)
        var states: [ItemID: ListingState] = [:], sellers: [ItemID: UserID] = [:]
        for (item, entry) in zip(items, found) {
            if let state = entry.state { states[item] = state }
            if let seller = entry.seller { sellers[item] = seller }
        }
        return ListingLifecycle(states: states, sellers: sellers)
    }

    public func states(of items: [ItemID]) -> [ListingState?] { entries(of: items).map(\.state) }

    /// The state of one listing.
    public func state(of item: ItemID) -> ListingState? {
        table.read { t in t.slots[item].flatMap { t.states[Int($0)] } }
    }

    /// The state and seller of each of `items`, read at one instant.
    public func entries(of items: [ItemID]) -> [(state: ListingState?, seller: UserID?)] {
        table.read { $0.entries(of: items) }
    }

    public func listings(of seller: UserID) -> [ItemID] {
        table.read { $0.listingsBySeller[seller] ?? [] }.sorted { $0.value < $1.value }
    }

    public func record(_ source: ListingLifecycle, items: Set<ItemID>) {
        table.write { t in
            for item in items { t.record(item, state: source.state(of: item), seller: source.sellers[item]) }
        }
    }

    public func exclusively<R>(_ body: (WriterLease) throws(StorageError) -> R) throws(StorageError) -> R {
        try writing.withLock { _ throws(StorageError) in try body(WriterLease()) }
    }

    public func willChange(_ items: Set<ItemID>, under lease: WriterLease) {}

    public func record(_ source: ListingLifecycle, items: Set<ItemID>, under lease: WriterLease) { record(source, items: items) }
}
