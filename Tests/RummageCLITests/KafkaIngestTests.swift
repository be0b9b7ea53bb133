import ArgumentParsing
import Events
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Testing

/// Issue [19/19]'s Kafka acceptance, the same test as RabbitMQ's ([8/8], `ConsumerKillHarness`) against
/// librdkafka's mock cluster (a Kafka protocol peer in this test process): `rummage ingest --from kafka://…`
/// consumers of one group killed with SIGKILL mid-stream lose no event and count none twice.
@Suite(.serialized) struct KafkaIngestTests {
    @Test func consumersKilledMidStreamLoseNoEventAndCountNoneTwice() throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("events", partitions: 3)
        // Messages 45 ms apart: the stream lasts about a minute, as each kill costs the group a rebalance;
        // a short session timeout hands a killed member's partitions to the next consumer within seconds.
        let outcome = try ConsumerKillHarness.run(name: "kafka", connect: {
            let kafka = try KafkaProducer(url: cluster.url)
            return { body in try kafka.send(body, to: "events") }
        }, consume: ["--from", cluster.url, "--queue", "events", "--group", "ingest", "--session-timeout", "3000"],
           messageGap: 45_000, idleExit: 3)
        #expect(outcome.kills >= 10)
        #expect(outcome.stored == outcome.sent && outcome.lost == 0 && outcome.twice == 0)
        #expect(outcome.mismatchedListings == 0)
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
