import CRabbitMQ
import Foundation

/// One AMQP 0-9-1 connection to RabbitMQ (Debian's librabbitmq through the CRabbitMQ shim), one channel:
/// durable queues, persistent messages published with broker confirms, and consumption with manual
/// acknowledgements. Not safe to use from two threads at once: owners serialise access.
public final class AMQPConnection: @unchecked Sendable {
    // @unchecked because: the connection pointer is only used under the owner's lock.
    private let connection: OpaquePointer
    public let endpoint: String

    /// Connects to `amqp://USER:PASSWORD@HOST:PORT/VHOST` (defaults: guest, guest, 127.0.0.1, 5672, `/`;
    /// the vhost is percent-encoded, so `/` is `%2f`).
    public init(url: String) throws(StorageError) {
        guard url.hasPrefix("amqp://"), let parts = URLComponents(string: url) else {
            throw StorageError(code: -1, "'\(url)' is not an amqp:// URL")
        }
        let host = parts.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        let port = parts.port ?? 5672
        let path = parts.percentEncodedPath
        let vhost = path.isEmpty || path == "/" ? "/" : String(path.dropFirst()).removingPercentEncoding ?? "/"
        endpoint = "amqp://\(host):\(port)/\(vhost == "/" ? "%2f" : vhost)"
        var error = [CChar](repeating: 0, count: 512)
        guard let opened = crmq_open(host, Int32(port), vhost, parts.user ?? "guest", parts.password ?? "guest", &error, error.count) else {
            throw StorageError(code: -1, "\(endpoint): \(Self.text(error))")
        }
        connection = opened
    }

    deinit { crmq_close(connection) }

    /// Declares a durable queue (a no-op when it exists).
    public func declareQueue(_ queue: String) throws(StorageError) {
        try call { crmq_declare_queue(connection, queue, $0, $1) }
    }

    /// Publishes `body` as a persistent message to `queue` and returns once the broker confirmed it.
    /// `producer` travels as the message's app-id (whose event ids these are; nil: none).
    public func publish(_ body: [UInt8], to queue: String, producer: String? = nil) throws(StorageError) {
        try call { error, length in
            body.withUnsafeBytes { bytes in crmq_publish(connection, queue, bytes.baseAddress, bytes.count, producer, error, length) }
        }
    }

    /// Starts consuming `queue` with manual acknowledgements and at most `prefetch` unacknowledged messages.
    public func consume(_ queue: String, prefetch: Int) throws(StorageError) {
        try call { crmq_consume(connection, queue, Int32(min(prefetch, 65_535)), $0, $1) }
    }

    /// The next delivered message, with its producer (app-id; "" when it has none), or nil when none
    /// arrives within `timeoutMilliseconds`.
    public func next(timeoutMilliseconds: Int) throws(StorageError) -> (deliveryTag: UInt64, body: [UInt8], producer: String)? {
        var tag: UInt64 = 0, body: UnsafeRawPointer? = nil, length = 0, appID: UnsafeRawPointer? = nil, appIDLength = 0
        var error = [CChar](repeating: 0, count: 512)
        switch crmq_next(connection, Int32(timeoutMilliseconds), &tag, &body, &length, &appID, &appIDLength, &error, error.count) {
        case 0: return nil
        case 1:
            let producer = appIDLength == 0 ? "" : String(decoding: UnsafeRawBufferPointer(start: appID, count: appIDLength), as: UTF8.self)
            return (tag, length == 0 ? [] : Array(UnsafeRawBufferPointer(start: body, count: length)), producer)
        default: throw StorageError(code: -1, "\(endpoint): \(Self.text(error))")
        }
    }

    /// Acknowledges `deliveryTag` and, with `multiple`, every earlier delivery on this connection.
    public func ack(_ deliveryTag: UInt64, multiple: Bool) throws(StorageError) {
        try call { crmq_ack(connection, deliveryTag, multiple ? 1 : 0, $0, $1) }
    }

    /// Messages ready (not delivered) in `queue`.
    public func queueLength(_ queue: String) throws(StorageError) -> Int {
        var error = [CChar](repeating: 0, count: 512)
        let n = crmq_queue_length(connection, queue, &error, error.count)
        guard n >= 0 else { throw StorageError(code: -1, "\(endpoint): \(Self.text(error))") }
        return n
    }

    private func call(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws(StorageError) {
        var error = [CChar](repeating: 0, count: 512)
        let status = error.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard status == 0 else { throw StorageError(code: -1, "\(endpoint): \(Self.text(error))") }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
