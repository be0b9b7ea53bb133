import Events
import Foundation
import RummageAPI
import Synchronization
import Telemetry
import VectorSearch

/// Every metric the server exports (docs/monitoring.md describes each, monitoring/alerts.yml alerts on
/// them). Hot-path updates are atomic adds on children looked up once; sizes, ages and ratios are
/// computed when Prometheus scrapes.
final class ServingMetrics: Sendable {
    let registry = MetricsRegistry()

    // HTTP, per endpoint.
    let requestDuration: MetricFamily<Histogram>
    let requests: MetricFamily<Counter>
    // Recommendation answers.
    let answers: MetricFamily<Counter>
    let unservableServed: Counter
    // Events and exposure.
    let ingestLag: Histogram
    /// Events appended, one counter per event type (fixed at init: no lock per event).
    let eventsIngested: [EventType: Counter]
    let eventsRefused: Counter
    let eventsPublished: Counter
    let exposure: MetricFamily<Counter>
    // Model lifecycle.
    let reloads: MetricFamily<Counter>
    // Shared stores.
    let onlineStoreFallbacks: MetricFamily<Counter>

    /// Surfaces that may appear as label values; any other surface an event names is counted as `other`.
    /// The service's own (`recommendations`, `similar`), the common feeds, and `unknown` for none.
    /// Surface labels: the usual names and the served surfaces' (`ServingMetrics(variants:surfaces:)`).
    let declaredSurfaces: Set<String>
    static let usualSurfaces: Set<String> = ["recommendations", "similar", "home", "search", "feed", "new_in", "unknown"]
    /// A caller-supplied surface as a label value: itself when declared, else `other` (so no request can
    /// add series to /metrics).
    func surfaceLabel(_ surface: String?) -> String {
        let surface = surface ?? "unknown"
        return declaredSurfaces.contains(surface) ? surface : "other"
    }

    /// A caller-supplied variant as a label value: itself when it is a served alias, else `other`.
    func variantLabel(_ variant: String) -> String { answerCounters[variant] != nil ? variant : "other" }

    /// `variants`: the served aliases, whose answer counters are looked up without a lock; `surfaces`: the
    /// served surfaces' names, labels besides the usual ones.
    init(variants: [String], surfaces: [String] = []) {
        declaredSurfaces = Self.usualSurfaces.union(surfaces)
        requestDuration = registry.histogram("rummage_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                                             labels: ["endpoint"], bounds: Histogram.latencySeconds)
        requests = registry.counter("rummage_http_requests_total", "Requests answered, by endpoint and status class (2xx, 4xx, 5xx).",
                                    labels: ["endpoint", "code"])
        answers = registry.counter("rummage_recs_answers_total",
                                   "Recommendation answers by variant and kind: personalised, fallback (popular listings) or empty.",
                                   labels: ["variant", "kind"])
        unservableServed = registry.counter("rummage_recs_unservable_served_total",
                                            "Listings in an answer that the lifecycle did not allow (sold, reserved, hidden, deleted, own, bought). Must stay 0.")
            .labels()
        ingestLag = registry.histogram("rummage_events_ingest_lag_seconds", "Wall-clock time between an event's timestamp and its durable append.",
                                       bounds: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 86_400]).labels()
        let ingested = registry.counter("rummage_events_ingested_total", "Events appended to the log, by type.", labels: ["type"])
        eventsIngested = Dictionary(uniqueKeysWithValues: EventType.allCases.map { ($0, ingested.labels($0.rawValue)) })
        eventsRefused = registry.counter("rummage_events_refused_total", "Events refused (invalid, unknown listing, bad transition).").labels()
        eventsPublished = registry.counter("rummage_events_published_total",
                                           "Events POST /v1/events published to RabbitMQ (confirmed by the broker) instead of ingested here.").labels()
        exposure = registry.counter("rummage_exposure_events_total",
                                    "Events tied to a served ranking (impressions, then views, likes, saves, bags, purchases with its ranking_id), by surface, variant and type.",
                                    labels: ["surface", "variant", "type"])
        reloads = registry.counter("rummage_model_reloads_total", "Hot-swap attempts by served alias and outcome (swapped, unchanged, failed).",
                                   labels: ["alias", "outcome"])
        onlineStoreFallbacks = registry.counter("rummage_online_store_fallbacks_total",
                                                "Reads of a shared store (Redis) that failed and were served from a fallback instead, by store (listing_states: checked against the event log; features: answered without online features; precomputed: no batch list).",
                                                labels: ["store"])
        for store in ["listing_states", "features", "precomputed"] { _ = onlineStoreFallbacks.labels(store) }
        var counters: [String: [Counter]] = [:]
        let answers = self.answers
        for variant in variants { counters[variant] = ["personalised", "fallback", "empty"].map { answers.labels(variant, $0) } }
        answerCounters = counters
        // Counters start at 0, so the first failure is an increase Prometheus sees.
        for alias in variants { for outcome in ["swapped", "unchanged", "failed"] { _ = reloads.labels(alias, outcome) } }
    }

