import Datasets
import Events
import Features
import Foundation
import LinearAlgebra
import Registry
import RummageAPI
import RummageCore
import Storage
import Synchronization
import Telemetry
import Training
import TwoTower
import VectorSearch

/// An error while loading what the service serves.
public struct ServingError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Real-time recommendations from a registered model version: its user embeddings and item index, the
/// event log's listing states and the online features (a user's recent listings move their query at
/// request time, see `queryVector`).
///
/// Never served: listings that are not active (sold, reserved, deleted, draft, hidden), the user's own
/// listings, and listings the user already bought. The index drops a listing the moment an event makes
/// it unservable, and every answer is filtered again against the lifecycle. Users the model does not
/// know get popular recent listings, marked as a fallback.
///
/// Hot swap: `reload` loads another version in the background (refusing one whose index does not match
/// its model), brings it up to date with the listing states and new listings, and swaps it in
/// atomically; a request in flight keeps the version it started with.
///
/// Experiments: with an `Experiment`, each variant's alias is loaded as its own deployment (a slot), each
/// user is served by the variant the split assigns them, every answer names its variant and ranking id,
/// and its listings are logged as `impression` events carrying the experiment and variant.
public final class RecommendationService: Sendable {
    public let modelName: String
    public let registry: ModelRegistry
    /// The alias (or version) served when no experiment assigns another; also the one `similar` and
    /// batch recommendations use.
    public let primaryAlias: String
    public let experiment: Experiment?
    /// One deployment per served alias: the primary one and each experiment variant.
    private let slots: Mutex<[String: Deployment]>
    private let impressions: ImpressionLog?
    private let reloading = Mutex<Void>(())
    private let ingestor: EventIngestor
    /// This process's view of every listing's state: what in-search checks read. Authoritative without a
    /// shared store; with one, kept current by this replica's ingests and by what each answer's check
    /// against the shared store learns.
    private let localStates: InMemoryListingStates
    /// The listing states every replica shares (`RedisListingStates`), checked on each answer; nil: the
    /// embedded default (`localStates` is the ingestor's store).
    private let sharedStates: (any ListingStateStore)?
    /// The online features: in memory (replayed from the log at start) or shared (`RedisFeatureStore`,
    /// rebuilt by `rummage online rebuild`). Reads that fail fall back to no online signal.
    private let features: any OnlineFeatureStore
    /// Lists computed in batch, served (filtered against current states) to users the model cannot
    /// rank in real time, before the popular fallback.
    private let precomputed: (any PrecomputedRecommendationStore)?
    /// With shared states: the log position up to which this replica has applied what other processes
    /// appended (`followLog`), and the lock that keeps followers from running twice at once.
    private let followed: Mutex<Int64>
    /// Per user, listings bought (never recommended again).
    private let purchases = Mutex<[String: Set<String>]>([:])
    /// Every `listing_created` event: a deployment whose model never saw the listing embeds it from them.
    private let newListingEvents = Mutex<[Event]>([])
    let metrics: ServingMetrics
    /// Per deployment: the popular ranking, when (wall clock) and at which event time it was computed.
    private let popularCache = Mutex<[ObjectIdentifier: (computedAt: Double, eventTime: Int64, ranking: [(String, Float)])]>([:])
    /// False turns off the per-request metrics (answers, drift, coverage, HTTP latency), to measure their
    /// cost (`rummage bench serve`); scrape-time gauges still work.
    public let measuresRequests: Bool
    /// With an experiment: the variant of each recent ranking id (two generations of up to 100,000), so
    /// clicks and purchases that name a ranking count towards the variant that served it.
    private let rankingVariants = Mutex<(current: [String: String], previous: [String: String])>(([:], [:]))

