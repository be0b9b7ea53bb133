import Backends
import Catalogue
import Events
import Features
import Dispatch
import Foundation
import LinearAlgebra
import Ranking
import Registry
import RummageAPI
import RummageCore
import Storage
import Synchronization

/// Real-time recommendations from registered model versions: the service a server's routes call. It
/// assembles single-purpose parts and owns no rule of its own:
///
/// | part | owns |
/// |---|---|
/// | `ListingEligibility` | what may be served to whom (the one rule; verdicts, never index changes) |
/// | `DeploymentSlots` | the deployment per served alias and the hot-swap state machine |
/// | `Deployment` | one checked version (`ServingBundle`): embeddings, index, model capabilities |
/// | `OnlineSignals` | request-time queries and engagement from the online feature store |
/// | `Surface` | what a named list retrieves, how many candidates, what it excludes, whether it logs impressions |
/// | `Retrieval` | personalised, similar, popular and latest searches, each answer checked |
/// | `EventIntake` | events into the log, the features and every served index (the only writer of indexes besides preparing a version); following the shared log |
/// | `ImpressionLog`, `ServingMetrics` | exposure logging and metrics |
///
/// Never served: listings that are not active (sold, reserved, deleted, draft, hidden), the user's own
/// listings, and listings the user already bought. Users the model does not know get their precomputed
/// list, if any, then popular recent listings, marked as a fallback.
///
/// Locks: the order is written once, in docs/architecture.md ("Serving: parts and lock order"): the
/// log follower, then a hot swap, then the slots' map; every other lock in Serving is a leaf.
///
/// Experiments: with an `Experiment` between aliases, each variant's alias is loaded as its own deployment
/// and each user is served by the variant the split assigns them; with one between surfaces, a request to
/// the experiment's surface is answered by the variant's surface definition (on the primary alias) and
/// names the requested surface. Every answer in the experiment names its variant and ranking id, and its
/// listings are logged as `impression` events carrying the experiment and variant.
public final class RecommendationService: Sendable {
    public let modelName: String
    public let registry: ModelRegistry
    /// The alias (or version) served when no experiment assigns another; also the one `similar` and
    /// batch recommendations use.
    public var primaryAlias: String { slots.primary }
    public let experiment: Experiment?
    /// The surfaces served, by name: `home` and `similar` and the configured ones (`Surface`).
    public let surfaces: [String: Surface]
    /// The learned rankers of the surfaces that have one, by surface name.
    let rankers: [String: SurfaceRanker]
    let slots: DeploymentSlots
    let eligibility: ListingEligibility
    let signals: OnlineSignals
    let retrieval: Retrieval
    let intake: EventIntake
    /// The background measurements of freshly loaded deployments (`prepare`).
    private let loadMeasurements = DispatchGroup()
    let metrics: ServingMetrics
    private let loadModel: ModelLoader
    let impressions: ImpressionLog?
    /// Lists computed in batch, served (checked against current states) to users the model cannot rank
    /// in real time, before the popular fallback.
    private let precomputed: (any PrecomputedRecommendationStore)?
    /// False turns off the per-request metrics (answers, drift, coverage, HTTP latency), to measure their
    /// cost (`rummage bench serve`); scrape-time gauges still work.
    public let measuresRequests: Bool
    /// With an experiment: the variant of each recent ranking id (two generations of up to 100,000), so
    /// clicks and purchases that name a ranking count towards the variant that served it.
    private let rankingVariants = Mutex<(current: [String: String], previous: [String: String])>(([:], [:]))

