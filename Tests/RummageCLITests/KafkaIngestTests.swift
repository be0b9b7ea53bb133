import ArgumentParsing
import Events
import Features
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Synchronization
import Testing

/// Issue [19/19]'s Kafka acceptance, the same as RabbitMQ's ([8/8]): a producer sends events to a
/// topic of librdkafka's mock cluster (a Kafka protocol peer in this test process) while
/// `rummage ingest --from kafka://…` consumers of one group are killed with SIGKILL mid-stream again and
/// again; after a final consumer drains the topic, the event log holds exactly the producer's events
/// (none lost, none twice) and the online store counted each view once.
@Suite(.serialized) struct KafkaIngestTests {
    /// `rummage ingest` in the background, its progress appended to `stderrPath`.
    static func consumer(_ arguments: [String], stderrPath: String) throws -> Process {
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent(".build/release/rummage")
        process.arguments = ["ingest"] + arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        if !FileManager.default.fileExists(atPath: stderrPath) { FileManager.default.createFile(atPath: stderrPath, contents: nil) }
        let progress = FileHandle(forWritingAtPath: stderrPath)
        progress?.seekToEndOfFile()
        process.standardError = progress
        try process.run()
        return process
    }

    @Test func consumersKilledMidStreamLoseNoEventAndCountNoneTwice() throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = "events", partitions = 3
        try cluster.createTopic(topic, partitions: partitions)
        let redis = try TestRedis.Server()
        defer { redis.kill() }
        let dir = Fixtures.temporaryDirectory("rummage-kafka")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/events.sqlite"
        let now = Int64(Date().timeIntervalSince1970) - 60
        let listings = (0..<50).map { Event(id: "c\($0)", type: .listingCreated, timestamp: now - 100, user: "s", item: ItemID("l\($0)"), price: 5) }
        Fixtures.write(listings.map(\.jsonLine).joined(separator: "\n"), to: "listings.jsonl", in: dir)
        #expect(rummage("ingest", "--from", dir + "/listings.jsonl", "--log", log, "--online-store", redis.url, "--quiet").code == 0)
        #expect(rummage("online", "rebuild", "--log", log, "--online-store", redis.url).code == 0)

        // The producer: 15,000 views in messages of 1 to 20 events, 45 ms apart (the stream lasts about a
        // minute: each kill costs a rebalance); every 97th message is sent twice (a producer retrying after
        // a lost acknowledgement).
        let produced = Mutex<[Event]>([])
        let finished = Atomic<Bool>(false)
        let producer = Thread {
            do {
                let kafka = try KafkaProducer(url: cluster.url)
                var rng = SeededGenerator(seed: 8)
                var n = 0, message = 0
                while n < 15_000 {
                    let size = 1 + rng.nextInt(below: 20)
                    let events = (0..<size).map { k in
                        Event(id: "v\(n + k)", type: .view, timestamp: now + Int64((n + k) / 1_000), user: UserID("u\(rng.nextInt(below: 300))"),
                              item: ItemID("l\(rng.nextInt(below: 50))"))
                    }
                    let body = Array(events.map(\.jsonLine).joined(separator: "\n").utf8)
                    try kafka.send(body, to: topic)
                    if message % 97 == 0 { try kafka.send(body, to: topic) }
                    produced.withLock { $0 += events }  // acknowledged by the broker: the producer's log
                    n += size
                    message += 1
                    usleep(45_000)
                }
            } catch {
                Issue.record("producer: \(error)")
            }
            finished.store(true, ordering: .relaxed)
        }
        producer.start()

