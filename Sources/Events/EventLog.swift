import RummageCore
import Storage

/// An append-only, durable, replayable log of events: the source of truth that listing states and
/// online features are rebuilt from. Implementations: `SQLiteEventLog` (embedded default) and
/// `PostgreSQLEventLog` (a log shared by several machines).
///
/// Contract, shared by every implementation and checked by the same conformance tests:
/// - `append` is atomic and durable: when it returns, every new event of the batch is on stable storage;
///   when it throws, none of them was appended.
/// - Event ids are idempotency keys within their producer (the API key that sent them; "" for files and
///   keyless servers): an event whose (producer, id) is already in the log, or earlier in the same batch,
///   is skipped (a no-op), never stored twice. Each event is stored with its `fingerprint`, so a resend
///   can be told from a different event reusing the id.
/// - `read` returns events in the order they were appended, or by timestamp (ties in append order).
public protocol EventLog: AnyObject, Sendable {
    /// Appends the batch for `producer`, each event with its `fingerprints` entry (`Event.fingerprint`);
    /// per event, true if it was appended, false if its id was already there for that producer. With a
    /// `fence` (the writer's token from `claimTurn`), the append commits only if no newer token was
    /// claimed, else it throws `StorageError.fenced` and appends nothing.
    @discardableResult
    func append(_ events: [Event], producer: String, fingerprints: [String], fence: Int64?) throws(StorageError) -> [Bool]
    /// Starts a writer's turn (for writers that take turns across processes, `ListingStateStore.exclusively`):
    /// returns a fencing token newer than every one given before. From then on an append under an older
    /// token is refused, and one in flight under an older token has ended (committed or not), so what the
    /// log says now about a listing's state stays true until this writer appends.
    func claimTurn() throws(StorageError) -> Int64
    /// Per id, the fingerprint of the event `producer` stored with it: nil when there is none, "" when it
    /// was stored without one (logs from before schema 2).
    func fingerprints(of ids: [String], producer: String) throws(StorageError) -> [String?]
    /// Calls `body` for each event with a timestamp in `timestamps` and, if `types` is given, one of
    /// those types, in `order`.
    func read(timestamps: Range<Int64>, types: Set<EventType>?, order: EventOrder,
              _ body: (Event) -> Void) throws(StorageError)
    /// Calls `body`, in append order, for each event that drives the lifecycle of one of `items`
    /// (`ListingLifecycle.eventTypes`): what rebuilds those listings' states without reading the log.
    func listingHistory(of items: [ItemID], _ body: (Event) -> Void) throws(StorageError)
    /// Number of events in the log.
    func count() throws(StorageError) -> Int
    /// The latest event timestamp in the log, nil when it is empty.
    func latestTimestamp() throws(StorageError) -> Int64?
    /// The append position of the last event (0 when the log is empty); positions only grow.
    func lastSequence() throws(StorageError) -> Int64
    /// Up to `limit` events appended after position `sequence`, in append order, with their positions:
    /// how a process follows what others append.
    func events(after sequence: Int64, limit: Int) throws(StorageError) -> [(sequence: Int64, event: Event)]
    /// Throws at once (`StorageError.unreachable`) while the log is known not to answer; once a pause
    /// has passed, first tries it with a short deadline. Writers call it before they take the writers'
    /// lock, so a process cut off from its log does not hold the other writers' turn. (A local log:
    /// never throws.)
    func checkReachable() throws(StorageError)
    /// Whether calls are being refused now because the log did not answer (its circuit is open).
    var isKnownUnreachable: Bool { get }
}

extension EventLog {
    public func checkReachable() throws(StorageError) {}
    public var isKnownUnreachable: Bool { false }

    /// Appends the batch for `producer`.
    @discardableResult
    public func append(_ events: [Event], producer: String) throws(StorageError) -> [Bool] {
        try append(events, producer: producer, fingerprints: events.map(\.fingerprint), fence: nil)
    }

    /// Appends the batch without a producer (files, keyless servers).
    @discardableResult
    public func append(_ events: [Event]) throws(StorageError) -> [Bool] { try append(events, producer: "") }

    /// Per id, whether the log holds an event with it and no producer.
    public func contains(ids: [String]) throws(StorageError) -> [Bool] { try fingerprints(of: ids, producer: "").map { $0 != nil } }

    /// The lifecycle of `items` as the log's events leave it (the other listings absent).
    public func lifecycle(of items: [ItemID]) throws(StorageError) -> ListingLifecycle {
        var lifecycle = ListingLifecycle()
        try listingHistory(of: items) { event in try? lifecycle.apply(event) }
        return lifecycle
    }
}

public enum EventOrder: Sendable {
    /// The order in which events were appended: how they arrived, what online consumers saw.
    case appended
    /// By event timestamp, ties in append order: what point-in-time computations need.
    case timestamp
}

extension EventLog {
    /// Every event, in `order`.
    public func readAll(order: EventOrder = .appended, types: Set<EventType>? = nil,
                        _ body: (Event) -> Void) throws(StorageError) {
        try read(timestamps: Int64.min..<Int64.max, types: types, order: order, body)
    }
}
