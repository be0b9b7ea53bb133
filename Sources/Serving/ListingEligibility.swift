import Events
import Features
import RummageAPI
import RummageCore
import Storage
import Synchronization

/// The one owner of "what may be served to whom": only listings whose `listing_created` is known (in the
/// log, or the shared states) and whose state is active; never a user's own listing, never one they
/// bought; and under query filters only listings whose facts pass them.
///
/// Two views of listing states: this replica's (`local`, read inside searches, kept current by ingests,
/// by the log follower and by what each check learns) and, with replicas, the shared store (the
/// authority, read once per answer by `check`). Without a shared store the local view is the
/// authority. A check returns verdicts and records what it learned in the local view; it never changes
/// an index: listings it learned are no longer servable wait in `learned` until `EventIntake` (the write
/// path) drops them from the served indexes.
///
/// Locks: `purchases`, `facts` (readers share it) and `learned` are leaves (never held while taking another lock), as is
/// the local states' own lock.
final class ListingEligibility: Sendable {
    /// Why a listing may not be served to a user (or that it may).
    enum Verdict: Sendable, Equatable {
        case servable
        /// No `listing_created` is known: a sale could not be recorded for it, so it is never served.
        case unknownListing
        /// Sold, reserved, deleted or never published.
        case notActive
        /// The user's own listing.
        case ownListing
        /// Excluded for this request (bought, or named by the caller).
        case excluded
    }

    /// The rule, in one place.
    static func verdict(item: String, state: ListingState?, seller: UserID?, user: String?, excluded: Set<String>) -> Verdict {
        guard let state else { return .unknownListing }
        if state != .active { return .notActive }
        if let user, seller?.value == user { return .ownListing }
        if excluded.contains(item) { return .excluded }
        return .servable
    }

    /// This process's view of every listing's state.
    let local: InMemoryListingStates
    /// The states every replica shares (`RedisListingStates`); nil: the embedded default.
    let shared: (any ListingStateStore)?
    /// Where states are read when the shared store fails (the source of truth).
    private let log: any EventLog
    private let metrics: ServingMetrics
    /// Per user, listings bought (never recommended again).
    private let purchases = Mutex<[String: Set<String>]>([:])
    /// Listing content the query filters, re-ranking and rankers read (from `listing_created`, prices kept
    /// current): read by every request, written by events.
    private let facts = ReadWriteLock(ListingFactTable(), prefersWriters: true)
    /// Listings a check found no longer servable that the indexes may still hold.
    private let learned = Mutex<Set<ItemID>>([])

    init(local: InMemoryListingStates, shared: (any ListingStateStore)?, log: any EventLog, metrics: ServingMetrics) {
        self.local = local
        self.shared = shared
        self.log = log
        self.metrics = metrics
    }

    /// Whether this replica may serve `item` to anyone (its local view; answers are then `check`ed).
    func isServable(_ item: String?) -> Bool {
        guard let item else { return false }
        return Self.verdict(item: item, state: local.state(of: ItemID(item)), seller: nil, user: nil, excluded: []) == .servable
    }

    /// The user's own listings and purchases, as this replica knows them: never recommended to them.
    /// With shared states, an own listing created through another replica is caught by the answer's
    /// check (which reads each listing's seller with its state) and then known here.
    func excluded(for user: String) -> Set<String> {
        Set(local.listings(of: UserID(user)).map(\.value)).union(purchases.withLock { $0[user] ?? [] })
    }

    /// Whether `item` passes the query filters; listings whose facts are unknown do not pass a filter that
    /// asks about them.
    func passes(_ item: String, _ filters: RecommendationFilters) -> Bool {
        filters.isEmpty || facts.read { Self.passes(item, filters, in: $0) }
    }

    /// Whether `item`'s facts in `table` pass the filters; unknown facts do not pass a filter that asks about them.
    static func passes(_ item: String, _ filters: RecommendationFilters, in table: ListingFactTable) -> Bool {
        let facts = table[item]
        for (name, value) in filters.attributes {
            guard let id = table.pairIDs[ListingFactTable.key(name, value)], facts?.pairs.contains(id) == true else { return false }
        }
        if filters.minimumPrice != nil || filters.maximumPrice != nil {
            guard let price = facts?.price else { return false }
            if let minimumPrice = filters.minimumPrice, price < minimumPrice { return false }
            if let maximumPrice = filters.maximumPrice, price > maximumPrice { return false }
        }
        if let createdAfter = filters.createdAfter {
            guard let createdAt = facts?.createdAt, createdAt >= createdAfter else { return false }
        }
        return true
    }