        // A short session timeout: a killed member's partitions go to the next consumer within seconds.
        let arguments = ["--from", cluster.url, "--queue", topic, "--group", "ingest", "--session-timeout", "3000", "--log", log,
                         "--online-store", redis.url, "--batch-size", "200"]
        var kills = 0, rng = SeededGenerator(seed: 3)
        var held = 0
        while !finished.load(ordering: .relaxed) {
            let process = try Self.consumer(arguments, stderrPath: dir + "/consumers.log")
            let deadline = Date().addingTimeInterval(20)
            while try SQLiteEventLog(path: log).count() - listings.count <= held && Date() < deadline { usleep(20_000) }
            usleep(UInt32(rng.nextInt(below: 300_000)))
            guard process.isRunning else { Issue.record("the consumer exited by itself (\(process.terminationStatus))"); break }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            kills += 1
            held = try SQLiteEventLog(path: log).count() - listings.count
            print("kafka: SIGKILL \(kills): \(held) events in the log, \(produced.withLock { $0.count }) acknowledged to the producer")
        }
        while !finished.load(ordering: .relaxed) { usleep(50_000) }
        // A last consumer drains the topic and stops once it has been idle for 3 s with its partitions.
        let last = try Self.consumer(arguments + ["--idle-exit", "3"], stderrPath: dir + "/consumers.log")
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)

        let sent = produced.withLock { $0 }
        var stored: [String] = []
        try SQLiteEventLog(path: log).readAll(types: [.view]) { stored.append($0.id) }
        let lost = Set(sent.map(\.id)).subtracting(stored).count, twice = stored.count - Set(stored).count
        #expect(kills >= 10)
        #expect(stored.count == sent.count && lost == 0 && twice == 0)
        if kills < 10 || lost != 0 || twice != 0 || last.terminationStatus != 0 {
            print("kafka: the consumers' progress:\n" + ((try? String(contentsOfFile: dir + "/consumers.log", encoding: .utf8))?.suffix(4_000) ?? ""))
        }
        let features = RedisFeatureStore(redis: try RedisPool(url: redis.url))
        let items = (0..<50).map { "l\($0)" }
        let online = try features.values("item_views_1d", entities: items, at: now + 100)
        let expected = items.map { item in FeatureValue.number(Double(sent.filter { $0.item?.value == item }.count)) }
        let mismatchedListings = zip(online, expected).filter { $0 != $1 }.count
        #expect(mismatchedListings == 0)
        print("kafka: \(kills) consumers killed with SIGKILL mid-stream; \(sent.count) events acknowledged to the producer, "
              + "\(stored.count) in the log: \(lost) lost, \(twice) twice; online view counts differing from the producer's: \(mismatchedListings) of 50 listings")
    }

    /// Poison lines are refused and sent to TOPIC.dead with their reasons while the consumer goes on, event
    /// ids are scoped to each message's `producer` header, and `rummage publish --to kafka://…` feeds it.
    @Test func poisonLinesAreDeadLetteredAndProducersScopeEventIDs() throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = "poison"
        try cluster.createTopic(topic, partitions: 1)
        let dir = Fixtures.temporaryDirectory("rummage-kafka-poison")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/events.sqlite"
        let now = Int64(Date().timeIntervalSince1970) - 60
        let created = Event(id: "c1", type: .listingCreated, timestamp: now - 10, user: "s", item: "l1", price: 5)
        let view = { (id: String, user: String) in Event(id: id, type: .view, timestamp: now, user: UserID(user), item: "l1").jsonLine }
        Fixtures.write([created.jsonLine, view("v1", "u1")].joined(separator: "\n"), to: "first.jsonl", in: dir)
        let published = rummage("publish", "--from", dir + "/first.jsonl", "--to", cluster.url, "--queue", topic, "--json")
        #expect(published.code == 0, "\(published.err)")
        #expect(try lastJSONLine(published.out)["published"] as? Int == 2)
        let kafka = try KafkaProducer(url: cluster.url)
        let poisoned = [view("v2", "u1"), #"{"event_id":"bad\u0000id","type":"view","timestamp":\#(now),"user":"u1","item":"l1"}"#, "{not json"]
        try kafka.send(Array(poisoned.joined(separator: "\n").utf8), to: topic)
        try kafka.send(Array(view("v1", "u9").utf8), to: topic, producer: "shop")  // the shop's own v1

        let consume = ["ingest", "--from", cluster.url, "--queue", topic, "--group", "g", "--log", log, "--idle-exit", "2", "--json"]
        let first = rummage(consume)
        #expect(first.code == ExitCode.partiallyRefused && first.err.contains("control character") && first.err.contains("line 5"), "\(first.err)")
        #expect(try lastJSONLine(first.out)["dead_lettered"] as? Int == 2)
        let stored = try SQLiteEventLog(path: log)
        #expect(try stored.count() == 4)
        #expect(try stored.fingerprints(of: ["v1"], producer: "shop").first??.isEmpty == false)

        let dead = try KafkaConsumer(url: cluster.url, topic: topic + ".dead", group: "reader")
        var letter: KafkaConsumer.Message?
        let deadline = Date().addingTimeInterval(20)
        while letter == nil && Date() < deadline { letter = try dead.next(timeoutMilliseconds: 200) }
        let letters = try String(decoding: try #require(letter).body, as: UTF8.self).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
        }
        #expect(letters.map { $0["line"] ?? "" } == [poisoned[1], poisoned[2]])
        #expect(letters.allSatisfy { !($0["reason"] ?? "").isEmpty })

        // Offsets were committed: the group's next consumer reads only what came since.
        try kafka.send(Array(view("v3", "u2").utf8), to: topic)
        let second = rummage(consume)
        #expect(second.code == 0, "\(second.err)")
        #expect(try lastJSONLine(second.out)["lines"] as? Int == 1)
        #expect(try lastJSONLine(second.out)["appended"] as? Int == 1)
    }
}