    /// Loads version `reference` (a number or an alias) of `model` from `registry`, each variant alias of
    /// `experiment` too (models through `loadModel`), and the event log, replaying it into the lifecycle
    /// and the online feature store. With `listingStates` (shared by replicas), ingests record states
    /// there and every answer is checked against it; with `featureStore` (shared), features are read and
    /// updated there instead of replayed into memory. With `schema`, listing and user events whose
    /// attributes break the catalogue are refused (422 with the field and the reason). `surfaces` join or
    /// replace the predefined `home` and `similar` (which must keep retrieving per user and per listing).
    public init(registry: ModelRegistry, model: String, reference: String, log: any EventLog, loadModel: @escaping ModelLoader,
                experiment: Experiment? = nil, listingStates: (any ListingStateStore)? = nil,
                featureStore: (any OnlineFeatureStore)? = nil, precomputed: (any PrecomputedRecommendationStore)? = nil,
                schema: CatalogueSchema? = nil, surfaces: [Surface] = [], measuresRequests: Bool = true) throws {
        let served = Surface.served(surfaces)
        guard served["home"]!.retrieval != .similar, served["similar"]!.retrieval == .similar else {
            throw SurfaceError("surface 'home' answers /v1/users/{user}/recommendations and 'similar' /v1/items/{item}/similar: "
                               + "home cannot retrieve by listing, and similar must")
        }
        self.surfaces = served
        var rankers: [String: SurfaceRanker] = [:]
        for surface in served.values {
            guard let ranker = surface.ranker else { continue }
            do { rankers[surface.name] = try SurfaceRanker(registry: registry, model: ranker.model, reference: ranker.version) } catch {
                throw SurfaceError("surface '\(surface.name)': ranker \(ranker.model) \(ranker.version): \(error)")
            }
        }
        self.rankers = rankers
        self.registry = registry
        self.loadModel = loadModel
        self.precomputed = precomputed
        self.measuresRequests = measuresRequests
        self.experiment = experiment
        modelName = model
        if let experiment, let split = experiment.surface {
            guard served[split] != nil else { throw SurfaceError("experiment \(experiment.name): no surface '\(split)' to split") }
            for variant in experiment.variants.map(\.alias) {
                guard let surface = served[variant] else {
                    throw SurfaceError("experiment \(experiment.name): variant '\(variant)' is not a surface; surfaces: "
                                       + served.keys.sorted().joined(separator: ", "))
                }
                guard surface.needsItem == served[split]!.needsItem else {
                    throw SurfaceError("experiment \(experiment.name): surface '\(variant)' cannot answer '\(split)''s requests "
                                       + "(one retrieves by listing, the other does not)")
                }
            }
        }
        // Variants are model aliases, each its own deployment, or surfaces served on the primary alias.
        let variants = experiment?.variants.map(\.alias) ?? [], splitsSurfaces = experiment?.surface != nil
        let slots = try DeploymentSlots(primary: reference, variants: splitsSurfaces ? [] : variants) { alias in
            try Deployment(registry: registry, model: model, reference: alias, loadModel: loadModel)
        }
        self.slots = slots
        let metrics = ServingMetrics(variants: slots.aliases + (splitsSurfaces ? variants : []), surfaces: Array(served.keys))
        self.metrics = metrics
        // Events appended from here on are followed (`followLog`); those the replay below also sees are
        // applied twice, which changes nothing.
        let position = try log.lastSequence()
        // One pass over the log: the listing lifecycle and the listing events this process remembers and,
        // without a shared feature store, every event into an in-memory one.
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
        let localStates = InMemoryListingStates(lifecycle)
        eligibility = ListingEligibility(local: localStates, shared: listingStates, log: log, metrics: metrics)
        signals = OnlineSignals(store: featureStore ?? local!, metrics: metrics)
        retrieval = Retrieval(eligibility: eligibility, signals: signals, slots: slots)
        let ingestor = try EventIngestor(log: log, states: listingStates ?? localStates, schema: schema)
        intake = EventIntake(ingestor: ingestor, listingEvents: listingEvents, position: position, eligibility: eligibility,
                             signals: signals, slots: slots, metrics: metrics)
        impressions = experiment == nil && !served.values.contains(where: \.logsImpressions) ? nil
            : ImpressionLog(ingestor: ingestor, metrics: metrics)
        for d in slots.deployments { prepare(d) }
        registerCollectedMetrics()
    }

    /// Brings a freshly loaded deployment up to date (`EventIntake.prepare`) and, once, takes its drift
    /// baseline in the background (start-up and hot swap never wait for it, nor for a store it reads):
    /// what it answers, through the serving path, for up to 500 of its users spread over its user table;
    /// and the index's recall@20 against exact search for those users' stored vectors, at the width it
    /// serves with, over the listings it holds. `waitForLoadMeasurements` waits for it.
    private func prepare(_ deployment: Deployment) {
        intake.prepare(deployment)
        DispatchQueue.global(qos: .utility).async(group: loadMeasurements) { [self] in measure(deployment) }
    }

    /// Waits until every loaded deployment's drift baseline and index recall are measured.
    public func waitForLoadMeasurements() { loadMeasurements.wait() }

