import Foundation
import RummageCore
import Storage
import Synchronization

/// Listing states in Redis, shared by every replica and ingester: a listing sold through one replica
/// is seen by all the others once the sale is acknowledged.
///
/// Keys (under `prefix`): `listing:state` and `listing:seller` hashes (listing id → state, seller),
/// one `seller:<id>` set per seller, `listing:ready` (set by `rebuild`, holding the log's event count
/// then), `lock:writes` (the writers' lock) and `lock:pending` (listings a writer is changing). Redis's memory is the only copy of these keys: when
/// it restarts empty, `listing:ready` is gone, every read throws until `rebuild(from:)` has replayed
/// the log, and callers fall back to the log meanwhile.
public final class RedisListingStates: ListingStateStore {
    public let redis: RedisPool
    public let prefix: String
    /// The writers' lock's lifetime, renewed while its holder makes progress: a writer that dies or
    /// stalls holding it stalls the others for at most this long.
    public let lockMilliseconds: Int
    /// The longest a writer keeps the lock, progress or not.
    public let maxHoldMilliseconds: Int

    public init(redis: RedisPool, prefix: String = "rummage", lockMilliseconds: Int = 1_000, maxHoldMilliseconds: Int = 30_000) {
        self.redis = redis
        self.prefix = prefix
        self.lockMilliseconds = lockMilliseconds
        self.maxHoldMilliseconds = maxHoldMilliseconds
    }

    public var stateKey: String { prefix + ":listing:state" }
    public var sellerKey: String { prefix + ":listing:seller" }
    public var readyKey: String { prefix + ":listing:ready" }
    public var lockKey: String { prefix + ":lock:writes" }
    /// Listings a writer marked as about to change and has not recorded yet (`willChange`).
    public var pendingKey: String { prefix + ":lock:pending" }
    public func sellerSetKey(_ seller: UserID) -> String { prefix + ":seller:" + seller.value }

    /// Whether the states were rebuilt from the log since Redis last started empty.
    public func isReady() throws(StorageError) -> Bool { try redis.command(["EXISTS", readyKey]) == .integer(1) }

    private func notReady() -> StorageError {
        StorageError(code: -1, "listing states in \(redis.url) are not loaded (Redis restarted empty?): run `rummage online rebuild`")
    }

    /// HMGET of `key` for `items`, in the same round trip as the readiness check.
    private func fields(_ keys: [String], _ items: [ItemID]) throws(StorageError) -> [[String?]] {
        let replies = try redis.pipeline([["EXISTS", readyKey]] + keys.map { ["HMGET", $0] + items.map(\.value) }, onRequestPath: true)
        guard replies[0] == .integer(1) else { throw notReady() }
        return replies.dropFirst().map { reply in
            guard case .array(let values) = reply else { return Array(repeating: nil, count: items.count) }
            return values.map(\.text)
        }
    }

    public func states(of items: [ItemID]) throws(StorageError) -> [ListingState?] {
        guard !items.isEmpty else { return [] }
        return try fields([stateKey], items)[0].map { $0.flatMap(ListingState.init(rawValue:)) }
    }

    public func lifecycle(of items: Set<ItemID>) throws(StorageError) -> ListingLifecycle {
        let ordered = Array(items)
        guard !ordered.isEmpty else { return ListingLifecycle() }
        let values = try fields([stateKey, sellerKey], ordered)
        var states: [ItemID: ListingState] = [:], sellers: [ItemID: UserID] = [:]
        for (k, item) in ordered.enumerated() {
            if let state = values[0][k].flatMap(ListingState.init(rawValue:)) { states[item] = state }
            if let seller = values[1][k] { sellers[item] = UserID(seller) }
        }
        return ListingLifecycle(states: states, sellers: sellers)
    }

    public func listings(of seller: UserID) throws(StorageError) -> [ItemID] {
        let replies = try redis.pipeline([["EXISTS", readyKey], ["SMEMBERS", sellerSetKey(seller)]])
        guard replies[0] == .integer(1) else { throw notReady() }
        guard case .array(let members) = replies[1] else { return [] }
        return members.compactMap(\.text).map { ItemID($0) }.sorted { $0.value < $1.value }
    }

    public func willChange(_ items: Set<ItemID>, under lease: WriterLease) throws(StorageError) {
        guard !items.isEmpty else { return }
        try redis.command(["SADD", pendingKey] + items.map(\.value))
    }

    public func record(_ lifecycle: ListingLifecycle, items: Set<ItemID>, under lease: WriterLease) throws(StorageError) {
        var arguments = ["EVAL", Self.recordScript, "2", lockKey, pendingKey, lease.holder]
        var sorted = items.sorted { $0.value < $1.value }[...]
        while !sorted.isEmpty {  // Lua unpacks at most a few thousand values at once
            for command in commands(recording: lifecycle, items: Set(sorted.prefix(500))) { arguments += [String(command.count)] + command }
            sorted = sorted.dropFirst(500)
        }
        guard try redis.command(arguments) == .integer(1) else {
            throw StorageError(code: StorageError.fenced, "\(redis.url): the writers' lock was lost before the states were recorded; the next writer records them")
        }
    }

