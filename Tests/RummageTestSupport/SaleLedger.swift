import Foundation
import RummageClient
import Synchronization

/// What a sold-listing leak test keeps: when each sale was acknowledged, the listings answers showed (the
/// seller sells those, so the test bites), and every answer that held a listing sold before its request
/// was sent. Clients and the seller share one ledger across threads.
public final class SaleLedger: Sendable {
    public struct Record: Sendable {
        /// Each sold listing and when (seconds since the ledger began) its sale was acknowledged.
        public var soldAt: [String: Double] = [:]
        public var shown: [String] = []
        public var claimed = 0
        public var sent = 0
        public var errors = 0
        /// "listing to user" for each listing served after its sale.
        public var violations: [String] = []
    }

    private let record = Mutex(Record())
    private let start = Date()

    public init() {}

    /// Seconds since the ledger began.
    public func now() -> Double { Date().timeIntervalSince(start) }

    /// Takes one request out of a budget of `limit`; false once it is spent.
    public func claimRequest(limit: Int) -> Bool {
        record.withLock { r in
            guard r.claimed < limit else { return false }
            r.claimed += 1
            return true
        }
    }

    /// Asks `api` for `user`'s top `k`; records the answer's first listing as shown, and every listing in
    /// it whose sale was acknowledged before the request was sent as a violation.
    public func ask(_ api: RummageClient, user: String, k: Int = 20) {
        let sentAt = now()
        let answer = try? api.recommendations(user: user, k: k)
        let listed = answer?.items.map(\.item) ?? []
        record.withLock { r in
            r.sent += 1
            if answer == nil { r.errors += 1 }
            for item in listed { if let sold = r.soldAt[item], sold < sentAt { r.violations.append("\(item) to \(user)") } }
            if let first = listed.first { r.shown.append(first) }
        }
    }

    /// Sells up to `count` listings with `sell` (true when acknowledged): each time the latest listing an
    /// answer showed that is not sold yet, else the next of `fallback` from `cursor`. Records each
    /// acknowledged sale's time; returns how many were sold.
    public func sell(_ count: Int, fallback: [String], cursor: inout Int, through sell: (String) -> Bool) -> Int {
        var sold = 0
        while sold < count {
            var target = record.withLock { r -> String? in
                while let shown = r.shown.popLast() { if r.soldAt[shown] == nil { return shown } }
                return nil
            }
            if target == nil {
                guard cursor < fallback.count else { break }
                let next = fallback[cursor]
                cursor += 1
                if record.withLock({ $0.soldAt[next] == nil }) { target = next }
            }
            guard let target, sell(target) else { continue }
            let acknowledged = now()
            record.withLock { $0.soldAt[target] = acknowledged }
            sold += 1
        }
        return sold
    }

    /// A copy of the record so far.
    public var snapshot: Record { record.withLock { $0 } }
}