    private func measure(_ deployment: Deployment) {
        deployment.setQuality {
            let users = deployment.users.sorted { $0.value < $1.value }.map(\.key)
            let sample = stride(from: 0, to: users.count, by: max(1, users.count / 500)).map { users[$0] }
            let scores = sample.flatMap { user in
                retrieval.personalised(deployment, user: user, excluded: eligibility.excluded(for: user), k: 20,
                                       filters: RecommendationFilters()).hits?.map(\.item.score) ?? []
            }
            let queries = Matrix(rows: sample.count, columns: deployment.userVectors.columns,
                                 storage: sample.flatMap { deployment.userVectors.row(deployment.users[$0]!) })
            return ServingQuality(baselineScores: scores.isEmpty ? [0] : scores, capacity: deployment.itemIDs.count + 65_536,
                                  indexRecall: sample.isEmpty ? nil : deployment.index.measuredRecall(queries: queries, k: 20))
        }
    }

    /// Each served alias's index: the width it searches with, the recall@20 its version measured when it
    /// was built (`index_recall@20`), and the recall@20 measured when it was loaded here, over the
    /// listings it held then (nil before that or without users).
    public var servedIndexes: [(alias: String, searchWidth: Int, builtRecall: Double?, loadedRecall: Double?)] {
        slots.all.map { slot in
            (slot.alias, slot.deployment.index.configuration.efSearch, slot.deployment.manifest.metrics["index_recall@20"],
             slot.deployment.quality?.indexRecall?.mean)
        }
    }

    /// The aliases served: the primary one, then the experiment's variants.
    public var servedAliases: [String] { slots.aliases }

    /// Hot swap. When `reference` is a served alias, its slot is reloaded to the version the alias points
    /// at now; otherwise `reference` (any alias or version) is loaded into the primary slot. Returns the
    /// slot and its versions before and after. Throws (and keeps serving the current version) when the
    /// new one cannot be loaded or fails its bundle's checks.
    @discardableResult
    public func reload(to reference: String) throws -> (slot: String, from: Int, to: Int) {
        let slot = servedAliases.contains(reference) ? reference : primaryAlias
        do {
            let moved = try slots.reload(slot, load: {
                try Deployment(registry: registry, model: modelName, reference: reference, loadModel: loadModel)
            }, prepare: prepare)
            metrics.reloads.labels(slot, moved.from == moved.to ? "unchanged" : "swapped").increment()
            return (slot, moved.from, moved.to)
        } catch {
            metrics.reloads.labels(slot, "failed").increment()
            throw error
        }
    }

    /// The primary slot's deployment.
    var deployment: Deployment { slots.deployment(primaryAlias) }

    /// Every served alias with its version.
    public var servedVersions: [(alias: String, version: Int)] { slots.all.map { ($0.alias, $0.deployment.version) } }

    public var modelVersion: Int { deployment.version }

    /// The user's top `k` servable listings on the `home` surface, from the variant serving them (with an
    /// experiment, the answer's listings are also logged as impressions).
    public func recommend(user: String, k: Int, filters: RecommendationFilters = RecommendationFilters()) -> Recommendations {
        // `home` is always served and never needs an anchor listing (checked when surfaces are set), so this cannot throw.
        let answer = (try? recommend(surface: Surface.home.name, SurfaceRequest(user: user, k: k, filters: filters)))!
        return Recommendations(user: user, modelVersion: answer.modelVersion, items: answer.items, fallback: answer.fallback,
                               variant: answer.variant, experiment: answer.experiment, rankingID: answer.rankingID, reason: answer.reason,
                               degraded: answer.degraded)
    }

    /// Listings most like `item` on the `similar` surface (the primary deployment, by embedding), servable
    /// only. Nil when the item is unknown.
    public func similar(item: String, k: Int) -> [ScoredItem]? {
        try? recommend(surface: Surface.similar.name, SurfaceRequest(item: item, k: k)).items
    }

