import Synchronization

/// A count that only goes up (Prometheus `counter`). Lock-free: one relaxed atomic add.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    public init() {}

    public func increment(by amount: Int = 1) {
        precondition(amount >= 0, "a counter only goes up")
        value.add(amount, ordering: .relaxed)
    }

    public var current: Int { value.load(ordering: .relaxed) }
}

/// A value that goes up and down (Prometheus `gauge`), stored as the bit pattern of a Double.
public final class Gauge: Sendable {
    private let bits = Atomic<UInt64>(Double(0).bitPattern)

    public init() {}

    public func set(_ value: Double) { bits.store(value.bitPattern, ordering: .relaxed) }

    public func add(_ delta: Double) { atomicAdd(bits, delta) }

    public var current: Double { Double(bitPattern: bits.load(ordering: .relaxed)) }
}

/// Observations counted into fixed buckets (Prometheus `histogram`): one relaxed atomic add for the
/// bucket, one for the count, and a compare-and-swap loop for the sum. No lock on the hot path.
public final class Histogram: @unchecked Sendable {
    // @unchecked because: `counts` points at atomics allocated in init and freed in deinit; every access
    // is an atomic operation.
    /// Upper bounds of the buckets, ascending; a last `+Inf` bucket is implied.
    public let bounds: [Double]
    private let counts: UnsafeMutablePointer<Atomic<Int>>
    private let sumBits = Atomic<UInt64>(Double(0).bitPattern)

    public init(bounds: [Double]) {
        precondition(!bounds.isEmpty && zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "bucket bounds must ascend")
        self.bounds = bounds
        counts = .allocate(capacity: bounds.count + 1)
        for i in 0...bounds.count { (counts + i).initialize(to: Atomic(0)) }
    }

    deinit {
        counts.deinitialize(count: bounds.count + 1)
        counts.deallocate()
    }

    public func observe(_ value: Double) {
        // Few buckets: a linear scan beats a binary search.
        var i = 0
        while i < bounds.count && value > bounds[i] { i += 1 }
        counts[i].add(1, ordering: .relaxed)
        atomicAdd(sumBits, value)
    }

    /// Observes several values with one atomic add per bucket touched and one update of the sum.
    public func observe(contentsOf values: [Double]) {
        guard !values.isEmpty else { return }
        var local = [Int](repeating: 0, count: bounds.count + 1)
        var total = 0.0
        for value in values {
            var i = 0
            while i < bounds.count && value > bounds[i] { i += 1 }
            local[i] += 1
            total += value
        }
        for (i, n) in local.enumerated() where n > 0 { counts[i].add(n, ordering: .relaxed) }
        atomicAdd(sumBits, total)
    }

    /// Per-bucket counts (not cumulative; the last is the `+Inf` bucket), their total and the sum.
    public var snapshot: (buckets: [Int], count: Int, sum: Double) {
        let buckets = (0...bounds.count).map { counts[$0].load(ordering: .relaxed) }
        return (buckets, buckets.reduce(0, +), Double(bitPattern: sumBits.load(ordering: .relaxed)))
    }

    /// The `q` quantile estimated from the buckets (linear within a bucket, as Prometheus's
    /// `histogram_quantile`); nil with no observations.
    public func quantile(_ q: Double) -> Double? { Self.quantile(q, buckets: snapshot.buckets, bounds: bounds) }

    /// The `q` quantile of per-bucket counts `buckets` (the last one `+Inf`) over `bounds`, e.g. of the
    /// difference of two snapshots (the observations between them).
    public static func quantile(_ q: Double, buckets: [Int], bounds: [Double]) -> Double? {
        let count = buckets.reduce(0, +)
        guard count > 0 else { return nil }
        let rank = q * Double(count)
        var seen = 0.0
        for (i, n) in buckets.enumerated() where n > 0 {
            if seen + Double(n) >= rank {
                guard i < bounds.count else { return bounds[bounds.count - 1] }
                let low = i == 0 ? 0 : bounds[i - 1]
                return low + (bounds[i] - low) * (rank - seen) / Double(n)
            }
            seen += Double(n)
        }
        return bounds[bounds.count - 1]
    }

    /// Latency buckets in seconds, 100 µs to 10 s.
    public static let latencySeconds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
}

/// Adds `delta` to the Double whose bit pattern `bits` holds (a compare-and-swap loop).
@inline(__always)
func atomicAdd(_ bits: borrowing Atomic<UInt64>, _ delta: Double) {
    var old = bits.load(ordering: .relaxed)
    while true {
        let (exchanged, seen) = bits.compareExchange(expected: old, desired: (Double(bitPattern: old) + delta).bitPattern, ordering: .relaxed)
        if exchanged { return }
        old = seen
    }
}
