import Events
import Features
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Synchronization
import Testing

/// The SIGKILL test of a queue consumer, shared by RabbitMQ ([8/8]) and Kafka ([19/19]): a producer sends
/// 15,000 views in messages of 1 to 20 events (every 97th message twice, as a producer retrying after a
/// lost acknowledgement), each acknowledged by the broker before it counts as sent, while `rummage ingest`
/// consumers are killed with SIGKILL mid-stream again and again; a last consumer drains the queue. What it
/// measures: the events lost and stored twice, and the listings whose view count in the Redis online store
/// differs from the producer's.
struct ConsumerKillHarness {
    struct Outcome {
        var kills = 0, sent = 0, stored = 0, lost = 0, twice = 0, mismatchedListings = 0
    }

    /// `rummage ingest` in the background, its progress appended to `progressPath`.
    static func consumer(_ arguments: [String], progressPath: String = "/dev/null") throws -> Process {
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent(".build/release/rummage")
        process.arguments = ["ingest"] + arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        if !FileManager.default.fileExists(atPath: progressPath) { FileManager.default.createFile(atPath: progressPath, contents: nil) }
        let progress = FileHandle(forWritingAtPath: progressPath)
        progress?.seekToEndOfFile()
        process.standardError = progress
        try process.run()
        return process
    }

    /// Runs the test: `connect` opens the producer's side and returns its send (returning once the
    /// broker acknowledged); `consume` are the consumers' `ingest` options besides --log and
    /// --online-store; messages go `messageGap` microseconds apart; `idleExit` ends the last consumer.
    static func run(name: String, connect: @escaping @Sendable () throws -> ([UInt8]) throws -> Void, consume: [String],
                    messageGap: useconds_t, idleExit: Int) throws -> Outcome {
        let redis = try TestRedis.Server()
        defer { redis.kill() }
        let dir = Fixtures.temporaryDirectory("rummage-\(name)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/events.sqlite", progress = dir + "/consumers.log"
        let now = Int64(Date().timeIntervalSince1970) - 60
        // The listings the stream's views are about.
        let listings = (0..<50).map { Event(id: "c\($0)", type: .listingCreated, timestamp: now - 100, user: "s", item: ItemID("l\($0)"), price: 5) }
        Fixtures.write(listings.map(\.jsonLine).joined(separator: "\n"), to: "listings.jsonl", in: dir)
        #expect(rummage("ingest", "--from", dir + "/listings.jsonl", "--log", log, "--online-store", redis.url, "--quiet").code == 0)
        #expect(rummage("online", "rebuild", "--log", log, "--online-store", redis.url).code == 0)

        let produced = Mutex<[Event]>([])
        let finished = Atomic<Bool>(false)
        let producer = Thread {
            do {
                let send = try connect()
                var rng = SeededGenerator(seed: 8)
                var n = 0, message = 0
                while n < 15_000 {
                    let size = 1 + rng.nextInt(below: 20)
                    let events = (0..<size).map { k in
                        Event(id: "v\(n + k)", type: .view, timestamp: now + Int64((n + k) / 1_000), user: UserID("u\(rng.nextInt(below: 300))"),
                              item: ItemID("l\(rng.nextInt(below: 50))"))
                    }
                    let body = Array(events.map(\.jsonLine).joined(separator: "\n").utf8)
                    try send(body)
                    if message % 97 == 0 { try send(body) }
                    produced.withLock { $0 += events }  // acknowledged by the broker: the producer's log
                    n += size
                    message += 1
                    usleep(messageGap)
                }
            } catch {
                Issue.record("producer: \(error)")
            }
            finished.store(true, ordering: .relaxed)
        }
        producer.start()

        let arguments = consume + ["--log", log, "--online-store", redis.url, "--batch-size", "200"]
        // Each consumer is killed once it has appended something, after a random 0-300 ms more.
        var outcome = Outcome(), rng = SeededGenerator(seed: 3), held = 0
        while !finished.load(ordering: .relaxed) {
            let process = try consumer(arguments, progressPath: progress)
            let deadline = Date().addingTimeInterval(20)
            while try SQLiteEventLog(path: log).count() - listings.count <= held && Date() < deadline { usleep(20_000) }
            usleep(UInt32(rng.nextInt(below: 300_000)))
            guard process.isRunning else { Issue.record("the consumer exited by itself (\(process.terminationStatus))"); break }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            outcome.kills += 1
            held = try SQLiteEventLog(path: log).count() - listings.count
            print("\(name): SIGKILL \(outcome.kills): \(held) events in the log, \(produced.withLock { $0.count }) acknowledged to the producer")
        }
        while !finished.load(ordering: .relaxed) { usleep(50_000) }
        let last = try consumer(arguments + ["--idle-exit", String(idleExit)], progressPath: progress)
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)

        let sent = produced.withLock { $0 }
        var stored: [String] = []
        try SQLiteEventLog(path: log).readAll(types: [.view]) { stored.append($0.id) }
        outcome.sent = sent.count
        outcome.stored = stored.count
        outcome.lost = Set(sent.map(\.id)).subtracting(stored).count
        outcome.twice = stored.count - Set(stored).count
        // Counted once downstream too: each listing's views in the shared online store equal the producer's.
        let features = RedisFeatureStore(redis: try RedisPool(url: redis.url))
        let items = (0..<50).map { "l\($0)" }
        let online = try features.values("item_views_1d", entities: items, at: now + 100)
        let expected = items.map { item in FeatureValue.number(Double(sent.filter { $0.item?.value == item }.count)) }
        outcome.mismatchedListings = zip(online, expected).filter { $0 != $1 }.count
        if outcome.lost != 0 || outcome.twice != 0 || last.terminationStatus != 0 {
            print("\(name): the consumers' progress:\n" + ((try? String(contentsOfFile: progress, encoding: .utf8))?.suffix(4_000) ?? ""))
        }
        print("\(name): \(outcome.kills) consumers killed with SIGKILL mid-stream; \(outcome.sent) events acknowledged to the producer, "
              + "\(outcome.stored) in the log: \(outcome.lost) lost, \(outcome.twice) twice; online view counts differing from the producer's: "
              + "\(outcome.mismatchedListings) of 50 listings")
        return outcome
    }
}