    /// The answer of surface `name` to `request` (`Surface`): candidates from its retrieval on the
    /// deployment serving the user (the experiment's variant, else the primary alias), checked; its
    /// fallback when retrieval found nothing; the first `k`. Logged as impressions during an experiment
    /// or when the surface asks. Throws for an unknown surface, a missing anchor listing, or an anchor
    /// the deployment does not know.
    public func recommend(surface name: String, _ request: SurfaceRequest) throws(SurfaceError) -> SurfaceRecommendations {
        guard let surface = surfaces[name] else {
            throw SurfaceError("unknown surface '\(name)'; surfaces: \(surfaces.keys.sorted().joined(separator: ", "))", code: .unknownSurface)
        }
        let (result, degraded) = DegradedStores.collecting { serve(surface, request) }
        var answer = try result.get()
        answer.degraded = degraded.isEmpty ? nil : degraded
        return answer
    }

    /// `asTeam`: the answer is one of an interleaved pair's rankings (no experiment assignment, nothing logged).
    private func serve(_ requested: Surface, _ request: SurfaceRequest, asTeam: Bool = false) -> Result<SurfaceRecommendations, SurfaceError> {
        let user = request.user, k = request.k
        if let experiment, experiment.interleaves, experiment.surface == requested.name, user != nil, !asTeam {
            return interleave(requested, request, experiment: experiment)
        }
        // The variant serving the user: a model alias, or with a surface experiment on this surface, the
        // surface whose definition answers (on the primary alias).
        var surface = requested, variant = primaryAlias, alias = primaryAlias
        if let experiment, let user, !asTeam {
            if let split = experiment.surface {
                if split == requested.name {
                    variant = experiment.variant(for: user)
                    surface = surfaces[variant]!
                }
            } else {
                variant = experiment.variant(for: user)
                alias = variant
            }
        }
        let d = slots.deployment(alias)
        var excluded = user.map { eligibility.excluded(for: $0) } ?? []
        if let user, surface.exclusions.contains(.seen) { excluded.formUnion(signals.seen(by: user)) }
        var filters = request.filters
        let n = surface.candidateCount(k: k)
        // Event time "now", read from the online store at most once per answer (a round trip with Redis).
        var now: Int64? = nil
        func eventTime() -> Int64 {
            if let now { return now }
            let time = signals.eventTime
            now = time
            return time
        }
        // Retrieval: nil when the user (or anchor) gives it nothing to search with.
        var candidates: [ScoredItem]? = nil, source = surface.retrieval.rawValue, unservable = 0, hitIDs: [Int64] = []
        switch surface.retrieval {
        case .personalised, .newIn:
            if surface.retrieval == .newIn { filters.createdAfter = signals.eventTime - Int64(surface.newWithinHours * 3600) }
            if let user {
                let (found, failures) = retrieval.personalised(d, user: user, excluded: excluded, k: n, filters: filters)
                (candidates, unservable, hitIDs) = (found?.map(\.item), failures, found?.map(\.id) ?? [])
            }
            if candidates == nil && surface.retrieval == .newIn {
                (candidates, unservable) = retrieval.ranked(.latest, d, user: user, k: n, excluded: excluded, filters: filters)
                source = "latest"
            }
        case .similar:
            guard let item = request.item else {
                return .failure(SurfaceError("surface '\(surface.name)' lists listings like one: give item=ID"))
            }
            let (found, failures) = retrieval.similar(d, item: item, user: user, excluded: excluded, k: n, filters: filters)
            guard let found else { return .failure(SurfaceError("unknown item '\(item)'", code: .unknownItem)) }
            (candidates, unservable) = (found.map(\.item), failures)
        case .popular:
            (candidates, unservable) = retrieval.ranked(.popular, d, user: user, k: n, excluded: excluded, filters: filters)
        case .latest:
            (candidates, unservable) = retrieval.ranked(.latest, d, user: user, k: n, excluded: excluded, filters: filters)
        }
        var answer = SurfaceRecommendations(surface: requested.name, user: user, item: request.item, modelVersion: d.version,
                                            items: candidates ?? [], fallback: false, variant: variant, experiment: experiment?.name,
                                            rankingID: UUID().uuidString)
        if answer.items.isEmpty && surface.fallback == .popular {
            answer.fallback = true
            if let user, let stored = precomputedList(user: user, k: k, excluding: excluded, filters: filters) {
                (answer.items, answer.modelVersion, answer.reason, source) = (stored.items, stored.modelVersion, .precomputed, "precomputed")
            } else {
                (answer.items, unservable) = retrieval.ranked(.popular, d, user: user, k: k, excluded: excluded, filters: filters)
                answer.reason = candidates == nil ? .popularUnknownUser : .popularNoCandidates
                source = "popular"
            }
        } else if measuresRequests && surface.retrieval == .personalised && !hitIDs.isEmpty {
            d.quality?.record(Array(hitIDs.prefix(k)), scores: answer.items.prefix(k).map(\.score))
        }
        // Exploring new listings: the best new listings for the user join the candidates.
        let exploresNew = surface.exploration?.pool == .new
        let newSince = exploresNew ? eventTime() - Int64(surface.newWithinHours * 3_600) : .min
        if exploresNew, !answer.fallback, let user {
            var recent = filters
            recent.createdAfter = max(recent.createdAfter ?? .min, newSince)
            let found = retrieval.personalised(d, user: user, excluded: excluded, k: Exploration.newCandidates, filters: recent).hits?.map(\.item) ?? []
            let present = Set(answer.items.map(\.item))
            answer.items += found.filter { !present.contains($0.item) }
        }
        // A listing pinned by id joins the candidates when it may be served to the user.
        let rules = surface.reRanking
        if !answer.fallback, let user {
            let missing = rules.pinnedItems.filter { id in
                !answer.items.contains { $0.item == id } && !excluded.contains(id) && eligibility.isServable(id) && eligibility.passes(id, filters)
            }
            if !missing.isEmpty {
                let servable = zip(missing, eligibility.check(missing).verdicts(missing, user: user, excluded: excluded)).filter { $0.1 == .servable }
                let floor = answer.items.map(\.score).min() ?? 0
                answer.items += servable.map { ScoredItem(item: $0.0, score: floor) }
            }
        }
        // Ranking: the surface's learned ranker orders retrieval's candidates (never a fallback's).
        let retrieved = answer.items
        // One version of the ranker for the scores and their explanation, whatever a swap does meanwhile.
        let trees = rankers[surface.name]?.current.trees
        var order = Array(retrieved.indices), rankerScores: [Float]? = nil, rankerRows: [Float] = []
        if let trees, let user, !answer.fallback, retrieved.count > 1 {
            if let (rows, scores) = rank(retrieved, for: user, with: trees, at: eventTime()) {
                (rankerRows, rankerScores) = (rows, scores)
                order.sort { (scores[$0], -$0) > (scores[$1], -$1) }
            }
        }
        // Re-ranking: boosts and buries, diversity caps, the share of new listings (`ReRanking`).
        var reasons: [Int: [String]] = [:], facts: [ReRanking.Candidate] = []
        if !answer.fallback && !rules.isEmpty {
            facts = eligibility.reRankingCandidates(retrieved.map(\.item))
            (order, reasons) = rules.apply(order, candidates: facts, k: k, now: eventTime())
        }
        // Exploration: the last slots sampled from the rest of the ranking, each with its probability.
        var propensities: [Double]? = nil
        let ranking = order
        if let exploration = surface.exploration, !answer.fallback {
            let created = exploresNew ? eligibility.creationTimes(of: retrieved.map(\.item)) : []
            (order, propensities) = exploration.choose(order: order, scores: rankerScores ?? retrieved.map(\.score), k: k,
                                                       rankingID: answer.rankingID,
                                                       inPool: { !exploresNew || created[$0] >= newSince })
        } else {
            order = Array(order.prefix(k))
        }
        // Pins last: a pinned listing takes its slot whatever came before (shown with probability 1).
        if !facts.isEmpty && rules.hasPins {
            let chosen = propensities.map { Dictionary(zip(order, $0), uniquingKeysWith: { a, _ in a }) }
            let pins: [Int: String]
            (order, pins) = rules.pinned(order, order: ranking, candidates: facts)
            for (i, rule) in pins { reasons[i, default: []].append(rule) }
            propensities = chosen.map { chosen in order.map { pins[$0] != nil ? 1 : chosen[$0] ?? 1 } }
        }
        answer.items = order.map { r in rankerScores.map { ScoredItem(item: retrieved[r].item, score: $0[r]) } ?? retrieved[r] }
        if request.explain {
            let top = rankerScores == nil ? nil : trees.flatMap { topRankerFeatures(rows: rankerRows, of: order, with: $0) }
            answer.explanations = order.enumerated().map { slot, r in
                SurfaceRecommendations.Explanation(item: retrieved[r].item, source: source, retrievalScore: retrieved[r].score, retrievalRank: r,
                                                   rankerScore: rankerScores?[r], propensity: propensities?[slot],
                                                   rules: reasons[r], rankerFeatures: top?[slot])
            }
        }
        if measuresRequests { metrics.record(variant: variant, empty: answer.items.isEmpty, fallback: answer.fallback, unservable: unservable) }
        let inExperiment = !asTeam && (experiment.map { $0.surface == nil || $0.surface == requested.name } ?? false)
        if let impressions, !asTeam, inExperiment || surface.logsImpressions, user != nil {
            // A fully explored list (its first slot sampled too) keeps what it was sampled from, for off-policy evaluation.
            let explored = (propensities?.first ?? 1) < 1
            impressions.record(answer, retrievalScores: order.map { retrieved[$0].score }, propensities: propensities,
                               candidates: explored ? ranking.map { (retrieved[$0].item, retrieved[$0].score) } : nil)
            if inExperiment {
                rankingVariants.withLock { maps in
                    maps.current[answer.rankingID] = variant
                    if maps.current.count >= 100_000 { maps = (current: [:], previous: maps.current) }
                }
            }
        }
        return .success(answer)
    }

