import Synchronization

/// The shared stores a request had to do without: reads that failed (or whose circuit was open) and
/// fell back, noted as they happen so the answer can say so (`Recommendations.degraded`).
final class DegradedStores: Sendable {
    @TaskLocal private static var current: DegradedStores?
    private let stores = Mutex<Set<String>>([])

    /// Notes `store` for the request being answered on this thread, if one is collecting.
    static func note(_ store: String) { current?.stores.withLock { _ = $0.insert(store) } }

    /// Runs `body` and returns its result with the stores it fell back from, sorted (empty: none).
    static func collecting<R>(_ body: () -> R) -> (result: R, degraded: [String]) {
        let collector = DegradedStores()
        let result = $current.withValue(collector) { body() }
        return (result, collector.stores.withLock { $0.sorted() })
    }
}
