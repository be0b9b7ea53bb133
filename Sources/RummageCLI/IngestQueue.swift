import Storage

/// A broker `rummage ingest` consumes (RabbitMQ or Kafka): messages of JSON lines with their producer.
/// Taken messages are released (acknowledged in RabbitMQ, their offsets committed in Kafka) only once
/// every event in them is durable; messages not released come again after a crash, their events
/// already in the log then being duplicates.
protocol IngestQueue: AnyObject {
    /// Where refused lines are sent: a queue or topic named after the consumed one.
    var deadLetterName: String { get }
    /// Whether the queue can deliver now (a Kafka consumer has partitions once its group rebalanced).
    var isReady: Bool { get }
    /// The next message, or nil when none came within `timeoutMilliseconds`; a throw means the
    /// connection is lost (taken messages come again to a new one).
    func next(timeoutMilliseconds: Int, progress: (String) -> Void) throws(StorageError) -> IngestMessage?
    /// Records that every line of `message` is in a batch.
    func taken(_ message: IngestMessage)
    /// Whether messages were taken since the last release.
    var holdsTaken: Bool { get }
    /// Releases every taken message: called only once their events are durable.
    func releaseTaken() throws(StorageError)
    /// Forgets taken messages without releasing them: they come again.
    func forgetTaken()
    /// Publishes refused lines (JSON objects, one per line) to the dead-letter queue.
    func deadLetter(_ body: [UInt8], producer: String) throws(StorageError)
}

/// One message: its JSON lines, whose event ids they are, and where it came from.
struct IngestMessage {
    enum Receipt { case delivery(UInt64), offset(partition: Int32, offset: Int64) }
    var body: [UInt8]
    var producer: String
    var receipt: Receipt
}

/// Opens the queue `source` names: `amqp://…` (RabbitMQ queue `name`) or `kafka://…` (topic `name`,
/// consumer group `group`, whose members are dropped after `sessionTimeoutMilliseconds` of silence).
func openIngestQueue(_ source: String, name: String, group: String, sessionTimeoutMilliseconds: Int, prefetch: Int) throws(StorageError) -> any IngestQueue {
    source.hasPrefix("kafka://") ? try KafkaIngestQueue(url: source, topic: name, group: group, sessionTimeoutMilliseconds: sessionTimeoutMilliseconds)
                                 : try RabbitMQIngestQueue(url: source, queue: name, prefetch: prefetch)
}

/// A durable RabbitMQ queue consumed with manual acknowledgements; dead letters go to `QUEUE.dead` over
/// their own connection (publisher confirms on the consuming channel would interleave with deliveries).
final class RabbitMQIngestQueue: IngestQueue {
    private let consuming: AMQPConnection, deadLetters: AMQPConnection
    let deadLetterName: String
    /// The last delivery whose every line is in a batch: acknowledged with every earlier one.
    private var lastTaken: UInt64?

    init(url: String, queue: String, prefetch: Int) throws(StorageError) {
        consuming = try AMQPConnection(url: url)
        try consuming.declareQueue(queue)
        try consuming.consume(queue, prefetch: max(prefetch, 1))
        deadLetterName = queue + ".dead"
        deadLetters = try AMQPConnection(url: url)
        try deadLetters.declareQueue(deadLetterName)
    }

    var isReady: Bool { true }
    var holdsTaken: Bool { lastTaken != nil }

    func next(timeoutMilliseconds: Int, progress: (String) -> Void) throws(StorageError) -> IngestMessage? {
        try consuming.next(timeoutMilliseconds: timeoutMilliseconds).map { IngestMessage(body: $0.body, producer: $0.producer, receipt: .delivery($0.deliveryTag)) }
    }

    func taken(_ message: IngestMessage) {
        if case .delivery(let tag) = message.receipt { lastTaken = tag }
    }

    func releaseTaken() throws(StorageError) {
        guard let tag = lastTaken else { return }
        lastTaken = nil
        try consuming.ack(tag, multiple: true)
    }

    func forgetTaken() { lastTaken = nil }

    func deadLetter(_ body: [UInt8], producer: String) throws(StorageError) {
        try deadLetters.publish(body, to: deadLetterName, producer: producer)
    }
}

/// A Kafka topic read by a member of a consumer group, committing offsets only after the durable
/// append; dead letters go to the topic `TOPIC.dead`.
final class KafkaIngestQueue: IngestQueue {
    private let consumer: KafkaConsumer
    private let url: String
    private var deadLetters: KafkaProducer?
    let deadLetterName: String
    /// Per partition, the offset after the last message whose every line is in a batch.
    private var takenOffsets: [Int32: Int64] = [:]

    init(url: String, topic: String, group: String, sessionTimeoutMilliseconds: Int) throws(StorageError) {
        consumer = try KafkaConsumer(url: url, topic: topic, group: group, sessionTimeoutMilliseconds: sessionTimeoutMilliseconds)
        self.url = url
        deadLetterName = topic + ".dead"
    }

    var isReady: Bool { consumer.hasPartitions }
    var holdsTaken: Bool { !takenOffsets.isEmpty }

    func next(timeoutMilliseconds: Int, progress: (String) -> Void) throws(StorageError) -> IngestMessage? {
        try consumer.next(timeoutMilliseconds: timeoutMilliseconds, transient: progress).map {
            IngestMessage(body: $0.body, producer: $0.producer, receipt: .offset(partition: $0.partition, offset: $0.offset))
        }
    }

    func taken(_ message: IngestMessage) {
        if case .offset(let partition, let offset) = message.receipt { takenOffsets[partition] = offset + 1 }
    }

    func releaseTaken() throws(StorageError) {
        guard !takenOffsets.isEmpty else { return }
        defer { takenOffsets.removeAll() }
        try consumer.commit(takenOffsets)
    }

    func forgetTaken() { takenOffsets.removeAll() }

    func deadLetter(_ body: [UInt8], producer: String) throws(StorageError) {
        if deadLetters == nil { deadLetters = try KafkaProducer(url: url) }
        try deadLetters?.send(body, to: deadLetterName, producer: producer.isEmpty ? nil : producer)
    }
}