    /// Runs `body` on the listing facts remembered from the events (under their lock), for a learned
    /// ranker's rows (`RankingFeatures.onlineRows`).
    func readFacts(_ body: (ListingFactTable) -> Void) {
        facts.read { body($0) }
    }

    /// Each listing as re-ranking reads it: its remembered attributes, seller and creation time.
    func reRankingCandidates(_ items: [String]) -> [ReRanking.Candidate] {
        facts.read { table in
            items.map { item in
                let facts = table[item]
                return ReRanking.Candidate(item: item, attributes: table.attributes(of: item), seller: facts?.seller, createdAt: facts?.createdAt)
            }
        }
    }

    /// Each listing's creation time (`Int64.min` when unknown).
    func creationTimes(of items: [String]) -> [Int64] {
        facts.read { table in items.map { table[$0]?.createdAt ?? Int64.min } }
    }

    /// Remembers what the rule and the filters need from an event: purchases, listing facts, prices.
    func remember(_ event: Event) {
        guard let item = event.item?.value else { return }
        switch event.type {
        case .purchase:
            if let user = event.user?.value { purchases.withLock { _ = $0[user, default: []].insert(item) } }
        case .listingCreated, .priceChanged:
            facts.write { $0.remember(event) }
        default:
            break
        }
    }

    /// With shared states: records in the local view what this replica's own ingest changed (the shared
    /// store was written by the ingestor).
    func recordIngested(_ outcome: EventIngestor.Outcome, events: [Event]) {
        guard shared != nil else { return }
        let sellers = Dictionary(events.compactMap { e in e.type == .listingCreated ? e.item.flatMap { i in e.user.map { (i, $0) } } : nil },
                                 uniquingKeysWith: { first, _ in first })
        local.record(ListingLifecycle(states: outcome.states, sellers: sellers), items: Set(outcome.states.keys))
    }

    /// What a check found: each listing's authoritative state and seller.
    struct Check: Sendable {
        var entries: [(state: ListingState?, seller: UserID?)]

        /// The verdict for each listing checked, for `user` with `excluded`.
        func verdicts(_ items: [String], user: String?, excluded: Set<String>) -> [Verdict] {
            zip(items, entries).map { item, entry in
                ListingEligibility.verdict(item: item, state: entry.state, seller: entry.seller, user: user, excluded: excluded)
            }
        }
    }

    /// The authoritative state and seller of each of `items`: the shared store's (or, should it fail, the
    /// event log's; if that fails too, none of them is servable) with replicas, else this process's. What
    /// the shared states teach is recorded in the local view, and listings found no longer servable are
    /// kept for `takeLearned`.
    func check(_ items: [String]) -> Check {
        let ids = items.map { ItemID($0) }
        guard let shared else { return Check(entries: local.entries(of: ids)) }
        let truth: ListingLifecycle
        do {
            truth = try shared.lifecycle(of: Set(ids))
        } catch {
            metrics.fellBack("listing_states")
            guard let fromLog = try? log.lifecycle(of: ids) else {
                return Check(entries: ids.map { _ in (.deleted, nil) })
            }
            truth = fromLog
        }
        let known = local.entries(of: ids)
        let changed = Set(zip(ids, known).filter { item, known in
            truth.state(of: item) != known.state || (truth.sellers[item] != nil && known.seller == nil)
        }.map(\.0))
        if !changed.isEmpty {
            local.record(truth, items: changed)
            let gone = changed.filter { truth.state(of: $0).map { $0 != .active } ?? false }
            if !gone.isEmpty { learned.withLock { $0.formUnion(gone) } }
        }
        return Check(entries: ids.map { (truth.state(of: $0), truth.sellers[$0]) })
    }

    /// The listings checks found no longer servable since the last call (the write path drops them from
    /// the indexes).
    func takeLearned() -> Set<ItemID> { learned.withLock { learned in defer { learned = [] }; return learned } }
}