    /// An interleaving experiment's answer: both variants' rankings of the request merged by team draft
    /// (seeded by the ranking id, so the list can be recomputed), each listing's impression naming the
    /// variant that placed it. The answer's variant is `interleaved`.
    private func interleave(_ requested: Surface, _ request: SurfaceRequest, experiment: Experiment) -> Result<SurfaceRecommendations, SurfaceError> {
        var team = request
        team.explain = false
        var rankings: [SurfaceRecommendations] = []
        for variant in experiment.variants.map(\.alias) {
            switch serve(surfaces[variant]!, team, asTeam: true) {
            case .success(let answer): rankings.append(answer)
            case .failure(let error): return .failure(error)
            }
        }
        var answer = rankings[0]
        (answer.surface, answer.variant, answer.experiment, answer.rankingID) = (requested.name, Self.interleavedVariant, experiment.name, UUID().uuidString)
        let merged = TeamDraft.merge(rankings[0].items.map(\.item), rankings[1].items.map(\.item), k: request.k, seed: FNV1a.hash(answer.rankingID))
        let scored = Dictionary(rankings.flatMap(\.items).map { ($0.item, $0) }, uniquingKeysWith: { first, _ in first })
        answer.items = merged.map { scored[$0.item]! }
        answer.fallback = rankings.allSatisfy(\.fallback)
        answer.explanations = nil
        impressions?.record(answer, retrievalScores: nil, teams: merged.map { experiment.variants[$0.team].alias })
        return .success(answer)
    }

