import Dispatch
import Synchronization

/// Stops calling a server that keeps failing: after `failureThreshold` consecutive failures the circuit
/// opens and calls are refused at once (`StorageError.unreachable`) for `openMilliseconds`; then one
/// call is let through as a trial, and its success closes the circuit (its failure opens it again).
/// Callers fall back (to the event log, to no features) instead of waiting on a black-holed path.
public final class CircuitBreaker: Sendable {
    private struct State {
        var consecutiveFailures = 0
        var openUntil: UInt64 = 0  // uptime nanoseconds; 0 when closed
        var trialInFlight = false
    }

    public let failureThreshold: Int
    public let openMilliseconds: Int
    private let state = Mutex(State())

    public init(failureThreshold: Int = 3, openMilliseconds: Int = 1_000) {
        self.failureThreshold = failureThreshold
        self.openMilliseconds = openMilliseconds
    }

    /// Whether a call may go ahead now (a closed circuit, or the trial of an open one whose time is up).
    public func allows() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        return state.withLock { s -> Bool in
            guard s.openUntil != 0 else { return true }
            guard now >= s.openUntil, !s.trialInFlight else { return false }
            s.trialInFlight = true
            return true
        }
    }

    /// Records how an allowed call went.
    public func record(success: Bool) {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { s in
            s.trialInFlight = false
            if success {
                s.consecutiveFailures = 0
                s.openUntil = 0
                return
            }
            s.consecutiveFailures += 1
            if s.openUntil != 0 || s.consecutiveFailures >= failureThreshold {
                s.openUntil = now + UInt64(openMilliseconds) * 1_000_000
            }
        }
    }

    /// Whether calls are being refused now (or only a trial is let through).
    public var isOpen: Bool { state.withLock { $0.openUntil != 0 } }
}
