#if canImport(Glibc)
import Glibc
#endif

/// A value behind a reader-writer lock (pthread_rwlock): many readers at once, one writer alone. For
/// state read on every request by several threads and changed rarely (an HNSW graph, listing states),
/// where a `Mutex` would make the readers wait for one another.
public final class ReadWriteLock<Value>: @unchecked Sendable {
    // @unchecked because: every access to `value` goes through `read` or `write`, which hold the lock.
    private var value: Value
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    /// With `prefersWriters`, a waiting writer goes before readers that arrive after it (a steady stream
    /// of readers cannot starve it); a thread must then never take the read lock while already holding it.
    public init(_ value: Value, prefersWriters: Bool = false) {
        self.value = value
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        if prefersWriters { pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP)) }
        pthread_rwlock_init(lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    public func read<R>(_ body: (Value) throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(value)
    }

    public func write<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value)
    }
}