    /// The variant of an interleaved answer (its listings' impressions name their team).
    public static let interleavedVariant = "interleaved"

    /// The ranker's score of each candidate for `user` (`RankingFeatures` from the online features and the
    /// listings' facts, as in training); nil when the ranker cannot answer (the candidates keep retrieval's
    /// order and the request counts a fallback).
    private func rank(_ candidates: [ScoredItem], for user: String, with trees: GradientBoostedTrees,
                      at time: Int64) -> (rows: [Float], scores: [Float])? {
        let store = signals.store
        guard let rows = signals.read({ () throws(StorageError) in
            try RankingFeatures.onlineRows(store: store, user: user, items: candidates.map(\.item), retrievalScores: candidates.map(\.score),
                                           at: time, listings: eligibility.readFacts)
        }) else { return nil }
        do { return (rows, try trees.predict(rows, columns: RankingFeatures.names.count)) } catch {
            metrics.fellBack("ranker")
            return nil
        }
    }

    /// For `explain=true`: the three features that moved each shown listing's ranker score most (by absolute
    /// contribution), from `rows` (the candidates' ranker rows) for the candidates `shown`.
    private func topRankerFeatures(rows: [Float], of shown: [Int], with trees: GradientBoostedTrees)
        -> [[SurfaceRecommendations.FeatureContribution]]? {
        let columns = RankingFeatures.names.count
        let picked = shown.flatMap { rows[($0 * columns)..<(($0 + 1) * columns)] }
        guard let contributions = try? trees.contributions(picked, columns: columns) else { return nil }
        return shown.indices.map { k in
            let row = contributions[(k * (columns + 1))..<(k * (columns + 1) + columns)]
            return zip(RankingFeatures.names.indices, row).sorted { abs($0.1) > abs($1.1) }.prefix(3).map { column, contribution in
                let value = picked[k * columns + column]
                return .init(name: RankingFeatures.names[column], value: value.isNaN ? nil : value, contribution: contribution)
            }
        }
    }

