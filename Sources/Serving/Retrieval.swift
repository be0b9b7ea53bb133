import Events
import Foundation
import LinearAlgebra
import RummageAPI
import RummageCore
import Synchronization
import VectorSearch

/// The searches behind an answer: a user's personalised top k, listings like a listing, and the popular
/// fallback, each ending in `ListingEligibility`'s check of the answer.
///
/// The index holds only servable listings (an event that makes a listing unservable removes it before
/// the event is acknowledged), so the lifecycle is checked on the answer rather than on every node a
/// search visits; should an answer hold a listing that is no longer servable (a sale racing the request,
/// or one made through another replica), the search runs again with the lifecycle check inside, at most
/// `recheckLimit` times. Exclusions and query filters are always applied inside the search, so they
/// never cost result slots. Searches never change an index.
///
/// Locks: `popularCache` is a leaf; the slots' lock is taken only to list deployments.
final class Retrieval: Sendable {
    let eligibility: ListingEligibility
    let signals: OnlineSignals
    private let slots: DeploymentSlots
    /// The orders of every indexed listing that `popular` and `latest` walk down.
    enum Order: Sendable, Hashable {
        /// Engagements over the 7 days before the latest event, then newest, then by id.
        case popular
        /// Newest first (event time), then by id; the score is the creation time in hours.
        case latest
    }

    /// Per deployment and order: the ranking, when (wall clock) and at which event time it was computed.
    private let rankingCache = Mutex<[RankingKey: (computedAt: Double, eventTime: Int64, ranking: [(String, Float)])]>([:])

    struct RankingKey: Hashable {
        var deployment: ObjectIdentifier
        var order: Order
    }

    /// How many times an answer that failed its final check is computed again.
    static let recheckLimit = 3
    /// How long (wall-clock seconds) a popular or latest ranking is reused at the same event time.
    static let rankingTTL = 5.0

    init(eligibility: ListingEligibility, signals: OnlineSignals, slots: DeploymentSlots) {
        self.eligibility = eligibility
        self.signals = signals
        self.slots = slots
    }

    /// How many of `items` may not be served to `user` (their own listings, `excluded`) or to anyone (not
    /// active); one store read for all.
    func unservableCount(_ items: [String], excluded: Set<String>, user: String?) -> Int {
        guard !items.isEmpty else { return 0 }
        return eligibility.check(items).verdicts(items, user: user, excluded: excluded).filter { $0 != .servable }.count
    }

    /// The personalised top `k` of deployment `d`: nil when the user has no query (no personal data),
    /// empty when nothing passes. Also returns how many listings of the answer fail the final check (0
    /// unless something is broken: the `rummage_recs_unservable_served_total` metric).
    func personalised(_ d: Deployment, user: String, excluded: Set<String>, k: Int, filters: RecommendationFilters)
        -> (hits: [(id: Int64, item: ScoredItem)]?, unservable: Int) {
        guard let vector = signals.query(d, user: user) else { return (nil, 0) }
        let (found, unservable) = checked(user: user, excluded: excluded, items: { $0.map(\.item.item) }) {
            search(d, vector, k: k, excluding: $0, filters: filters, checksStates: $1)
        }
        return (found, unservable)
    }

    /// The index's top `k` for `vector` with `excluded` (and `also` excluded by index id) and the filters
    /// inside the search, and with `checksStates` the lifecycle too.
    private func search(_ d: Deployment, _ vector: [Float], k: Int, excluding excluded: Set<String>, also excludedID: Int64? = nil,
                        filters: RecommendationFilters, checksStates: Bool) -> [(id: Int64, item: ScoredItem)] {
        let query = Matrix(rows: 1, columns: vector.count, storage: vector)
        let eligibility = self.eligibility
        let excludedIDs = Set(excluded.compactMap { d.id(of: $0) } + (excludedID.map { [$0] } ?? []))
        var filter: (@Sendable (Int64) -> Bool)? = nil
        if !checksStates && filters.isEmpty {
            if !excludedIDs.isEmpty { filter = { !excludedIDs.contains($0) } }
        } else {
            filter = { id in
                guard !excludedIDs.contains(id), let item = d.itemID(of: id) else { return false }
                return (!checksStates || eligibility.isServable(item)) && eligibility.passes(item, filters)
            }
        }
        return d.index.search(query, k: k, filter: filter)[0].compactMap { hit in
            d.itemID(of: hit.id).map { (hit.id, ScoredItem(item: $0, score: hit.score)) }
        }
    }