    /// Loads version `reference` (a number or an alias) of `model` from `registry`, each variant alias of
    /// `experiment` too, and the event log at `logPath` (created if missing), replaying it into the
    /// lifecycle and the online feature store. With `listingStates` (shared by replicas), ingests record
    /// states there and every answer is checked against it; with `featureStore` (shared), features are
    /// read and updated there instead of replayed into memory.
    public init(registry: ModelRegistry, model: String, reference: String, logPath: String, experiment: Experiment? = nil,
                listingStates: (any ListingStateStore)? = nil, featureStore: (any OnlineFeatureStore)? = nil,
                precomputed: (any PrecomputedRecommendationStore)? = nil, measuresRequests: Bool = true) throws {
        self.precomputed = precomputed
        self.registry = registry
        self.measuresRequests = measuresRequests
        modelName = model
        primaryAlias = reference
        self.experiment = experiment
        metrics = ServingMetrics(variants: [reference] + (experiment?.variants.map(\.alias).filter { $0 != reference } ?? []))
        let deployment = try Deployment(registry: registry, model: model, reference: reference)
        var loaded = [reference: deployment]
        for variant in experiment?.variants ?? [] where loaded[variant.alias] == nil {
            loaded[variant.alias] = try Deployment(registry: registry, model: model, reference: variant.alias)
        }
        slots = Mutex(loaded)
        let log = try openEventLog(logPath)
        // Events appended from here on are followed (`followLog`); those the replay below also sees are
        // applied twice, which changes nothing.
        followed = Mutex(try log.lastSequence())
        // One pass over the log: the listing lifecycle and the listing events and purchases this process
        // remembers (listing content, purchases, new listings) and, without a shared feature store, every
        // event into an in-memory one.
        let local: InMemoryFeatureStore? = featureStore == nil ? InMemoryFeatureStore() : nil
        var lifecycle = ListingLifecycle(), listingEvents: [Event] = [], batch: [Event] = []
        try log.readAll(order: .appended, types: local == nil ? ListingLifecycle.eventTypes : nil) { event in
            if let local {
                batch.append(event)
                if batch.count >= 10_000 { local.apply(batch); batch.removeAll(keepingCapacity: true) }
            }
            guard ListingLifecycle.eventTypes.contains(event.type) else { return }
            try? lifecycle.apply(event)
            listingEvents.append(event)
        }
        local?.apply(batch)
        features = featureStore ?? local!
        localStates = InMemoryListingStates(lifecycle)
        sharedStates = listingStates
        ingestor = try EventIngestor(log: log, states: listingStates ?? localStates)
        impressions = experiment == nil ? nil : ImpressionLog(ingestor: ingestor, metrics: metrics)
        for event in listingEvents {
            remember(event)
            if event.type == .listingCreated { newListingEvents.withLock { $0.append(event) } }
        }
        for slot in loaded.values { prepare(slot) }
        registerCollectedMetrics()
    }

    /// Brings a freshly loaded deployment up to date: new listings embedded and indexed, listings that
    /// are not active removed.
    private func prepare(_ deployment: Deployment) {
        for event in newListingEvents.withLock({ $0 }) where isServable(event.item?.value) {
            deployment.addNewListing(event)
            if let item = event.item?.value, deployment.id(of: item) != nil { deployment.noteListing(createdAt: event.timestamp) }
        }
        let gone = deployment.index.withAllIDs { ids in ids.filter { !isServable(deployment.itemID(of: $0)) } }
        deployment.index.remove(ids: gone)
        // The drift baseline: what this version answers now, through the serving path (request-time
        // queries, exclusions), for up to 500 of its users spread over its user table.
        deployment.setQuality {
            let users = deployment.users.sorted { $0.value < $1.value }.map(\.key)
            let sample = stride(from: 0, to: users.count, by: max(1, users.count / 500)).map { users[$0] }
            let scores = sample.flatMap { user in
                ranked(deployment, user: user, excluded: excluded(for: user), k: 20, filters: RecommendationFilters()).hits.map(\.item.score)
            }
            return ServingQuality(baselineScores: scores.isEmpty ? [0] : scores, capacity: deployment.itemIDs.count + 65_536)
        }
    }

    /// The aliases served: the primary one, then the experiment's variants.
    public var servedAliases: [String] {
        [primaryAlias] + (experiment?.variants.map(\.alias).filter { $0 != primaryAlias } ?? [])
    }

    /// Hot swap. When `reference` is a served alias, its slot is reloaded to the version the alias points
    /// at now; otherwise `reference` (any alias or version) is loaded into the primary slot. Returns the
    /// slot and its versions before and after. Throws (and keeps serving the current version) when the
    /// new one cannot be loaded or its index belongs to another model.
    @discardableResult
    public func reload(to reference: String) throws -> (slot: String, from: Int, to: Int) {
        let slot = servedAliases.contains(reference) ? reference : primaryAlias
        do {
            let moved = try reloading.withLock { _ -> (slot: String, from: Int, to: Int) in
                let from = slots.withLock { $0[slot]!.version }
                let next = try Deployment(registry: registry, model: modelName, reference: reference)
                guard next.version != from else { return (slot, from, from) }
                prepare(next)
                slots.withLock { $0[slot] = next }
                // Events ingested while `next` was being prepared reached only the old deployment: catch up.
                prepare(next)
                return (slot, from, next.version)
            }
            metrics.reloads.labels(slot, moved.from == moved.to ? "unchanged" : "swapped").increment()
            return moved
        } catch {
            metrics.reloads.labels(slot, "failed").increment()
            throw error
        }
    }

