import Catalogue
import RummageCore
import Storage

/// Validates events and appends the valid ones to an event log, keeping the listing lifecycle.
///
/// Batch semantics:
/// - Event ids are scoped to their producer. An event whose id the producer already used, in the log
///   or earlier in the batch, for the same content (`Event.fingerprint`) is a duplicate: a no-op,
///   counted, never an error (so a producer can safely resend after a failure). For other content it
///   is refused (`.idConflict`) and changes nothing. (Events stored without a fingerprint, by schema 1,
///   count as the same content.)
/// - Each other event is checked in order against the lifecycle as left by the batch's earlier valid
///   events (a `listing_created` and a `purchase` of that listing may share a batch).
/// - `.validEvents` (the default) appends every valid event and refuses the others, each with its
///   reason; `.allOrNothing` appends nothing if any event is refused.
/// - Appending is one atomic, durable step: on a storage error nothing of the batch is appended and
///   the lifecycle is unchanged. The new states are recorded after the append; should that fail, the
///   batch is durable but not acknowledged (the call throws), and its retry records them (see `ingest`).
public final class EventIngestor: Sendable {
    public enum BatchMode: Sendable { case validEvents, allOrNothing }

    public struct Outcome: Sendable, Equatable {
        public var appended = 0
        public var duplicates = 0
        /// Refused events: position in the batch and reason.
        public var refused: [Refusal] = []
        /// The state of each listing the batch changed, as recorded.
        public var states: [ItemID: ListingState] = [:]

        public init(appended: Int = 0, duplicates: Int = 0, refused: [Refusal] = []) {
            self.appended = appended
            self.duplicates = duplicates
            self.refused = refused
        }
    }

    public struct Refusal: Sendable, Equatable {
        public var index: Int
        public var error: EventError

        public init(index: Int, error: EventError) {
            self.index = index
            self.error = error
        }
    }

    public let log: any EventLog
    /// The listing states validated against and kept current.
    public let states: any ListingStateStore
    /// When set, the attributes of `listing_created`, `user_created` and `user_attributes_changed` events
    /// must follow this catalogue; events that break it are refused with the field and the reason.
    public let schema: CatalogueSchema?

    /// Ingests into `log`, validating against and updating `states` (by default an in-memory lifecycle
    /// rebuilt from the log's listing events and purchases) and, with a `schema`, the catalogue.
    public init(log: any EventLog, states: (any ListingStateStore)? = nil, schema: CatalogueSchema? = nil) throws(StorageError) {
        self.log = log
        self.schema = schema
        if let states { self.states = states } else { self.states = try InMemoryListingStates(replaying: log) }
    }

    /// Checks an event's attributes against the schema (creating and changing events only).
    func checkSchema(_ event: Event) throws(EventError) {
        guard let schema else { return }
        do throws(SchemaError) {
            switch event.type {
            case .listingCreated: try schema.validate(listingAttributes: event.attributes, price: event.price)
            case .userCreated: try schema.validate(userAttributes: event.attributes, complete: true)
            case .userAttributesChanged: try schema.validate(userAttributes: event.attributes, complete: false)
            default: return
            }
        } catch {
            throw EventError(.invalidField, "event '\(event.id)': attribute \(error)")
        }
    }

    /// Validates the batch against the states of the listings it touches, appends the valid events
    /// durably, and only then records their new states, all under the store's writers' lock. A batch
    /// without lifecycle events (views, likes, impressions, user events) changes no state: it only reads
    /// them, so it runs without the lock, beside other ingests.
    ///
    /// A duplicate of a lifecycle event may be a retry after a writer appended it but died (or lost the
    /// store) before recording its state: the states of the listings duplicates touch are re-derived
    /// from the log and recorded again, so a retried sale is never acknowledged while the store still
    /// shows the listing for sale.
    /// `producer`: whose ids these are (the API key's name; "" for files and keyless servers).
    public func ingest(_ events: [Event], producer: String = "", mode: BatchMode = .validEvents) throws(StorageError) -> Outcome {
        let changesStates = events.contains { ListingLifecycle.eventTypes.contains($0.type) }
        try log.checkReachable()
        return changesStates ? try states.exclusively { (lease: WriterLease) throws(StorageError) in
                                   try validateAndAppend(events, producer: producer, mode: mode, lease: lease)
                               }
                             : try validateAndAppend(events, producer: producer, mode: mode, lease: WriterLease())
    }

