import Events
import Storage
import Synchronization

/// Sends the events `POST /v1/events` receives to a RabbitMQ queue instead of the local log, for
/// deployments where `rummage ingest --from amqp://…` consumers write the log. Each request's events
/// travel as one persistent message of JSON lines; the call returns once the broker confirmed it, so
/// a 202 means the events will be ingested (at least once; `event_id` makes that once).
public final class EventPublisher: Sendable {
    public let url: String
    public let queue: String
    /// One connection, reopened after a failure; publishes are serialised on it.
    private let connection: Mutex<AMQPConnection?>

    /// Connects and declares the durable queue (so a misconfiguration fails at start, not per request).
    public init(url: String, queue: String) throws(StorageError) {
        self.url = url
        self.queue = queue
        let opened = try AMQPConnection(url: url)
        try opened.declareQueue(queue)
        connection = Mutex(opened)
    }

    /// Publishes `events` as one message, with `producer` (whose event ids these are) as its app-id, and
    /// waits for the broker's confirm. One reconnect is tried when the connection failed (a broker restart).
    public func publish(_ events: [Event], producer: String) throws(StorageError) {
        let body = Array(events.map(\.jsonLine).joined(separator: "\n").utf8)
        try connection.withLock { held throws(StorageError) in
            for attempt in 0..<2 {
                do throws(StorageError) {
                    let open: AMQPConnection
                    if let held { open = held } else {
                        open = try AMQPConnection(url: url)
                        try open.declareQueue(queue)
                        held = open
                    }
                    try open.publish(body, to: queue, producer: producer)
                    return
                } catch {
                    held = nil
                    if attempt == 1 { throw error }
                }
            }
        }
    }
}
