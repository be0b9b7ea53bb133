import RummageCore
import Storage
import Synchronization

/// Validates events and appends the valid ones to an event log, keeping the listing lifecycle.
///
/// Batch semantics:
/// - An event whose id is already in the log, or earlier in the batch, is a duplicate: a no-op,
///   counted, never an error (so a producer can safely resend after a failure).
/// - Each other event is checked in order against the lifecycle as left by the batch's earlier valid
///   events (a `listing_created` and a `purchase` of that listing may share a batch).
/// - `.validEvents` (the default) appends every valid event and refuses the others, each with its
///   reason; `.allOrNothing` appends nothing if any event is refused.
/// - Appending is one atomic, durable step: on a storage error nothing of the batch is appended and
///   the lifecycle is unchanged.
public final class EventIngestor: Sendable {
    public enum BatchMode: Sendable { case validEvents, allOrNothing }

    public struct Outcome: Sendable, Equatable {
        public var appended = 0
        public var duplicates = 0
        /// Refused events: position in the batch and reason.
        public var refused: [Refusal] = []

        public init(appended: Int = 0, duplicates: Int = 0, refused: [Refusal] = []) {
            self.appended = appended
            self.duplicates = duplicates
            self.refused = refused
        }
    }

    public struct Refusal: Sendable, Equatable {
        public var index: Int
        public var error: EventError
    }

    public let log: any EventLog
    private let lifecycle: Mutex<ListingLifecycle>
    /// Serialises ingests; the lifecycle lock is only taken briefly, so readers (serving's listing
    /// checks) never wait for a durable append.
    private let ingesting = Mutex<Void>(())

    /// Rebuilds the lifecycle from the log's listing events and purchases, in append order.
    public init(log: any EventLog) throws(StorageError) {
        self.log = log
        var lifecycle = ListingLifecycle()
        let types = Set(EventType.allCases.filter { $0.subject == .listing }).union([.purchase])
        try log.readAll(order: .appended, types: types) { event in try? lifecycle.apply(event) }
        self.lifecycle = Mutex(lifecycle)
    }

    /// The current state of a listing (nil if it was never created).
    public func state(of item: ItemID) -> ListingState? { lifecycle.withLock { $0.state(of: item) } }

    /// The current states of several listings, under one lock.
    public func states(of items: [ItemID]) -> [ListingState?] { lifecycle.withLock { l in items.map { l.state(of: $0) } } }

    /// The listings `seller` created.
    public func sellers(of seller: UserID) -> [ItemID] { lifecycle.withLock { $0.listingsBySeller[seller] ?? [] } }

    /// Validates the batch against the lifecycle of the listings it touches, appends the valid events
    /// durably, and only then applies them to the lifecycle readers see.
    public func ingest(_ events: [Event], mode: BatchMode = .validEvents) throws(StorageError) -> Outcome {
        try ingesting.withLock { _ throws(StorageError) in
            let known = try log.contains(ids: events.map(\.id))
            let touched = Set(events.compactMap(\.item))
            var next = lifecycle.withLock { $0.restricted(to: touched) }
            var seen = Set<String>()
            var outcome = Outcome()
            var accepted: [Event] = []
            for (index, event) in events.enumerated() {
                if known[index] || !seen.insert(event.id).inserted {
                    outcome.duplicates += 1
                    continue
                }
                do throws(EventError) {
                    try next.apply(event)
                    accepted.append(event)
                } catch {
                    seen.remove(event.id)
                    outcome.refused.append(Refusal(index: index, error: error))
                }
            }
            if mode == .allOrNothing && !outcome.refused.isEmpty { return outcome }
            outcome.appended = try log.append(accepted).filter { $0 }.count
            // The same transitions, now on the full lifecycle (they passed on identical states).
            lifecycle.withLock { current in for event in accepted { try? current.apply(event) } }
            return outcome
        }
    }
}
