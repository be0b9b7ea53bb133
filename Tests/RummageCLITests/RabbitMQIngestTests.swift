import ArgumentParsing
import Events
import Features
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Synchronization
import Testing

/// Issue [8/8]'s RabbitMQ acceptance: a producer publishes events (with broker confirms, logging each
/// confirmed id) while `rummage ingest --from amqp://…` consumers are killed with SIGKILL mid-stream again
/// and again; after a final consumer drains the queue, the event log holds exactly the producer's events
/// (none lost, none twice) and the online store counted each view once.
@Suite(.serialized) struct RabbitMQIngestTests {
    static func consumer(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent(".build/release/rummage")
        process.arguments = ["ingest"] + arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
    }

    @Test func consumersKilledMidStreamLoseNoEventAndCountNoneTwice() throws {
        let url = try TestRabbitMQ.url()
        let redis = try TestRedis.Server()
        defer { redis.kill() }
        let dir = Fixtures.temporaryDirectory("rummage-amqp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/events.sqlite", queue = "events-" + UUID().uuidString
        let now = Int64(Date().timeIntervalSince1970) - 60
        // The listings the stream's views are about.
        let listings = (0..<50).map { Event(id: "c\($0)", type: .listingCreated, timestamp: now - 100, user: "s", item: ItemID("l\($0)"), price: 5) }
        Fixtures.write(listings.map(\.jsonLine).joined(separator: "\n"), to: "listings.jsonl", in: dir)
        #expect(rummage("ingest", "--from", dir + "/listings.jsonl", "--log", log, "--online-store", redis.url, "--quiet").code == 0)
        #expect(rummage("online", "rebuild", "--log", log, "--online-store", redis.url).code == 0)

        // The producer: 15,000 views in messages of 1 to 20 events, a few ms apart; every 97th message is
        // published twice (a producer retrying after a lost confirm).
        let produced = Mutex<[Event]>([])
        let finished = Atomic<Bool>(false)
        let producer = Thread {
            do {
                let channel = try AMQPConnection(url: url)
                try channel.declareQueue(queue)
                var rng = SeededGenerator(seed: 8)
                var n = 0, message = 0
                while n < 15_000 {
                    let size = 1 + rng.nextInt(below: 20)
                    let events = (0..<size).map { k in
                        Event(id: "v\(n + k)", type: .view, timestamp: now + Int64((n + k) / 1_000), user: UserID("u\(rng.nextInt(below: 300))"),
                              item: ItemID("l\(rng.nextInt(below: 50))"))
                    }
                    let body = Array(events.map(\.jsonLine).joined(separator: "\n").utf8)
                    try channel.publish(body, to: queue)
                    if message % 97 == 0 { try channel.publish(body, to: queue) }
                    produced.withLock { $0 += events }  // confirmed by the broker: the producer's log
                    n += size
                    message += 1
                    usleep(8_000)
                }
            } catch {
                Issue.record("producer: \(error)")
            }
            finished.store(true, ordering: .relaxed)
        }
        producer.start()

        let arguments = ["--from", url, "--queue", queue, "--log", log, "--online-store", redis.url, "--batch-size", "200", "--quiet"]
        // Each consumer is killed once it has appended something, after a random 0-300 ms more.
        var kills = 0, rng = SeededGenerator(seed: 3)
        var held = 0
        while !finished.load(ordering: .relaxed) {
            let process = try Self.consumer(arguments)
            let deadline = Date().addingTimeInterval(10)
            while try SQLiteEventLog(path: log).count() - listings.count <= held && Date() < deadline { usleep(20_000) }
            usleep(UInt32(rng.nextInt(below: 300_000)))
            guard process.isRunning else { Issue.record("the consumer exited by itself (\(process.terminationStatus))"); break }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            kills += 1
            held = try SQLiteEventLog(path: log).count() - listings.count
            print("rabbitmq: SIGKILL \(kills): \(held) events in the log, \(produced.withLock { $0.count }) confirmed by the producer")
        }
        while !finished.load(ordering: .relaxed) { usleep(50_000) }
        // A last consumer drains the queue and stops once it has been idle for 2 s.
        let last = try Self.consumer(arguments + ["--idle-exit", "2"])
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)

        let sent = produced.withLock { $0 }
        var stored: [String] = []
        try SQLiteEventLog(path: log).readAll(types: [.view]) { stored.append($0.id) }
        let lost = Set(sent.map(\.id)).subtracting(stored).count, twice = stored.count - Set(stored).count
        #expect(kills >= 10)
        #expect(stored.count == sent.count && lost == 0 && twice == 0)
        #expect(try AMQPConnection(url: url).queueLength(queue) == 0)
        // Counted once downstream too: each listing's views in the shared online store equal the producer's.
        let features = RedisFeatureStore(redis: try RedisPool(url: redis.url))
        let items = (0..<50).map { "l\($0)" }
        let online = try features.values("item_views_1d", entities: items, at: now + 100)
        let expected = items.map { item in FeatureValue.number(Double(sent.filter { $0.item?.value == item }.count)) }
        let mismatchedListings = zip(online, expected).filter { $0 != $1 }.count
        #expect(mismatchedListings == 0)
        print("rabbitmq: \(kills) consumers killed with SIGKILL mid-stream; \(sent.count) events confirmed by the producer, "
              + "\(stored.count) in the log: \(lost) lost, \(twice) twice; online view counts differing from the producer's: \(mismatchedListings) of 50 listings")
    }