    /// A read of `store` (`listing_states`, `features`, `precomputed`) failed and was served from its
    /// fallback: counted, and noted for the request's answer (`DegradedStores`).
    func fellBack(_ store: String) {
        onlineStoreFallbacks.labels(store).increment()
        DegradedStores.note(store)
    }

    /// The personalised, fallback and empty counters of each served variant (fixed at init: no lock).
    let answerCounters: [String: [Counter]]

    /// Counts an answer and the listings in it that failed the final lifecycle check.
    func record(variant: String, empty: Bool, fallback: Bool, unservable: Int) {
        let kind = empty ? 2 : (fallback ? 1 : 0)
        if let counters = answerCounters[variant] {
            counters[kind].increment()
        } else {
            answers.labels("other", ["personalised", "fallback", "empty"][kind]).increment()
        }
        if unservable > 0 { unservableServed.increment(by: unservable) }
    }

    /// Counts accepted events: by type, their ingest lag, and those tied to a ranking.
    func record(accepted events: [Event], refused: Int, variantOf: (Event) -> String) {
        if refused > 0 { eventsRefused.increment(by: refused) }
        let now = Date().timeIntervalSince1970
        for event in events {
            eventsIngested[event.type]?.increment()
            ingestLag.observe(max(0, now - Double(event.timestamp)))
            if event.rankingID != nil {
                exposure.labels(surfaceLabel(event.surface), variantLabel(variantOf(event)), event.type.rawValue).increment()
            }
        }
    }
}

/// Served-score drift and catalog coverage of one deployment: the scores of its top-20 answers, through
/// the serving path, for a sample of its users when it loaded are the baseline, cut into deciles; the scores it serves are
/// counted into the same bins, and the population stability index (PSI) compares the two. Coverage is
/// the share of the indexed listings served at least once since the deployment loaded.
final class ServingQuality: Sendable {
    let scores: Histogram
    private let baseline: [Double]
    private let served: AtomicBitSet

    /// The index's recall@20 against exact search for the baseline's users when the deployment loaded.
    let indexRecall: RecallEstimate?

    /// `baselineScores`: the deployment's own scores at load time (at least one).
    /// `capacity`: ids below it are tracked for coverage (a deployment's trained listings plus headroom).
    init(baselineScores: [Float], capacity: Int, indexRecall: RecallEstimate?) {
        self.indexRecall = indexRecall
        served = AtomicBitSet(capacity: capacity)
        let sorted = baselineScores.map(Double.init).sorted()
        var cuts: [Double] = []
        for decile in 1..<10 {
            let cut = sorted[min(sorted.count - 1, decile * sorted.count / 10)]
            if cuts.last.map({ cut > $0 }) ?? true { cuts.append(cut) }
        }
        if cuts.isEmpty { cuts = [sorted[0]] }
        scores = Histogram(bounds: cuts)
        let baselineHistogram = Histogram(bounds: cuts)
        for s in sorted { baselineHistogram.observe(s) }
        let (counts, total, _) = baselineHistogram.snapshot
        baseline = counts.map { Double($0) / Double(total) }
    }

    func record(_ ids: [Int64], scores answerScores: [Float]) {
        scores.observe(contentsOf: answerScores.map(Double.init))
        for id in ids { served.insert(Int(id)) }
    }

    /// PSI of the served scores against the baseline (0 while nothing was served). Above 0.2 is the usual
    /// sign of a shifted distribution.
    var psi: Double {
        let (counts, total, _) = scores.snapshot
        guard total > 0 else { return 0 }
        let epsilon = 1e-4
        return zip(counts, baseline).reduce(0) { sum, pair in
            let actual = max(Double(pair.0) / Double(total), epsilon), expected = max(pair.1, epsilon)
            return sum + (actual - expected) * log(actual / expected)
        }
    }

    func coverage(of indexed: Int) -> Double {
        indexed > 0 ? min(1, Double(served.count) / Double(indexed)) : 0
    }
}

/// A fixed-size set of small integers in atomic 64-bit words: `insert` reads first and only writes a
/// bit not yet set, so once the served listings are marked the hot path no longer writes shared memory.
final class AtomicBitSet: @unchecked Sendable {
    // @unchecked because: `words` is allocated in init, freed in deinit, and only touched atomically.
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let wordCount: Int

    init(capacity: Int) {
        wordCount = max(1, (capacity + 63) / 64)
        words = .allocate(capacity: wordCount)
        for i in 0..<wordCount { (words + i).initialize(to: Atomic(0)) }
    }

    deinit {
        words.deinitialize(count: wordCount)
        words.deallocate()
    }

    /// Marks `value`; values outside the capacity are ignored.
    func insert(_ value: Int) {
        guard value >= 0, value / 64 < wordCount else { return }
        let bit = UInt64(1) << UInt64(value % 64)
        if words[value / 64].load(ordering: .relaxed) & bit == 0 { words[value / 64].bitwiseOr(bit, ordering: .relaxed) }
    }

    var count: Int { (0..<wordCount).reduce(0) { $0 + words[$1].load(ordering: .relaxed).nonzeroBitCount } }
}