    /// Moves each surface's ranker to the version its alias points at now (the server's alias poll).
    /// Returns what moved, and the errors of those that could not (they keep their version).
    public func refreshRankers() -> [(surface: String, from: Int, to: Int, error: String?)] {
        rankers.sorted { $0.key < $1.key }.compactMap { surface, ranker in
            do {
                let (from, to) = try ranker.refresh()
                return from == to ? nil : (surface, from, to, nil)
            } catch {
                return (surface, ranker.current.version, ranker.current.version, "\(error)")
            }
        }
    }

    /// The user's precomputed list, without the listings that may not be served to them now (checked
    /// like any answer); nil when there is none or it holds nothing servable.
    func precomputedList(user: String, k: Int, excluding excluded: Set<String>, filters: RecommendationFilters) -> Recommendations? {
        guard let precomputed else { return nil }
        let stored: Recommendations?
        do { stored = try precomputed.list(for: user) } catch {
            metrics.fellBack("precomputed")
            return nil
        }
        guard var list = stored else { return nil }
        let candidates = list.items.filter { !excluded.contains($0.item) && eligibility.isServable($0.item) && eligibility.passes($0.item, filters) }
        let verdicts = eligibility.check(candidates.map(\.item)).verdicts(candidates.map(\.item), user: user, excluded: excluded)
        list.items = Array(zip(candidates, verdicts).filter { $0.1 == .servable }.map(\.0).prefix(k))
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

    /// Writes the impressions logged so far to the event log now (they are otherwise written in batches).
    public func flushImpressions() { impressions?.flush() }

    /// Whether each dependency answers now: "ok" or the error. `event_log`: the log this replica appends
    /// to (a replica that cannot write is not ready).
    public var dependencies: [String: String] {
        var health: [String: String] = [:]
        do {
            let log = intake.ingestor.log
            try log.checkReachable()
            _ = try Deadline.within(milliseconds: 1_000) { () throws(StorageError) in try log.lastSequence() }
            health["event_log"] = "ok"
        } catch {
            health["event_log"] = "unavailable: \(error)"
        }
        if let shared = eligibility.shared as? RedisListingStates {
            // While the circuit is open this is refused at once; once its pause is over, it is the trial.
            let answers = (try? shared.redis.command(["PING"], onRequestPath: true)) != nil
            health["online_store"] = answers ? "ok" : "unavailable: circuit open after repeated timeouts (answers fall back to the event log)"
        }
        return health
    }

    /// The authoritative state and seller of each of `items` (nil state: no such listing): the shared
    /// store's with replicas, else this process's.
    public func listings(_ items: [String]) -> [(state: ListingState?, seller: UserID?)] { eligibility.check(items).entries }

    /// Takes events (already parsed): validated against the lifecycle, the valid ones appended durably,
    /// then applied to the online features and every served index (`EventIntake`).
    /// `producer` scopes the event ids: the sending key's name ("" without keys).
    public func ingest(_ events: [Event], producer: String = "") throws -> EventIngestor.Outcome {
        try intake.ingest(events, producer: producer, variantOf: variant(of:))
    }

    /// With shared states, applies what other processes appended to the shared log since the last call,
    /// up to `limit` events (`EventIntake.followLog`); returns the number read (0 without shared states).
    /// `ServerApplication` calls it every 250 ms.
    @discardableResult
    public func followLog(limit: Int = 10_000) throws -> Int { try intake.followLog(limit: limit) }

    /// How the primary deployment computes a user's query: `user-tower` (the user side on the online
    /// features) or `embedding+recent` (the stored embedding moved towards recent listings).
    public var userQuery: String { deployment.userModel == nil ? "embedding+recent" : "user-tower" }

    /// The version served and the index size, for `readyz` and metrics.
    public var status: (version: Int, indexed: Int) {
        let d = deployment
        return (d.version, d.index.count)
    }

    /// The listings currently in the primary index (tests pick listings to sell from them).
    public var knownItemsForTesting: [String] { deployment.indexedListings.map(\.item) }

    /// The users the model has embeddings for.
    public var knownUsers: [String] { deployment.users.sorted { $0.value < $1.value }.map(\.key) }
}