    /// [12/19]: a poison event (an id with NUL once failed a whole PostgreSQL batch; the consumer exited,
    /// the message came back, and ingestion stopped for good) is refused and dead-lettered with its reason
    /// while the consumer goes on; event ids are scoped to each message's producer (app-id).
    @Test func poisonEventsAreDeadLetteredAndTheConsumerGoesOn() throws {
        let url = try TestRabbitMQ.url()
        let log = try TestPostgres.databaseURI()
        let queue = "poison-" + UUID().uuidString
        let now = Int64(Date().timeIntervalSince1970) - 60
        let created = Event(id: "c1", type: .listingCreated, timestamp: now - 10, user: "s", item: "l1", price: 5)
        let view = { (id: String, user: String) in Event(id: id, type: .view, timestamp: now, user: UserID(user), item: "l1").jsonLine }
        let channel = try AMQPConnection(url: url)
        try channel.declareQueue(queue)
        try channel.publish(Array(created.jsonLine.utf8), to: queue)
        let poisoned = [view("v1", "u1"), #"{"event_id":"bad\u0000id","type":"view","timestamp":\#(now),"user":"u1","item":"l1"}"#,
                        "{not json", view("v2", "u1")]
        try channel.publish(Array(poisoned.joined(separator: "\n").utf8), to: queue)
        try channel.publish(Array(view("v1", "u9").utf8), to: queue, producer: "shop")  // the shop's own v1
        let consume = ["ingest", "--from", url, "--queue", queue, "--log", log, "--idle-exit", "1", "--json"]
        let first = rummage(consume)
        #expect(first.code == ExitCode.partiallyRefused && first.err.contains("control character") && first.err.contains("line 4"), "\(first.err)")
        #expect(try lastJSONLine(first.out)["dead_lettered"] as? Int == 2)
        let stored = try PostgreSQLEventLog(conninfo: log)
        #expect(try stored.contains(ids: ["c1", "v1", "v2"]) == [true, true, true])
        #expect(try stored.fingerprints(of: ["v1"], producer: "shop").first??.isEmpty == false)
        #expect(try stored.count() == 4)
        #expect(try channel.queueLength(queue) == 0, "every message was acknowledged")

        let dead = try AMQPConnection(url: url)
        try dead.consume(queue + ".dead", prefetch: 10)
        let letter = try #require(try dead.next(timeoutMilliseconds: 5_000))
        let letters = try String(decoding: letter.body, as: UTF8.self).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
        }
        #expect(letters.map { $0["line"] ?? "" } == [poisoned[1], poisoned[2]])
        #expect(letters.allSatisfy { !($0["reason"] ?? "").isEmpty })