    /// Computes an answer with `answer(excluded, checksStates)` and checks it; while the check finds
    /// listings that may not be served (it taught this replica what it missed: a sale through another
    /// replica, the user's own listing), computes it again, at most `recheckLimit` times, excluding what
    /// is now known of the user and with `checksStates` (searches then check the lifecycle inside).
    /// Returns the answer and how many of its listings still fail the check.
    private func checked<Answer>(user: String?, excluded: Set<String>, items: (Answer) -> [String],
                                 _ answer: (_ excluding: Set<String>, _ checksStates: Bool) -> Answer) -> (Answer, Int) {
        var result = answer(excluded, false)
        var unservable = unservableCount(items(result), excluded: excluded, user: user)
        for _ in 0..<Self.recheckLimit where unservable > 0 {
            let now = user.map { excluded.union(eligibility.excluded(for: $0)) } ?? excluded
            result = answer(now, true)
            unservable = unservableCount(items(result), excluded: now, user: user)
        }
        return (result, unservable)
    }

    /// Listings most like `item` (by embedding), servable only, the item itself left out, with `user`'s
    /// exclusions and the filters inside the search, checked like any answer. Nil when the item is
    /// unknown to the deployment.
    func similar(_ d: Deployment, item: String, user: String?, excluded: Set<String>, k: Int, filters: RecommendationFilters)
        -> (hits: [(id: Int64, item: ScoredItem)]?, unservable: Int) {
        guard let id = d.id(of: item), let vector = d.vector(of: id) else { return (nil, 0) }
        let (found, unservable) = checked(user: user, excluded: excluded, items: { $0.map(\.item.item) }) {
            search(d, vector, k: k, excluding: $0, also: id, filters: filters, checksStates: $1)
        }
        return (found, unservable)
    }

    /// The first `k` servable listings of `order` for `user`, checked like any answer (recomputed while
    /// the check finds something it may not serve). Returns the listings and how many still fail the check.
    func ranked(_ order: Order, _ d: Deployment, user: String?, k: Int, excluded: Set<String>, filters: RecommendationFilters)
        -> (items: [ScoredItem], unservable: Int) {
        checked(user: user, excluded: excluded, items: { $0.map(\.item) }) { excluding, _ in
            walk(order, d, k: k, excluding: excluding, filters: filters)
        }
    }

    /// The first `k` servable listings of `order` that pass the exclusions and filters.
    ///
    /// Each order over every indexed listing is cached per deployment for `rankingTTL` seconds and the
    /// event clock it was computed at, so answers cost a walk down a list rather than a pass over the
    /// index; each answer still checks the lifecycle, exclusions and filters per listing.
    func walk(_ order: Order, _ d: Deployment, k: Int, excluding excluded: Set<String>,
              filters: RecommendationFilters = RecommendationFilters()) -> [ScoredItem] {
        var out: [ScoredItem] = []
        for (item, score) in ranking(order, d) where out.count < k {
            guard !excluded.contains(item), eligibility.isServable(item), eligibility.passes(item, filters) else { continue }
            out.append(ScoredItem(item: item, score: score))
        }
        return out
    }

    /// The most engaged-with servable listings over the 7 days before the latest event (event time, so
    /// a replayed log gives the same answer), then the newest, then by id.
    func popular(_ d: Deployment, k: Int, excluding excluded: Set<String>, filters: RecommendationFilters = RecommendationFilters())
        -> [ScoredItem] {
        walk(.popular, d, k: k, excluding: excluded, filters: filters)
    }

    private func ranking(_ order: Order, _ d: Deployment) -> [(String, Float)] {
        let latest = signals.eventTime, now = Date().timeIntervalSince1970, key = RankingKey(deployment: ObjectIdentifier(d), order: order)
        if let cached = rankingCache.withLock({ $0[key] }), cached.eventTime == latest, now - cached.computedAt < Self.rankingTTL {
            return cached.ranking
        }
        let live = d.indexedListings.map(\.item).filter { eligibility.isServable($0) }
        let created = eligibility.creationTimes(of: live)
        let ranking: [(String, Float)]
        switch order {
        case .popular:
            ranking = zip(zip(live, signals.engagements(of: live, at: latest)), created)
                .sorted { a, b in (a.0.1, a.1, b.0.0) > (b.0.1, b.1, a.0.0) }.map(\.0)
        case .latest:
            ranking = zip(live, created).sorted { a, b in (a.1, b.0) > (b.1, a.0) }
                .map { ($0.0, $0.1 == Int64.min ? 0 : Float(Double($0.1) / 3600)) }
        }
        let served = Set(slots.deployments.map(ObjectIdentifier.init))
        rankingCache.withLock { cache in
            cache = cache.filter { served.contains($0.key.deployment) }
            cache[key] = (now, latest, ranking)
        }
        return ranking
    }
}
