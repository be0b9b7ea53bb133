import Events
import LinearAlgebra
import RummageCore
import Storage
import Synchronization

/// Events into the serving state: validated and appended durably by the ingestor, then applied to the
/// online features, to what eligibility remembers and to every served index (unservable listings leave
/// it before the events are acknowledged; new listings are embedded from their content and join it).
/// With replicas, it also follows what other processes appended to the shared log.
///
/// Locks, in order: `followed` (held while one batch of the shared log is applied), then the slots'
/// lock (to list deployments); `newListingEvents` is a leaf.
final class EventIntake: Sendable {
    let ingestor: EventIngestor
    private let eligibility: ListingEligibility
    private let signals: OnlineSignals
    private let slots: DeploymentSlots
    private let metrics: ServingMetrics
    /// Every `listing_created` event: a deployment whose model never saw the listing embeds it from them.
    private let newListingEvents: Mutex<[Event]>
    /// With shared states: the log position up to which this replica has applied what other processes
    /// appended.
    private let followed: Mutex<Int64>

    /// `listingEvents`: the listing events replayed at start, in log order; `position`: the log's last
    /// sequence then.
    init(ingestor: EventIngestor, listingEvents: [Event], position: Int64, eligibility: ListingEligibility, signals: OnlineSignals,
         slots: DeploymentSlots, metrics: ServingMetrics) {
        self.ingestor = ingestor
        self.eligibility = eligibility
        self.signals = signals
        self.slots = slots
        self.metrics = metrics
        followed = Mutex(position)
        for event in listingEvents { eligibility.remember(event) }
        newListingEvents = Mutex(listingEvents.filter { $0.type == .listingCreated })
    }

    /// Brings a freshly loaded deployment up to date: new listings embedded and indexed, listings that
    /// may not be served removed.
    func prepare(_ deployment: Deployment) {
        for event in newListingEvents.withLock({ $0 }) where eligibility.isServable(event.item?.value) {
            deployment.addNewListing(event)
            if let item = event.item?.value, deployment.id(of: item) != nil { deployment.noteListing(createdAt: event.timestamp) }
        }
        deployment.index.remove(ids: deployment.indexedListings.filter { !eligibility.isServable($0.item) }.map(\.id))
    }

    /// Takes events (already parsed): validates them against the lifecycle and appends the valid ones
    /// durably, then updates the online features and every served deployment. `variantOf` attributes an
    /// event to the variant whose answer it follows (for the per-variant counters); `producer` scopes
    /// the event ids (`EventIngestor`).
    func ingest(_ events: [Event], producer: String, variantOf: (Event) -> String) throws -> EventIngestor.Outcome {
        let outcome = try ingestor.ingest(events, producer: producer)
        eligibility.recordIngested(outcome, events: events)
        let refused = Set(outcome.refused.map(\.index))
        let accepted = events.enumerated().filter { !refused.contains($0.offset) }.map(\.element)
        metrics.record(accepted: accepted, refused: refused.count, variantOf: variantOf)
        _ = signals.read { () throws(StorageError) in try signals.store.apply(accepted) }
        apply(accepted)
        return outcome
    }

    /// Brings every served deployment up to date with `events` (already in the log and in the local
    /// states): facts and purchases remembered, new listings embedded and indexed, listings that may no
    /// longer be served removed from the index and relisted ones added back.
    private func apply(_ events: [Event]) {
        let deployments = slots.deployments
        for event in events {
            eligibility.remember(event)
            guard let item = event.item?.value else { continue }
            if event.type == .listingCreated { newListingEvents.withLock { $0.append(event) } }
            for d in deployments {
                if event.type == .listingCreated { d.addNewListing(event) }
                guard let id = d.id(of: item) else { continue }
                if event.type == .listingCreated { d.noteListing(createdAt: event.timestamp) }
                if !eligibility.isServable(item) {
                    d.index.remove(ids: [id])
                } else if !d.index.contains(id), let vector = d.vector(of: id) {
                    d.index.add(ids: [id], vectors: Matrix(rows: 1, columns: vector.count, storage: vector))
                }
            }
        }
    }

    /// With shared states, replicas follow the shared log: applies what other processes (replicas,
    /// `rummage ingest` consumers) appended since the last call, up to `limit` events. Their listings'
    /// states are read from the shared store (the authority), then new listings are embedded and
    /// indexed, relisted ones indexed again and unservable ones dropped, as for this replica's own
    /// ingests; listings the answers' checks learned are no longer servable leave the indexes too.
    /// Returns the number of events read (0 without shared states).
    func followLog(limit: Int) throws -> Int {
        guard eligibility.shared != nil else { return 0 }
        return try followed.withLock { position throws -> Int in
            let learned = eligibility.takeLearned()
            if !learned.isEmpty {
                for d in slots.deployments { d.index.remove(ids: learned.compactMap { d.id(of: $0.value) }) }
            }
            try ingestor.log.checkReachable()
            let found = try ingestor.log.events(after: position, limit: limit)
            guard let last = found.last?.sequence else { return 0 }
            let events = found.map(\.event)
            let fresh = events.filter { event in
                // Listings this replica already knows (its own, or replayed) are not new to it.
                event.type != .listingCreated || event.item.map { eligibility.local.state(of: $0) == nil } ?? false
            }
            let touched = Set(events.filter { ListingLifecycle.eventTypes.contains($0.type) }.compactMap { $0.item?.value })
            _ = eligibility.check(Array(touched))
            apply(fresh)
            position = last
            return found.count
        }
    }
}
