import ArgumentParsing
import Events
import Foundation
import RummageCore
import Storage

/// `rummage publish`: sends JSON-lines events to a RabbitMQ queue or a Kafka topic, for `rummage ingest --from amqp://…|kafka://…`.
struct PublishCommand: Command {
    static let configuration = CommandConfiguration(
        name: "publish",
        abstract: "Publish events (JSON lines) to a RabbitMQ queue or a Kafka topic.",
        discussion: """
        Reads one JSON event per line (schema: docs/events.md) from a file or standard input ('-'),
        checks that each parses, and publishes the valid ones to the durable queue or Kafka topic (--queue)
        as persistent messages of --per-message lines, each confirmed by the broker before the next is sent:
        when the command exits 0, every valid event is in the queue. Refused lines are reported on stderr as
        'line N: reason' (exit 4, or 65 when every line was). Consumers: rummage ingest --from amqp://… or
        kafka://… (docs/scaling.md).
        """,
        options: [
            .value("from", "FILE", help: "JSON-lines file to read, or '-' for standard input.", required: true),
            .value("to", "URL", help: "RabbitMQ: amqp://HOST:PORT/VHOST (with a user and password: give the URL in $RUMMAGE_PUBLISH_TO), or Kafka: kafka://HOST:PORT[,HOST:PORT…].", required: true),
            .value("queue", "NAME", help: "The durable queue, or the Kafka topic.", default: "rummage.events"),
            .value("per-message", "N", help: "Events per message.", default: "100"),
            .value("producer", "NAME", help: "Whose event ids these are (the messages' app-id, or Kafka 'producer' header; ids are unique per producer; default: none)."),
            .value("now", "UNIX", help: "Receiving clock for the future-timestamp check (default: the system clock)."),
            .flag("json", help: "Print the summary as one JSON object on the last line of stdout."),
            .flag("quiet", help: "Print no progress or refusals on stderr."),
        ])

    let source: String, url: String, queue: String, producer: String
    let perMessage: Int
    let now: Int64
    let json: Bool, quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        source = try arguments.requiredString("from")
        url = try arguments.requiredString("to")
        queue = try arguments.requiredString("queue")
        producer = arguments.string("producer") ?? ""
        perMessage = try arguments.requiredInt("per-message", in: 1...100_000)
        now = Int64(try arguments.int("now", in: 0...Int(Int32.max) * 4) ?? Int(Date().timeIntervalSince1970))
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let reader = try LineReader(path: source)
        let publish: ([UInt8]) throws(StorageError) -> Void
        let name = producer.isEmpty ? nil : producer
        if url.hasPrefix("kafka://") {
            let kafka = try KafkaProducer(url: url)
            publish = { body throws(StorageError) in try kafka.send(body, to: queue, producer: name) }
        } else {
            let connection = try AMQPConnection(url: url)
            try connection.declareQueue(queue)
            publish = { body throws(StorageError) in try connection.publish(body, to: queue, producer: name) }
        }
        let clock = Stopwatch()
        var message: [UInt8] = [], inMessage = 0, published = 0, messages = 0, refused = 0, lines = 0
        var lastReport = 0.0
        func send() throws(StorageError) {
            guard inMessage > 0 else { return }
            try publish(message)
            published += inMessage
            messages += 1
            message.removeAll(keepingCapacity: true)
            inMessage = 0
        }
        try reader.forEachLine { (number, bytes) throws(StorageError) in
            lines = number
            if isBlank(bytes) { return }
            do throws(EventError) {
                _ = try Event(json: bytes, now: now)
            } catch {
                refused += 1
                console.output.standardError("line \(number): \(error.description)\n")  // printed with --quiet too
                return
            }
            if inMessage > 0 { message.append(0x0A) }
            message += bytes
            inMessage += 1
            if inMessage >= perMessage { try send() }
            if clock.elapsedSeconds - lastReport >= 2 {
                lastReport = clock.elapsedSeconds
                console.progress("publish: \(published) events in \(messages) messages, \(Int(Double(published) / clock.elapsedSeconds)) events/s")
            }
        }
        try send()
        let summary = "read \(lines) lines: \(published) events published to \(queue) in \(messages) messages, \(refused) refused, "
            + "in \(formattedSeconds(clock.elapsedSeconds)) (\(Int(Double(published) / max(clock.elapsedSeconds, 1e-9))) events/s)"
        if json {
            console.progress(summary)
            console.result(try jsonObjectLine(["lines": lines, "published": published, "messages": messages, "refused": refused,
                                               "seconds": clock.elapsedSeconds, "queue": queue], escapingSlashes: true))
        } else {
            console.result(summary)
        }
        if refused > 0 {
            throw IngestError(message: "\(refused) of \(lines) lines refused (reasons above)",
                              exitCode: refused < lines ? ExitCode.partiallyRefused : ExitCode.dataError)
        }
    }
}