    /// The primary slot's deployment.
    var deployment: Deployment { slots.withLock { $0[primaryAlias]! } }

    /// The variant serving `user` and its deployment.
    func deployment(for user: String) -> (variant: String, deployment: Deployment) {
        let variant = experiment?.variant(for: user) ?? primaryAlias
        return (variant, slots.withLock { $0[variant]! })
    }

    /// Every served alias with its version.
    public var servedVersions: [(alias: String, version: Int)] {
        let loaded = slots.withLock { $0 }
        return servedAliases.map { ($0, loaded[$0]!.version) }
    }

    public var modelVersion: Int { deployment.version }

    /// A listing may be served when the log knows it as active, or does not know it at all (listings of
    /// the training data that no event has touched since). Reads this replica's view (`localStates`);
    /// answers are checked against the shared states too (`unservableCount`).
    func isServable(_ item: String?) -> Bool {
        guard let item else { return false }
        guard let state = localStates.state(of: ItemID(item)) else { return true }
        return state == .active
    }

    /// The authoritative state and seller of each of `items`: the shared store's (or, should it fail, the
    /// event log's) when replicas share states, else this process's. What the shared states teach is
    /// recorded locally, and listings found unservable leave every served index.
    func checkedListings(_ items: [String]) -> [(state: ListingState?, seller: UserID?)] {
        let ids = items.map { ItemID($0) }
        guard let sharedStates else { return localStates.entries(of: ids) }
        let truth: ListingLifecycle
        do {
            truth = try sharedStates.lifecycle(of: Set(ids))
        } catch {
            metrics.onlineStoreFallbacks.labels("listing_states").increment()
            // The log is the source of truth; if it cannot answer either, serve none of them.
            guard let fromLog = try? ingestor.log.lifecycle(of: ids) else { return ids.map { _ in (.deleted, nil) } }
            truth = fromLog
        }
        let local = localStates.entries(of: ids)
        let changed = Set(zip(ids, local).filter { item, known in
            truth.state(of: item) != known.state || (truth.sellers[item] != nil && known.seller == nil)
        }.map(\.0))
        if !changed.isEmpty {
            localStates.record(truth, items: changed)
            let gone = changed.filter { truth.state(of: $0).map { $0 != .active } ?? false }
            for d in slots.withLock({ Array($0.values) }) { d.index.remove(ids: gone.compactMap { d.id(of: $0.value) }) }
        }
        return ids.map { (truth.state(of: $0), truth.sellers[$0]) }
    }

    /// Listing content the query filters read (from `listing_created`, prices kept current).
    struct ListingFacts: Sendable {
        var category: String?
        var size: String?
        var price: Double?
    }

    private let listingFacts = Mutex<[String: ListingFacts]>([:])

    private func remember(_ event: Event) {
        guard let item = event.item?.value else { return }
        switch event.type {
        case .purchase:
            if let user = event.user?.value { purchases.withLock { _ = $0[user, default: []].insert(item) } }
        case .listingCreated:
            listingFacts.withLock {
                $0[item] = ListingFacts(category: event.attributes["category"], size: event.attributes["size"], price: event.price)
            }
        case .priceChanged:
            listingFacts.withLock { $0[item, default: ListingFacts()].price = event.price }
        default:
            break
        }
    }

    func passes(_ item: String, _ filters: RecommendationFilters) -> Bool {
        filters.isEmpty || filters.accepts(listingFacts.withLock { $0[item] })
    }

