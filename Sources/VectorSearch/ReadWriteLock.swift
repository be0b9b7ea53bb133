#if canImport(Glibc)
import Glibc
#endif

/// A value behind a reader-writer lock (pthread_rwlock): many readers at once, one writer alone.
/// Searches read the graph concurrently; adds and removes write it.
final class ReadWriteLock<Value>: @unchecked Sendable {
    // @unchecked because: every access to `value` goes through `read` or `write`, which hold the lock.
    private var value: Value
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init(_ value: Value) {
        self.value = value
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func read<R>(_ body: (Value) throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(value)
    }

    func write<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value)
    }
}