        // The consumer is not stuck: the next message is ingested.
        try channel.publish(Array(view("v3", "u2").utf8), to: queue)
        let second = rummage(consume)
        #expect(second.code == 0, "\(second.err)")
        #expect(try lastJSONLine(second.out)["appended"] as? Int == 1)
    }

    /// [13/19]: the broker is killed and restarted in the middle of a 15,000-event run; the producer
    /// republishes what was not confirmed, and the consumer reconnects by itself: the log ends up with
    /// every event, none twice.
    @Test func aBrokerRestartMidRunLosesNothingAndTheConsumerReconnects() throws {
        let broker = try TestRabbitMQ.Instance()
        let dir = Fixtures.temporaryDirectory("rummage-amqp-restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/events.sqlite", queue = "restart-" + UUID().uuidString
        let now = Int64(Date().timeIntervalSince1970) - 60
        let listings = (0..<50).map { Event(id: "c\($0)", type: .listingCreated, timestamp: now - 100, user: "s", item: ItemID("l\($0)"), price: 5) }
        Fixtures.write(listings.map(\.jsonLine).joined(separator: "\n"), to: "listings.jsonl", in: dir)
        #expect(rummage("ingest", "--from", dir + "/listings.jsonl", "--log", log, "--quiet").code == 0)
        let consumer = try Self.consumer(["--from", broker.url, "--queue", queue, "--log", log, "--batch-size", "200", "--quiet"])
        defer { if consumer.isRunning { consumer.terminate(); consumer.waitUntilExit() } }

        // The producer publishes 15,000 views with confirms; a message whose publish fails (the broker is
        // down) is published again on a new connection until it is confirmed.
        let confirmed = Atomic<Int>(0)
        let total = 15_000, perMessage = 20
        let producer = Thread {
            var channel: AMQPConnection?
            for start in stride(from: 0, to: total, by: perMessage) {
                let body = Array((start..<start + perMessage).map { n in
                    Event(id: "v\(n)", type: .view, timestamp: now, user: UserID("u\(n % 300)"), item: ItemID("l\(n % 50)")).jsonLine
                }.joined(separator: "\n").utf8)
                while true {
                    do {
                        if channel == nil {
                            channel = try AMQPConnection(url: broker.url)
                            try channel?.declareQueue(queue)
                        }
                        try channel?.publish(body, to: queue)
                        break
                    } catch {
                        channel = nil
                        usleep(100_000)
                    }
                }
                confirmed.add(perMessage, ordering: .relaxed)
                usleep(2_000)
            }
        }
        producer.start()
        while confirmed.load(ordering: .relaxed) < 5_000 { usleep(20_000) }
        broker.kill()
        usleep(500_000)
        try broker.start()
        while confirmed.load(ordering: .relaxed) < total { usleep(50_000) }
        let deadline = Date().addingTimeInterval(60)
        while try SQLiteEventLog(path: log).count() < total + listings.count && Date() < deadline { usleep(200_000) }
        #expect(consumer.isRunning, "the consumer survived the restart")
        var stored: [String] = []
        try SQLiteEventLog(path: log).readAll(types: [.view]) { stored.append($0.id) }
        let lost = total - Set(stored).count, twice = stored.count - Set(stored).count
        #expect(lost == 0 && twice == 0, "\(lost) lost, \(twice) twice")
        print("rabbitmq restart: broker killed and restarted after 5,000 of 15,000 events; \(stored.count) in the log, \(lost) lost, \(twice) twice")
    }
}