    /// The user's top `k` servable listings from the variant serving them (with an experiment, the
    /// answer's listings are also logged as impressions).
    public func recommend(user: String, k: Int, filters: RecommendationFilters = RecommendationFilters()) -> Recommendations {
        let (variant, d) = deployment(for: user)
        let excluded = excluded(for: user)
        var (hits, unservable) = ranked(d, user: user, excluded: excluded, k: k, filters: filters)
        var answer = Recommendations(user: user, modelVersion: d.version, items: hits.map(\.item), fallback: false, variant: variant,
                                     experiment: experiment?.name, rankingID: UUID().uuidString)
        if answer.items.isEmpty, let stored = precomputedList(user: user, k: k, excluding: excluded, filters: filters) {
            answer.items = stored.items
            answer.modelVersion = stored.modelVersion
            answer.fallback = true
        }
        if answer.items.isEmpty {
            answer.items = popular(d, k: k, excluding: excluded, filters: filters)
            answer.fallback = true
            unservable = unservableCount(answer.items.map(\.item), excluded: excluded, user: user)
            for _ in 0..<Self.recheckLimit where unservable > 0 {
                let now = excluded.union(self.excluded(for: user))
                answer.items = popular(d, k: k, excluding: now, filters: filters)
                unservable = unservableCount(answer.items.map(\.item), excluded: now, user: user)
            }
        } else if measuresRequests {
            d.quality?.record(hits.map(\.id), scores: hits.map(\.item.score))
        }
        if measuresRequests { metrics.record(answer, unservable: unservable) }
        if let impressions {
            impressions.record(answer)
            rankingVariants.withLock { maps in
                maps.current[answer.rankingID] = variant
                if maps.current.count >= 100_000 { maps = (current: [:], previous: maps.current) }
            }
        }
        return answer
    }

    /// The user's precomputed list, without the listings that may not be served to them now (checked
    /// against the shared states like any answer); nil when there is none or it holds nothing servable.
    func precomputedList(user: String, k: Int, excluding excluded: Set<String>, filters: RecommendationFilters) -> Recommendations? {
        guard let precomputed else { return nil }
        let stored: Recommendations?
        do { stored = try precomputed.list(for: user) } catch {
            metrics.onlineStoreFallbacks.labels("precomputed").increment()
            return nil
        }
        guard var list = stored else { return nil }
        let candidates = list.items.filter { !excluded.contains($0.item) && isServable($0.item) && passes($0.item, filters) }
        let checked = checkedListings(candidates.map(\.item))
        list.items = Array(zip(candidates, checked).filter { _, listing in
            (listing.state == nil || listing.state == .active) && listing.seller?.value != user
        }.map(\.0).prefix(k))
        return list.items.isEmpty ? nil : list
    }

    /// The variant an event's ranking was served by: its own `variant` attribute, the variant remembered
    /// for its `ranking_id`, or the primary alias.
    func variant(of event: Event) -> String {
        if let variant = event.attributes["variant"] { return variant }
        if let ranking = event.rankingID, experiment != nil,
           let variant = rankingVariants.withLock({ $0.current[ranking] ?? $0.previous[ranking] }) {
            return variant
        }
        return primaryAlias
    }

    /// The user's own listings and purchases, as this replica knows them: never recommended to them.
    /// With shared states, an own listing created through another replica is caught by the answer's
    /// check (which reads each listing's seller with its state) and then known here.
    func excluded(for user: String) -> Set<String> {
        Set(localStates.listings(of: UserID(user)).map(\.value)).union(purchases.withLock { $0[user] ?? [] })
    }

    /// The personalised top `k` of deployment `d`; empty when the user has no query vector or nothing passes.
    ///
    /// The index holds only servable listings (an event that makes a listing unservable removes it before
    /// the event is acknowledged), so the lifecycle is checked on the answer rather than on every node the
    /// search visits; should the answer hold a listing that is no longer servable (a sale racing this
    /// request), the search runs again with the lifecycle check inside. Exclusions and query filters are
    /// always applied inside the search, so they never cost result slots.
    /// Also returns how many listings of the answer fail a final lifecycle check (0 unless something is broken:
    /// the `rummage_recs_unservable_served_total` metric).
    private func ranked(_ d: Deployment, user: String, excluded: Set<String>, k: Int, filters: RecommendationFilters)
        -> (hits: [(id: Int64, item: ScoredItem)], unservable: Int) {
        guard let vector = queryVector(d, user: user) else { return ([], 0) }
        let query = Matrix(rows: 1, columns: vector.count, storage: vector)
        func named(_ hits: [SearchHit]) -> [(id: Int64, item: ScoredItem)] {
            hits.compactMap { hit in d.itemID(of: hit.id).map { (hit.id, ScoredItem(item: $0, score: hit.score)) } }
        }
        /// The search with `excluded` and the filters inside, and with `checksStates` the lifecycle too.
        func search(excluding excluded: Set<String>, checksStates: Bool) -> [(id: Int64, item: ScoredItem)] {
            let excludedIDs = Set(excluded.compactMap { d.id(of: $0) })
            var filter: (@Sendable (Int64) -> Bool)? = nil
            if !checksStates && filters.isEmpty {
                if !excludedIDs.isEmpty { filter = { !excludedIDs.contains($0) } }
            } else {
                filter = { [self] id in
                    guard !excludedIDs.contains(id), let item = d.itemID(of: id) else { return false }
                    return (!checksStates || isServable(item)) && passes(item, filters)
                }
            }
            return named(d.index.search(query, k: k, filter: filter)[0])
        }
        var found = search(excluding: excluded, checksStates: false)
        var unservable = unservableCount(found.map(\.item.item), excluded: excluded, user: user)
        // The check taught this replica what it missed (a sale through another replica, the user's own
        // listing): search again, a bounded number of times, with the lifecycle check inside.
        for _ in 0..<Self.recheckLimit where unservable > 0 {
            let now = excluded.union(self.excluded(for: user))
            found = search(excluding: now, checksStates: true)
            unservable = unservableCount(found.map(\.item.item), excluded: now, user: user)
        }
        return (found, unservable)
    }