    /// Runs the commands in ARGV[2…] (each preceded by its length) and clears the pending marks, if the
    /// lock (KEYS[1]) still holds this turn's value (ARGV[1]); else does nothing and returns 0.
    static let recordScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        local i = 2
        while i <= #ARGV do
          local n = tonumber(ARGV[i])
          redis.call(unpack(ARGV, i + 1, i + n))
          i = i + n + 1
        end
        redis.call('DEL', KEYS[2])
        return 1
        """

    /// The writes that record `items`' states and sellers: one HSET per hash, one SADD per seller.
    private func commands(recording lifecycle: ListingLifecycle, items: Set<ItemID>) -> [[String]] {
        var states = ["HSET", stateKey], sellers = ["HSET", sellerKey], gone = ["HDEL", stateKey]
        var bySeller: [UserID: [String]] = [:]
        for item in items.sorted(by: { $0.value < $1.value }) {
            if let state = lifecycle.state(of: item) { states += [item.value, state.rawValue] } else { gone.append(item.value) }
            if let seller = lifecycle.sellers[item] {
                sellers += [item.value, seller.value]
                bySeller[seller, default: []].append(item.value)
            }
        }
        var commands: [[String]] = []
        if states.count > 2 { commands.append(states) }
        if gone.count > 2 { commands.append(gone) }
        if sellers.count > 2 { commands.append(sellers) }
        for (seller, listings) in bySeller { commands.append(["SADD", sellerSetKey(seller)] + listings) }
        return commands
    }

    /// Takes the writers' lock (`SET NX PX` with a token of this turn), runs `body`, and releases the
    /// lock only if it still holds it. The turn carries the listings an earlier writer left unrecorded
    /// (`WriterLease.unrecorded`); its fencing token comes from the log (`EventLog.claimTurn`). The lock's lifetime is renewed by the holder's
    /// progress (`WriterLease.progressed`, at most every third of the lifetime) while it has held it
    /// less than `maxHoldMilliseconds`: a writer that dies, or stalls in a call to a black-holed server,
    /// frees it within `lockMilliseconds`, and its late append is refused by the log's fence. Waits for another writer
    /// with exponential backoff (1 ms doubling to 64 ms) up to ten lifetimes or the work's `Deadline`,
    /// whichever comes first, then throws `StorageError.writersBusy`.
    public func exclusively<R>(_ body: (WriterLease) throws(StorageError) -> R) throws(StorageError) -> R {
        try exclusively(holdingAtMost: maxHoldMilliseconds, body)
    }

    /// `exclusively`, renewed while progress is made for up to `maxHold` milliseconds.
    private func exclusively<R>(holdingAtMost maxHold: Int, _ body: (WriterLease) throws(StorageError) -> R) throws(StorageError) -> R {
        let token = UUID().uuidString
        let waited = Stopwatch()
        let patience = Double(min(lockMilliseconds * 10, Deadline.remainingMilliseconds ?? .max)) / 1_000
        var pause: UInt32 = 1_000
        var taken = RedisReply.null
        while true {
            taken = try redis.command(["EVAL", Self.lockScript, "2", lockKey, pendingKey, token, String(lockMilliseconds)])
            if taken != .null { break }
            let left = patience - waited.elapsedSeconds
            guard left > 0 else {
                throw StorageError(code: StorageError.writersBusy,
                                   "\(redis.url): another writer held \(lockKey) for \(Int(waited.elapsedSeconds * 1_000)) ms; retry")
            }
            usleep(min(pause, UInt32(left * 1_000_000) + 1))
            pause = min(pause * 2, 64_000)
        }
        guard case .array(let pending) = taken else { throw StorageError(code: -1, "\(redis.url): taking \(lockKey) answered \(taken)") }
        let held = Stopwatch()
        let lease = WriterLease(holder: token, unrecorded: Set(pending.compactMap(\.text).map { ItemID($0) }),
                                lifetimeMilliseconds: lockMilliseconds) { [redis, lockKey, lockMilliseconds] in
            // Held too long: let the lock expire.
            guard held.elapsedSeconds * 1_000 < Double(maxHold) else { return }
            _ = try? redis.command(["EVAL", Self.renewScript, "1", lockKey, token, String(lockMilliseconds)])
        }
        defer { Deadline.lifted { _ = try? redis.command(["EVAL", Self.releaseScript, "1", lockKey, token]) } }
        return try body(lease)
    }

    /// Takes the lock (KEYS[1]) for this turn (ARGV[1], for ARGV[2] ms) if it is free and returns the
    /// listings still pending (KEYS[2]) in the same step; nil when the lock is held.
    static let lockScript = """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('SMEMBERS', KEYS[2]) end
        return false
        """
    static let renewScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
    static let releaseScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

    /// Replaces the stored states with the lifecycle the log's events give, then marks the store ready.
    /// Holds the writers' lock throughout (renewed while it makes progress, however long the log), so no
    /// ingest records a state the replay would then overwrite. Returns the number of listings written.
    @discardableResult
    public func rebuild(from log: any EventLog, progress: (Int) -> Void = { _ in }) throws(StorageError) -> Int {
        try exclusively(holdingAtMost: .max) { (lease: WriterLease) throws(StorageError) -> Int in
            let count = try log.count()
            var replayed = ListingLifecycle()
            var read = 0
            try log.readAll(order: .appended, types: ListingLifecycle.eventTypes) { event in
                try? replayed.apply(event)
                read += 1
                if read % 1_000 == 0 { lease.progressed() }
            }
            try redis.unlink([readyKey, stateKey, sellerKey, pendingKey] + redis.keys(matching: prefix + ":seller:*"))
            let items = Array(replayed.states.keys)
            for start in stride(from: 0, to: items.count, by: 10_000) {
                let chunk = Set(items[start..<min(items.count, start + 10_000)])
                _ = try redis.pipeline(commands(recording: replayed, items: chunk))
                lease.progressed()
                progress(start + chunk.count)
            }
            try redis.command(["SET", readyKey, String(count)])
            return items.count
        }
    }
}