    /// `lease`: the writers' turn (one that cannot be lost for events that change no listing). Each step
    /// runs within the turn's lifetime and reports progress. A turn that can be lost claims a fencing token
    /// at the log first and validates against the log's states (the shared store may not have recorded
    /// what a writer that lost its turn appended), repairing the listings such a writer left unrecorded.
    private func validateAndAppend(_ events: [Event], producer: String, mode: BatchMode, lease: WriterLease) throws(StorageError) -> Outcome {
        let touched = Set(events.compactMap(\.item))
        let fenced = lease.lifetimeMilliseconds != nil
        let read = try lease.step { () throws(StorageError) in
            let fence = fenced ? try log.claimTurn() : nil
            return (fence: fence, stored: try log.fingerprints(of: events.map(\.id), producer: producer),
                    lifecycle: fenced ? try log.lifecycle(of: Array(touched.union(lease.unrecorded))) : try lifecycle(of: touched))
        }
        let stored = read.stored
        var next = read.lifecycle
        var seen: [String: String] = [:]  // id → fingerprint, for the batch's accepted events
        var outcome = Outcome()
        var accepted: [Event] = [], acceptedFingerprints: [String] = [], retried = Set<ItemID>()
        for (index, event) in events.enumerated() {
            let fingerprint = event.fingerprint
            if let earlier = stored[index] ?? seen[event.id] {
                guard earlier.isEmpty || earlier == fingerprint else {
                    outcome.refused.append(Refusal(index: index, error: EventError(
                        .idConflict, "event '\(event.id)': this producer already sent another event with this id (a resend must be identical)")))
                    continue
                }
                outcome.duplicates += 1
                if stored[index] != nil, ListingLifecycle.eventTypes.contains(event.type), let item = event.item { retried.insert(item) }
                continue
            }
            do throws(EventError) {
                try checkSchema(event)
                try next.apply(event)
                accepted.append(event)
                acceptedFingerprints.append(fingerprint)
                seen[event.id] = fingerprint
            } catch {
                outcome.refused.append(Refusal(index: index, error: error))
            }
        }
        if mode == .allOrNothing && !outcome.refused.isEmpty { return outcome }
        var changed = Set(accepted.filter { ListingLifecycle.eventTypes.contains($0.type) }.compactMap(\.item))
        try lease.step { () throws(StorageError) in try states.willChange(changed, under: lease) }
        outcome.appended = try lease.step { () throws(StorageError) in
            try log.append(accepted, producer: producer, fingerprints: acceptedFingerprints, fence: read.fence).filter { $0 }.count
        }
        // Listings of retried lifecycle events (their writer may have lost its turn before recording) and
        // those an earlier writer left unrecorded are recorded again, as the log gives them (a fenced turn
        // read them from the log already).
        if !fenced && !retried.isEmpty {
            let fromLog = try log.lifecycle(of: Array(retried))
            for item in retried { next.record(item, state: fromLog.state(of: item), seller: fromLog.sellers[item]) }
        }
        changed.formUnion(retried)
        changed.formUnion(lease.unrecorded)
        if !changed.isEmpty { try lease.step { () throws(StorageError) in try states.record(next, items: changed, under: lease) } }
        outcome.states = Dictionary(uniqueKeysWithValues: changed.compactMap { item in next.state(of: item).map { (item, $0) } })
        return outcome
    }

    /// `ingest`, for a consumer that must not stop on one event: when the log refuses the batch while it
    /// still answers (`lastSequence`), the events are ingested one by one, and those it cannot store are
    /// refused with the storage error (a poison event). A log that does not answer throws, as `ingest` does.
    public func ingestIsolatingPoison(_ events: [Event], producer: String = "", mode: BatchMode = .validEvents) throws(StorageError)
        -> Outcome {
        do {
            return try ingest(events, producer: producer, mode: mode)
        } catch {
            guard events.count > 0, (try? log.lastSequence()) != nil else { throw error }
            var total = Outcome()
            for (index, event) in events.enumerated() {
                do {
                    let one = try ingest([event], producer: producer, mode: mode)
                    total.appended += one.appended
                    total.duplicates += one.duplicates
                    total.refused += one.refused.map { Refusal(index: index, error: $0.error) }
                    total.states.merge(one.states) { _, new in new }
                } catch {
                    total.refused.append(Refusal(index: index, error: EventError(.invalidField, "the log cannot store it: \(error)")))
                }
            }
            return total
        }
    }

    /// The touched listings' lifecycle from the store, or from the log when the store cannot answer.
    private func lifecycle(of items: Set<ItemID>) throws(StorageError) -> ListingLifecycle {
        do { return try states.lifecycle(of: items) } catch { return try log.lifecycle(of: Array(items)) }
    }
}
