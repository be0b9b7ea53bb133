import ArgumentParsing
import Events
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Synchronization
import Testing

/// Issue [8/8]'s RabbitMQ acceptance (`ConsumerKillHarness`): a producer publishes events with broker
/// confirms while `rummage ingest --from amqp://…` consumers are killed with SIGKILL mid-stream again and
/// again; after a final consumer drains the queue, the event log holds exactly the producer's events (none
/// lost, none twice) and the online store counted each view once.
@Suite(.serialized) struct RabbitMQIngestTests {
    @Test func consumersKilledMidStreamLoseNoEventAndCountNoneTwice() throws {
        let url = try TestRabbitMQ.url()
        let queue = "events-" + UUID().uuidString
        let outcome = try ConsumerKillHarness.run(name: "rabbitmq", connect: {
            let channel = try AMQPConnection(url: url)
            try channel.declareQueue(queue)
            return { body in try channel.publish(body, to: queue) }
        }, consume: ["--from", url, "--queue", queue, "--quiet"], messageGap: 8_000, idleExit: 2)
        #expect(outcome.kills >= 10)
        #expect(outcome.stored == outcome.sent && outcome.lost == 0 && outcome.twice == 0)
        #expect(try AMQPConnection(url: url).queueLength(queue) == 0)
        #expect(outcome.mismatchedListings == 0)
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
        let consumer = try ConsumerKillHarness.consumer(["--from", broker.url, "--queue", queue, "--log", log, "--batch-size", "200", "--quiet"])
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