    /// How many times an answer that failed its final check is computed again.
    static let recheckLimit = 3

    /// How many of `items` may not be served to `user` (their own listings, `excluded`) or to anyone (not
    /// active); one store read for all.
    func unservableCount(_ items: [String], excluded: Set<String>, user: String?) -> Int {
        guard !items.isEmpty else { return 0 }
        return zip(items, checkedListings(items)).filter { item, checked in
            (checked.state != nil && checked.state != .active) || excluded.contains(item) || (user != nil && checked.seller?.value == user)
        }.count
    }

    /// Writes the impressions logged so far to the event log now (they are otherwise written in batches).
    public func flushImpressions() { impressions?.flush() }

    /// Runs a read or write of the online feature store; when it fails, counts a fallback and returns nil.
    private func featureRead<T>(_ body: () throws(StorageError) -> T) -> T? {
        do { return try body() } catch {
            metrics.onlineStoreFallbacks.labels("features").increment()
            return nil
        }
    }

    /// "Now" for online features: one second after the latest event applied (event time, so a replayed
    /// log gives the same answers), or the wall clock before any event.
    var eventTime: Int64 {
        let latest = featureRead { () throws(StorageError) in try features.latestEventTime() } ?? Int64.min
        return InMemoryFeatureStore.currentTime(latest: latest)
    }

    /// How much the listings a user engaged with recently (the online store's `user_recent_items`) pull
    /// the user's stored embedding towards them.
    public static let recentWeight: Float = 0.5

    /// The user's query at request time, so a like changes the next answer. For a two-tower model whose
    /// user tower reads online features (`features=true`): the user tower run now on the user's current
    /// online features (a user the model never saw gets the unknown id). For other models: the trained
    /// user embedding plus `recentWeight` times the mean embedding of the listings they liked, saved,
    /// bagged or bought recently, normalised; a user the model never saw is served from their recent
    /// listings alone. Nil for an unknown user with no online signal.
    func queryVector(_ d: Deployment, user: String) -> [Float]? {
        if let tokens = d.userFeatureTokens, let twoTower = d.twoTower {
            let fields = twoTower.userDynamicFields
            let read = featureRead { () throws(StorageError) in try features.currentValues(fields.map(\.name), entity: user) }
            let values = read ?? fields.map { features.features.definition(named: $0.name)?.emptyValue ?? .ids([]) }
            let known = d.users[user]
            guard known != nil || values.contains(where: \.isSignal) else { return nil }
            return twoTower.embedUser(known, dynamicBags: zip(twoTower.userDynamicFields, values).map { tokens.bag($0.name, $1) })
        }
        var recent: [Float]? = nil
        if case .ids(let items)? = featureRead({ () throws(StorageError) in try features.currentValues(["user_recent_items"], entity: user) })?.first {
            let vectors = items.compactMap { d.id(of: $0).flatMap { d.vector(of: $0) } }
            if !vectors.isEmpty {
                recent = (0..<vectors[0].count).map { f in vectors.reduce(0) { $0 + $1[f] } / Float(vectors.count) }
            }
        }
        let stored = d.users[user].map { Array(d.userVectors.row($0)) }
        let query: [Float]
        switch (stored, recent) {
        case (nil, nil): return nil
        case let (u?, nil): return u
        case let (nil, r?): query = r
        case let (u?, r?): query = zip(u, r).map { $0 + Self.recentWeight * $1 }
        }
        let norm = query.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? query.map { $0 / norm } : nil
    }

