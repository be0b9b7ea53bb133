import Dispatch

/// When a piece of work (a request, a writer's turn) must be done by. Calls to stores made within it
/// honour it: each waits at most until the deadline, and at most its own timeout. Bound for the work
/// on the current thread (or task) by `within(milliseconds:)`; a nested binding can only shorten it.
public enum Deadline {
    /// Uptime nanoseconds; nil: no deadline.
    @TaskLocal private static var current: UInt64?

    /// Runs `body` with a deadline `milliseconds` from now, or the one already bound if that is sooner.
    @discardableResult
    public static func within<R, E: Error>(milliseconds: Int, _ body: () throws(E) -> R) throws(E) -> R {
        let proposed = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, milliseconds)) * 1_000_000
        let result = $current.withValue(min(current ?? .max, proposed)) { () -> Result<R, E> in
            do throws(E) { return .success(try body()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Runs `body` with no deadline: for clean-up that must happen even once the work's deadline passed
    /// (releasing a lock), bounded by its calls' own timeouts.
    @discardableResult
    public static func lifted<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let result = $current.withValue(nil) { () -> Result<R, E> in
            do throws(E) { return .success(try body()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The deadline in uptime nanoseconds, if one is bound.
    public static var uptimeNanoseconds: UInt64? { current }

    /// Milliseconds left (0 once passed); nil without a deadline.
    public static var remainingMilliseconds: Int? {
        guard let current else { return nil }
        let now = DispatchTime.now().uptimeNanoseconds
        return now >= current ? 0 : Int((current - now) / 1_000_000)
    }

    /// `timeoutMilliseconds`, shortened to what is left of the deadline (at least 1 ms).
    public static func capped(_ timeoutMilliseconds: Int) -> Int {
        max(1, min(timeoutMilliseconds, remainingMilliseconds ?? .max))
    }

    /// The error a call gives when the work's deadline passed before it could be made.
    static func passed(_ what: String) -> StorageError {
        StorageError(code: StorageError.deadlinePassed, "\(what): the request's deadline passed")
    }
}
