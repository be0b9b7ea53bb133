import Features
import Foundation
import LinearAlgebra
import Storage

/// What serving reads from the online feature store: a user's request-time query and listings'
/// recent engagement. Reads that fail count a fallback (`rummage_online_store_fallbacks_total`) and
/// answer as if the store held no signal, so a lost store degrades answers instead of failing them.
final class OnlineSignals: Sendable {
    /// The online features: in memory (replayed from the log at start) or shared (`RedisFeatureStore`).
    let store: any OnlineFeatureStore
    private let metrics: ServingMetrics

    /// How much the listings a user engaged with recently (the online store's `user_recent_items`) pull
    /// the user's stored embedding towards them.
    static let recentWeight: Float = 0.5

    init(store: any OnlineFeatureStore, metrics: ServingMetrics) {
        self.store = store
        self.metrics = metrics
    }

    /// Runs a read or write of the store; when it fails, counts a fallback and returns nil.
    func read<T>(_ body: () throws(StorageError) -> T) -> T? {
        do { return try body() } catch {
            metrics.fellBack("features")
            return nil
        }
    }

    /// "Now" for online features: one second after the latest event applied (event time, so a replayed
    /// log gives the same answers), or the wall clock before any event.
    var eventTime: Int64 {
        let latest = read { () throws(StorageError) in try store.latestEventTime() } ?? Int64.min
        return InMemoryFeatureStore.currentTime(latest: latest)
    }

    /// The user's query at request time, so a like changes the next answer. For a model whose user side
    /// reads online features: that side run now on the user's current features (a user the model never
    /// saw gets the unknown id). For other models: the trained user row plus `recentWeight` times the
    /// mean vector of the listings they liked, saved, bagged or bought recently, normalised; a user the
    /// model never saw is served from their recent listings alone. Nil for an unknown user with no
    /// online signal.
    func query(_ d: Deployment, user: String) -> [Float]? {
        if let (model, tokens) = d.userModel {
            let fields = model.userDynamicFields
            let values = read { () throws(StorageError) in try store.currentValues(fields.map(\.name), entity: user) }
                ?? fields.map { store.features.definition(named: $0.name)?.emptyValue ?? .ids([]) }
            let known = d.users[user]
            guard known != nil || values.contains(where: \.isSignal) else { return nil }
            return model.embedUser(known, dynamicBags: zip(fields, values).map { tokens.bag($0.name, $1) })
        }
        var recent: [Float]? = nil
        if case .ids(let items)? = read({ () throws(StorageError) in try store.currentValues(["user_recent_items"], entity: user) })?.first {
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

    /// The listings the user viewed or engaged with recently (`user_recent_views`, `user_recent_items`):
    /// what a surface that excludes `seen` leaves out. Empty when unknown or unreadable.
    func seen(by user: String) -> Set<String> {
        let values = read { () throws(StorageError) in try store.currentValues(["user_recent_views", "user_recent_items"], entity: user) }
        var items = Set<String>()
        for case .ids(let ids) in values ?? [] { items.formUnion(ids) }
        return items
    }

    /// Each listing's engagements over the 7 days before `time` (`item_engagements_7d`); 0 when unknown
    /// or unreadable.
    func engagements(of items: [String], at time: Int64) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(items.count)
        for start in stride(from: 0, to: items.count, by: 5_000) {
            let chunk = Array(items[start..<min(items.count, start + 5_000)])
            let values = read { () throws(StorageError) in try store.values("item_engagements_7d", entities: chunk, at: time) }
            for k in chunk.indices {
                if case .number(let n)? = values?[k] { out.append(Float(n)) } else { out.append(0) }
            }
        }
        return out
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
