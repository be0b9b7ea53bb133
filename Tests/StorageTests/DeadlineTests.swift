import Foundation
import Storage
import Testing

@Suite struct DeadlineTests {
    /// A deadline holds for the work inside `within` only, a nested one can only shorten it, and a thread
    /// that is not a Swift task (an HTTP worker) sees none once the work returns.
    @Test func aDeadlineBindsTheWorkInsideItOnly() throws {
        let done = DispatchSemaphore(value: 0)
        Thread {
            defer { done.signal() }
            #expect(Deadline.remainingMilliseconds == nil)
            Deadline.within(milliseconds: 1_000) {
                #expect((900...1_000).contains(Deadline.remainingMilliseconds ?? -1))
                Deadline.within(milliseconds: 60_000) { #expect(Deadline.remainingMilliseconds ?? .max <= 1_000) }
                Deadline.within(milliseconds: 10) { #expect(Deadline.capped(50) <= 10) }
                #expect(Deadline.capped(50) == 50)
            }
            #expect(Deadline.remainingMilliseconds == nil)
            Deadline.within(milliseconds: 0) {
                #expect(Deadline.remainingMilliseconds == 0 && Deadline.capped(50) == 1)
                Deadline.lifted { #expect(Deadline.remainingMilliseconds == nil) }
            }
            #expect(Deadline.remainingMilliseconds == nil)
        }.start()
        done.wait()
    }

    /// A Redis call made after the deadline passed is not sent, and does not count against the circuit.
    @Test func aCallPastItsDeadlineIsNotMade() throws {
        let pool = RedisPool(port: 1)  // nothing listens there: a call that were made would fail otherwise
        #expect { try Deadline.within(milliseconds: 0) { () throws(StorageError) in try pool.command(["PING"], onRequestPath: true) } } throws: {
            ($0 as? StorageError)?.code == StorageError.deadlinePassed
        }
        #expect(!pool.breaker.isOpen)
    }
}
