import Registry
import Synchronization

/// The served deployments, one per alias (the primary alias and each experiment variant), and the hot
/// swap: a state machine per slot,
///
/// ```
///   serving(v) ──reload──▶ loading(v → w) ──bundle refused──▶ serving(v)   (throws; v keeps serving)
///                               │ loaded, checked, prepared
///                               ▼
///                           serving(w)                                     (one assignment under `slots`)
/// ```
///
/// Loading and preparing run outside the `slots` lock, so requests keep reading the current deployment;
/// a request in flight keeps the version it started with. One reload runs at a time.
///
/// Locks, in order: `reloading` (held for a whole reload), then `slots` (held only to read or assign
/// the map, never while loading, preparing or searching).
final class DeploymentSlots: Sendable {
    let primary: String
    /// The aliases served: the primary one, then the experiment's variants.
    let aliases: [String]
    private let reloading = Mutex<Void>(())
    private let slots: Mutex<[String: Deployment]>

    /// Loads each alias (`load` may throw: then nothing serves).
    init(primary: String, variants: [String], load: (String) throws -> Deployment) throws {
        self.primary = primary
        aliases = [primary] + variants.filter { $0 != primary }.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        var loaded: [String: Deployment] = [:]
        for alias in aliases { loaded[alias] = try load(alias) }
        slots = Mutex(loaded)
    }

    /// The deployment serving `alias` now (a served alias).
    func deployment(_ alias: String) -> Deployment { slots.withLock { $0[alias]! } }

    /// Every served alias with its deployment, in `aliases` order.
    var all: [(alias: String, deployment: Deployment)] {
        let loaded = slots.withLock { $0 }
        return aliases.map { ($0, loaded[$0]!) }
    }

    /// The distinct deployments served (an index update goes to each once).
    var deployments: [Deployment] { slots.withLock { Array($0.values) } }

    /// Hot swap of `slot` to what `reference` names: `load` builds the candidate (throwing refuses it),
    /// `prepare` brings it up to date; it is prepared again after the swap, for what arrived meanwhile.
    /// Returns the versions before and after (equal when `reference` already serves).
    func reload(_ slot: String, load: () throws -> Deployment, prepare: (Deployment) -> Void) throws -> (from: Int, to: Int) {
        try reloading.withLock { _ in
            let from = deployment(slot).version
            let next = try load()
            guard next.version != from else { return (from, from) }
            prepare(next)
            slots.withLock { $0[slot] = next }
            // Events ingested while `next` was being prepared reached only the old deployment: catch up.
            prepare(next)
            return (from, next.version)
        }
    }
}
