import CKafka
import Foundation

/// Kafka through Debian's librdkafka (the CKafka shim). `kafka://HOST:PORT[,HOST:PORT…]` names the
/// bootstrap brokers; a topic and a consumer group are given beside it.
public enum Kafka {
    /// The bootstrap servers of a `kafka://` URL.
    public static func brokers(url: String) throws(StorageError) -> String {
        guard url.hasPrefix("kafka://") else { throw StorageError(code: -1, "'\(url)' is not a kafka:// URL") }
        let brokers = url.dropFirst("kafka://".count).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        guard !brokers.isEmpty else { throw StorageError(code: -1, "'\(url)' names no broker (kafka://HOST:PORT)") }
        return brokers
    }

    static func call(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws(StorageError) {
        var error = [CChar](repeating: 0, count: 512)
        let status = error.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard status == 0 else { throw StorageError(code: -1, text(error)) }
    }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A member of a consumer group reading one topic, committing offsets only when told to: what it
/// consumed is re-read by the group after a crash unless it was committed. Not safe to use from two
/// threads at once.
public final class KafkaConsumer: @unchecked Sendable {
    // @unchecked because: the consumer pointer is only used by its owner's one thread.
    private let consumer: OpaquePointer
    public let topic: String

    /// One message: where it sits (partition, offset), its body, and its `producer` header ("" when none).
    public struct Message: Sendable {
        public var partition: Int32
        public var offset: Int64
        public var body: [UInt8]
        public var producer: String
    }

    /// Joins `group` on the brokers of `url` and subscribes to `topic`. A member that stops
    /// heartbeating is dropped from the group after `sessionTimeoutMilliseconds`, and its partitions
    /// are read again from their committed offsets by the others.
    public init(url: String, topic: String, group: String, sessionTimeoutMilliseconds: Int = 10_000) throws(StorageError) {
        let brokers = try Kafka.brokers(url: url)
        var error = [CChar](repeating: 0, count: 512)
        guard let opened = ckafka_consumer_open(brokers, group, topic, Int32(sessionTimeoutMilliseconds), &error, error.count) else {
            throw StorageError(code: -1, "\(url): \(Kafka.text(error))")
        }
        consumer = opened
        self.topic = topic
    }

    deinit { ckafka_consumer_close(consumer) }

    /// The next message, or nil when none arrives within `timeoutMilliseconds`. Transient conditions
    /// (a broker unreachable for a while, a topic not created yet) are passed to `transient` and retried
    /// by librdkafka; a fatal error throws.
    public func next(timeoutMilliseconds: Int, transient: (String) -> Void = { _ in }) throws(StorageError) -> Message? {
        var partition: Int32 = 0, offset: Int64 = 0
        var body: UnsafeRawPointer? = nil, length = 0, producer: UnsafeRawPointer? = nil, producerLength = 0
        var error = [CChar](repeating: 0, count: 512)
        switch ckafka_consumer_next(consumer, Int32(timeoutMilliseconds), &partition, &offset, &body, &length,
                                    &producer, &producerLength, &error, error.count) {
        case 0: return nil
        case 1:
            let name = producerLength == 0 ? "" : String(decoding: UnsafeRawBufferPointer(start: producer, count: producerLength), as: UTF8.self)
            return Message(partition: partition, offset: offset,
                           body: length == 0 ? [] : Array(UnsafeRawBufferPointer(start: body, count: length)), producer: name)
        case 2:
            transient(Kafka.text(error))
            return nil
        default: throw StorageError(code: -1, Kafka.text(error))
        }
    }

    /// Whether the group has assigned this member any partition yet (joining takes a rebalance).
    public var hasPartitions: Bool { ckafka_consumer_assigned(consumer) > 0 }

    /// Commits, synchronously, the next offset to read of each partition (`offsets[partition]`).
    public func commit(_ offsets: [Int32: Int64]) throws(StorageError) {
        let partitions = Array(offsets.keys), next = partitions.map { offsets[$0]! }
        try Kafka.call { error, length in ckafka_consumer_commit(consumer, partitions, next, partitions.count, error, length) }
    }
}

/// An idempotent producer whose `send` returns once the brokers acknowledged the message.
public final class KafkaProducer: @unchecked Sendable {
    // @unchecked because: the producer pointer is only used by its owner's one thread.
    private let producer: OpaquePointer

    public init(url: String) throws(StorageError) {
        let brokers = try Kafka.brokers(url: url)
        var error = [CChar](repeating: 0, count: 512)
        guard let opened = ckafka_producer_open(brokers, &error, error.count) else { throw StorageError(code: -1, "\(url): \(Kafka.text(error))") }
        producer = opened
    }

    deinit { ckafka_producer_close(producer) }

    /// Sends `body` to `topic` with `producer` (nil: none) as its `producer` header, waiting for the ack.
    public func send(_ body: [UInt8], to topic: String, producer name: String? = nil) throws(StorageError) {
        try Kafka.call { error, length in
            body.withUnsafeBytes { bytes in ckafka_produce(producer, topic, bytes.baseAddress, bytes.count, name, error, length) }
        }
    }
}

/// librdkafka's built-in mock cluster, listening on loopback in this process while the value lives:
/// a real Kafka protocol peer (produce, fetch, consumer groups, offset commits) for tests.
public final class KafkaMockCluster: @unchecked Sendable {
    // @unchecked because: librdkafka's mock cluster runs on its own threads; this handle is immutable.
    private let mock: OpaquePointer

    public init(brokers: Int = 1) throws(StorageError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let opened = ckafka_mock_open(Int32(brokers), &error, error.count) else { throw StorageError(code: -1, Kafka.text(error)) }
        mock = opened
    }

    deinit { ckafka_mock_close(mock) }

    /// `kafka://` URL of its brokers.
    public var url: String { "kafka://" + String(cString: ckafka_mock_bootstraps(mock)) }

    public func createTopic(_ topic: String, partitions: Int) throws(StorageError) {
        try Kafka.call { error, length in ckafka_mock_create_topic(mock, topic, Int32(partitions), error, length) }
    }
}
