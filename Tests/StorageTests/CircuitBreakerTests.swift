import Foundation
import Storage
import Testing

@Suite struct CircuitBreakerTests {
    /// Three failures in a row open the circuit; while open, calls are refused; when its time is up one
    /// trial goes through (not two), and its success closes the circuit (a failure would reopen it).
    @Test func opensAfterRepeatedFailuresAndClosesAfterASuccessfulTrial() {
        let breaker = CircuitBreaker(failureThreshold: 3, openMilliseconds: 50)
        for _ in 0..<2 {
            #expect(breaker.allows())
            breaker.record(success: false)
        }
        #expect(!breaker.isOpen)
        #expect(breaker.allows())
        breaker.record(success: false)
        #expect(breaker.isOpen && !breaker.allows())
        usleep(70_000)
        #expect(breaker.allows() && !breaker.allows(), "one trial at a time")
        breaker.record(success: false)
        #expect(breaker.isOpen && !breaker.allows(), "a failed trial opens it again")
        usleep(70_000)
        #expect(breaker.allows())
        breaker.record(success: true)
        #expect(!breaker.isOpen && breaker.allows() && breaker.allows())
    }
}