    /// Listings most like `item` (by embedding), servable only. Nil when the item is unknown.
    public func similar(item: String, k: Int) -> [ScoredItem]? {
        let d = deployment
        guard let id = d.id(of: item), let vector = d.vector(of: id) else { return nil }
        let query = Matrix(rows: 1, columns: vector.count, storage: vector)
        var answer: [ScoredItem] = []
        for _ in 0...Self.recheckLimit {
            answer = d.index.search(query, k: k) { [self] other in other != id && isServable(d.itemID(of: other)) }[0]
                .compactMap { hit in d.itemID(of: hit.id).map { ScoredItem(item: $0, score: hit.score) } }
            if unservableCount(answer.map(\.item), excluded: [], user: nil) == 0 { break }
        }
        return answer
    }

    /// The most engaged-with servable listings over the 7 days before the latest event (the online
    /// store's `item_engagements_7d`; event time, so a replayed log gives the same answer), then by id.
    ///
    /// The ranking of every indexed listing is cached per deployment for `popularTTL` seconds and the
    /// event clock it was computed at, so fallback answers cost a walk down a list rather than a pass
    /// over the index; each answer still checks the lifecycle, exclusions and filters per listing.
    func popular(_ d: Deployment, k: Int, excluding excluded: Set<String>, filters: RecommendationFilters = RecommendationFilters()) -> [ScoredItem] {
        var out: [ScoredItem] = []
        for (item, score) in popularRanking(d) where out.count < k {
            guard !excluded.contains(item), isServable(item), passes(item, filters) else { continue }
            out.append(ScoredItem(item: item, score: score))
        }
        return out
    }

    static let popularTTL = 5.0

    private func popularRanking(_ d: Deployment) -> [(String, Float)] {
        let latest = eventTime, now = Date().timeIntervalSince1970, key = ObjectIdentifier(d)
        if let cached = popularCache.withLock({ $0[key] }), cached.eventTime == latest, now - cached.computedAt < Self.popularTTL {
            return cached.ranking
        }
        let live = d.index.withAllIDs { ids in ids.compactMap { id in d.itemID(of: id).flatMap { isServable($0) ? $0 : nil } } }
        var scored: [(String, Float)] = []
        scored.reserveCapacity(live.count)
        for start in stride(from: 0, to: live.count, by: 5_000) {
            let chunk = Array(live[start..<min(live.count, start + 5_000)])
            let values = featureRead { () throws(StorageError) in try features.values("item_engagements_7d", entities: chunk, at: latest) }
            for (k, item) in chunk.enumerated() {
                if case .number(let n)? = values?[k] { scored.append((item, Float(n))) } else { scored.append((item, 0)) }
            }
        }
        let ranking = scored.sorted { ($0.1, $1.0) > ($1.1, $0.0) }
        popularCache.withLock { cache in
            cache = cache.filter { id, _ in slots.withLock { $0.values.contains { ObjectIdentifier($0) == id } } }
            cache[key] = (now, latest, ranking)
        }
        return ranking
    }

    /// Takes events (already parsed): validates them against the lifecycle and appends the valid ones
    /// durably, then updates the online features and the index (unservable listings leave it at once;
    /// new two-tower listings are embedded from their content and join it).
    public func ingest(_ events: [Event]) throws -> EventIngestor.Outcome {
        let outcome = try ingestor.ingest(events)
        if sharedStates != nil {
            let sellers = Dictionary(events.compactMap { e in e.type == .listingCreated ? e.item.flatMap { i in e.user.map { (i, $0) } } : nil },
                                     uniquingKeysWith: { first, _ in first })
            localStates.record(ListingLifecycle(states: outcome.states, sellers: sellers), items: Set(outcome.states.keys))
        }
        let refused = Set(outcome.refused.map(\.index))
        let accepted = events.enumerated().filter { !refused.contains($0.offset) }.map(\.element)
        metrics.record(accepted: accepted, refused: refused.count, variantOf: variant(of:))
        _ = featureRead { () throws(StorageError) in try features.apply(accepted) }
        updateDeployments(with: accepted)
        return outcome
    }

    /// Brings every served deployment up to date with `events` (already in the log and reflected in
    /// `localStates`): listing content and purchases remembered, new listings embedded and indexed,
    /// listings that may no longer be served removed from the index and relisted ones added back.
    private func updateDeployments(with events: [Event]) {
        let deployments = slots.withLock { Array($0.values) }
        for event in events {
            remember(event)
            guard let item = event.item?.value else { continue }
            if event.type == .listingCreated { newListingEvents.withLock { $0.append(event) } }
            for d in deployments {
                if event.type == .listingCreated { d.addNewListing(event) }
                guard let id = d.id(of: item) else { continue }
                if event.type == .listingCreated { d.noteListing(createdAt: event.timestamp) }
                if !isServable(item) {
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
    /// ingests. Returns the number of events read (0 without shared states). `rummage serve` calls it
    /// every 250 ms.
    @discardableResult
    public func followLog(limit: Int = 10_000) throws -> Int {
        guard sharedStates != nil else { return 0 }
        return try followed.withLock { position throws -> Int in
            let found = try ingestor.log.events(after: position, limit: limit)
            guard let last = found.last?.sequence else { return 0 }
            let events = found.map(\.event)
            let fresh = events.filter { event in
                // Listings this replica already knows (its own, or replayed) are not new to it.
                event.type != .listingCreated || event.item.map { localStates.state(of: $0) == nil } ?? false
            }
            let touched = Set(events.filter { ListingLifecycle.eventTypes.contains($0.type) }.compactMap { $0.item?.value })
            _ = checkedListings(Array(touched))
            updateDeployments(with: fresh)
            position = last
            return found.count
        }
    }

    /// How the primary deployment computes a user's query: `user-tower` (the user tower on the online
    /// features) or `embedding+recent` (the stored embedding moved towards recent listings).
    public var userQuery: String { deployment.userFeatureTokens == nil ? "embedding+recent" : "user-tower" }

    /// The version served and the index size, for `readyz` and metrics.
    public var status: (version: Int, indexed: Int) {
        let d = deployment
        return (d.version, d.index.count)
    }
}

extension RecommendationService {
    /// The listings currently in the index (tests pick listings to sell from them).
    public var knownItemsForTesting: [String] {
        let d = deployment
        return d.index.withAllIDs { ids in ids.compactMap { d.itemID(of: $0) } }
    }

    /// The users the model has embeddings for.
    public var knownUsers: [String] { deployment.users.sorted { $0.value < $1.value }.map(\.key) }

    /// Exact top-k recommendations for many users at once: the live listings are scored for a block of
    /// users with one sgemm, then each row gets the same exclusions as `recommend` (not active, own,
    /// bought). Unknown users get the fallback. `body` receives the results in `users` order.
    public func batchRecommend(users: [String], k: Int, blockSize: Int = 256, _ body: (Recommendations) throws -> Void) rethrows {
        let deployment = self.deployment
        if sharedStates != nil {
            // Brings this replica's view of every indexed listing up to date with the shared states first.
            let indexed = deployment.index.withAllIDs { ids in ids.compactMap { deployment.itemID(of: $0) } }
            for start in stride(from: 0, to: indexed.count, by: 10_000) { _ = checkedListings(Array(indexed[start..<min(indexed.count, start + 10_000)])) }
        }
        let live = deployment.index.withAllIDs { ids in
            ids.compactMap { id in deployment.itemID(of: id).flatMap { isServable($0) ? (id, $0) : nil } }
        }
        let d = deployment.userVectors.columns
        var candidates = [Float](), names = [String]()
        candidates.reserveCapacity(live.count * d)
        for (id, name) in live {
            guard let vector = deployment.vector(of: id) else { continue }
            candidates += vector
            names.append(name)
        }
        let n = names.count
        var scores = [Float](repeating: 0, count: blockSize * max(n, 1))
        for start in stride(from: 0, to: users.count, by: blockSize) {
            let block = Array(users[start..<min(start + blockSize, users.count)])
            let rows = block.map { queryVector(deployment, user: $0) }
            var queries = [Float](repeating: 0, count: block.count * d)
            for (r, row) in rows.enumerated() {
                if let row { queries.replaceSubrange(r * d..<(r + 1) * d, with: row) }
            }
            if n > 0 {
                queries.withUnsafeBufferPointer { q in
                    candidates.withUnsafeBufferPointer { v in
                        scores.withUnsafeMutableBufferPointer { out in
                            BLAS.gemm(rows: block.count, columns: n, inner: d, q.baseAddress!, v.baseAddress!, transposeB: true,
                                      into: out.baseAddress!)
                        }
                    }
                }
            }
            for (r, user) in block.enumerated() {
                let excluded = excluded(for: user)
                var top: [ScoredItem] = []
                if rows[r] != nil && n > 0 {
                    var row = Array(scores[r * n..<(r + 1) * n])
                    if !excluded.isEmpty { for (i, name) in names.enumerated() where excluded.contains(name) { row[i] = -.infinity } }
                    top = TopK.select(row, k: k).map { ScoredItem(item: names[Int($0.index)], score: $0.score) }
                }
                let fallback = top.isEmpty
                if fallback { top = popular(deployment, k: k, excluding: excluded) }
                try body(Recommendations(user: user, modelVersion: deployment.version, items: top, fallback: fallback,
                                         variant: primaryAlias, experiment: nil, rankingID: "batch-\(deployment.version)-\(user)"))
            }
        }
    }
}

extension FeatureValue {
    /// Whether the value says anything about the entity (some ids, some shares, a non-zero count).
    var isSignal: Bool {
        switch self {
        case .ids(let ids): !ids.isEmpty
        case .distribution(let shares): !shares.isEmpty
        case .number(let x): x != 0
        }
    }
}

extension RecommendationService {
    /// The Prometheus text exposition of every serving metric.
    public var metricsExposition: String { metrics.registry.exposition() }

    /// Gauges computed at scrape time from the served deployments, the event clock and the impressions.
    private func registerCollectedMetrics() {
        let r = metrics.registry
        r.collected("rummage_index_listings", "Listings in each served alias's index.", labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.index.count)) } ?? []
        }
        r.collected("rummage_index_newest_listing_age_seconds",
                    "Event time since the newest listing in the index was created: grows when listings arrive but none reaches the index.",
                    labels: ["alias"]) { [weak self] in
            guard let self else { return [] }
            let latest = (try? features.latestEventTime()) ?? Int64.min
            return slotsSnapshot.map { slot in
                let newest = slot.deployment.newestListingTime.load(ordering: .relaxed)
                return ([slot.alias], newest == Int64.min || latest == Int64.min ? 0 : Double(max(0, latest - newest)))
            }
        }
        r.collected("rummage_model_info", "The model version each alias serves (value 1), with its provenance.",
                    labels: ["model", "alias", "version", "kind", "created_at", "data_fingerprint", "code_version"]) { [weak self] in
            guard let self else { return [] }
            return slotsSnapshot.map { slot in
                let m = slot.deployment.manifest
                return ([modelName, slot.alias, String(m.version), m.kind, m.createdAt, String(m.dataFingerprint.prefix(16)), m.codeVersion], 1)
            }
        }
        r.collected("rummage_model_version", "The model version each alias serves.", labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.version)) } ?? []
        }
        r.collected("rummage_features_freshness_seconds", "Wall-clock time since the newest event the online feature store holds.") { [weak self] in
            guard let latest = try? self?.features.latestEventTime(), latest != Int64.min else { return [] }
            return [([], max(0, Date().timeIntervalSince1970 - Double(latest)))]
        }
        r.collected("rummage_recs_score_psi",
                    "Population stability index of served scores against the version's own answers when it loaded (above 0.2: drift).",
                    labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], $0.deployment.quality?.psi ?? 0) } ?? []
        }
        r.collected("rummage_recs_scores_observed_total", "Scores served since the version loaded (the sample behind the PSI).",
                    type: "counter", labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.quality?.scores.snapshot.count ?? 0)) } ?? []
        }
        r.collected("rummage_recs_catalog_coverage_ratio", "Share of the indexed listings served at least once since the version loaded.",
                    labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], $0.deployment.quality?.coverage(of: $0.deployment.index.count) ?? 0) } ?? []
        }
        r.collected("rummage_impressions_total", "Impressions logged, by outcome (written, refused, dropped).", type: "counter",
                    labels: ["outcome"]) { [weak self] in
            guard let counts = self?.impressions?.snapshot else { return [] }
            return [(["written"], Double(counts.written)), (["refused"], Double(counts.refused)), (["dropped"], Double(counts.dropped))]
        }
    }

    private var slotsSnapshot: [(alias: String, deployment: Deployment)] {
        let loaded = slots.withLock { $0 }
        return servedAliases.map { ($0, loaded[$0]!) }
    }
}

extension RecommendationFilters {
    /// Whether a listing with these facts passes; listings whose facts are unknown do not pass a filter
    /// that asks about them.
    func accepts(_ facts: RecommendationService.ListingFacts?) -> Bool {
        if let category, facts?.category != category { return false }
        if let size, facts?.size != size { return false }
        if minimumPrice != nil || maximumPrice != nil {
            guard let price = facts?.price else { return false }
            if let minimumPrice, price < minimumPrice { return false }
            if let maximumPrice, price > maximumPrice { return false }
        }
        return true
    }
}
