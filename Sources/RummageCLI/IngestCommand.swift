import ArgumentParsing
import Backends
import Catalogue
import Events
import Foundation
import RummageCore
import Storage

/// `rummage ingest`: appends JSON-lines events to the event log, reporting each refused line.
struct IngestCommand: Command {
    static let configuration = CommandConfiguration(
        name: "ingest",
        abstract: "Append events (JSON lines) to the durable event log.",
        discussion: """
        Reads one JSON event per line (schema: docs/events.md) from a file or standard input ('-') and
        appends them to the event log in batches. With --online-store, listing states are validated against
        and recorded in the shared Redis store, and online features updated there, after each durable batch. Each batch is one atomic, durable step: when its 'ack'
        line is printed (--ack), every event up to that input line is on disk. Duplicated event_ids are
        no-ops, so re-running after a failure is safe. Refused lines (bad JSON, unknown type, missing
        fields, far-future timestamps, invalid listing transitions) are reported on stderr as
        'line N: reason'; with --atomic a batch holding any refused line is not appended at all.
        Exits 0 when every line was appended or a duplicate, 4 when some were refused and others taken, 65 when
        every line was refused.

        Event ids are unique per producer (--producer; from RabbitMQ, each message's app-id, which
        `rummage serve --publish-events` sets to the sending API key's name): a resend with the same
        content is a duplicate, another event under a used id is refused.

        From RabbitMQ (--from amqp://…): consumes the durable queue (--queue), each message one or more
        JSON lines, with manual acknowledgements: a message is acknowledged only after every event in it
        is durable in the log. A refused line (it would be refused again) is dead-lettered: published to
        the queue QUEUE.dead as {"reason", "line", "producer"} before its message is acknowledged, so a
        poison event never stops the consumer. An event the log itself cannot store while it stores the
        others is refused the same way; when the log stores nothing, the consumer stops and the messages
        are delivered again. Killed at any point, it loses nothing: unacknowledged messages are delivered
        again, and their events already in the log are duplicates (no-ops), so each event counts once.

        From Kafka (--from kafka://HOST:PORT[,HOST:PORT…]): reads the topic --queue as a member of the
        consumer group --group, each message one or more JSON lines (its producer in a 'producer'
        header), and commits a partition's offset only after every event before it is durable in the
        log; refused lines go to the topic QUEUE.dead. Consumers in one group share the partitions; one
        that dies is replaced within the group's session timeout, and what it had not committed is read
        again (duplicates, no-ops). The same guarantees as RabbitMQ's hold: nothing lost, nothing twice.
        """,
        options: [
            .value("from", "SOURCE", help: "JSON-lines file to read, '-' for standard input, a RabbitMQ queue: amqp://HOST:PORT/VHOST (with a user and password: give the URL in $RUMMAGE_INGEST_FROM), or Kafka brokers: kafka://HOST:PORT[,HOST:PORT…].", required: true),
            .value("queue", "NAME", help: "With --from amqp://… or kafka://…: the durable queue or the topic to consume.", default: "rummage.events"),
            .value("group", "NAME", help: "With --from kafka://…: the consumer group (its members share the topic's partitions).", default: "rummage-ingest"),
            .value("session-timeout", "MS", help: "With --from kafka://…: a member silent this long leaves the group, its partitions going to the others.", default: "10000"),
            .value("idle-exit", "SECONDS", help: "With --from amqp://… or kafka://…: stop once no message arrived for this long (0: run until SIGTERM).", default: "0"),
            .value("producer", "NAME", help: "Whose event ids a file's events are (ids are unique per producer; default: none)."),
            .value("log", "PATH", help: "Event log: a SQLite file (created if missing) or a postgresql:// URI.", default: ".rummage/events.sqlite"),
            .value("batch-size", "N", help: "Events per atomic append.", default: "1000"),
            .value("schema", "FILE", help: "Catalogue schema (JSON, docs/bring-your-own-data.md): refuse listing and user events whose attributes break it."),
            .flag("atomic", help: "Refuse a whole batch when any of its lines is refused."),
            .value("now", "UNIX", help: "Receiving clock for the future-timestamp check (default: the system clock)."),
            .flag("ack", help: "Print 'ack LINE APPENDED DUPLICATES' on stdout after each durable batch."),
            .flag("json", help: "Print the summary as one JSON object on the last line of stdout."),
            .flag("quiet", help: "Print no progress on stderr (refused lines are still printed, with their reasons)."),
            OnlineStore.option,
        ])

    let source: String
    let logPath: String
    let batchSize: Int
    let mode: EventIngestor.BatchMode
    let now: Int64
    let ack: Bool
    let json: Bool
    let quiet: Bool
    let onlineStore: OnlineStore?
    let queueName: String
    let group: String
    let sessionTimeout: Int
    let idleExit: Int
    let producer: String
    let schema: CatalogueSchema?
    /// With a queue: a batch is flushed (and its messages acknowledged) once no message came for this long.
    static let quietFlushMilliseconds = 100

    init(_ arguments: ParsedArguments) throws {
        source = try arguments.requiredString("from")
        logPath = try arguments.requiredString("log")
        batchSize = try arguments.requiredInt("batch-size", in: 1...1_000_000)
        mode = arguments.flag("atomic") ? .allOrNothing : .validEvents
        now = Int64(try arguments.int("now", in: 0...Int(Int32.max) * 4) ?? Int(Date().timeIntervalSince1970))
        ack = arguments.flag("ack")
        json = arguments.flag("json")
        quiet = arguments.flag("quiet")
        onlineStore = try OnlineStore.from(arguments)
        queueName = try arguments.requiredString("queue")
        group = try arguments.requiredString("group")
        sessionTimeout = try arguments.requiredInt("session-timeout", in: 1...3_600_000)
        idleExit = try arguments.requiredInt("idle-exit", in: 0...86_400 * 365)
        producer = arguments.string("producer") ?? ""
        do {
            schema = try arguments.string("schema").map { path throws(SchemaError) in try CatalogueSchema.load(path: path) }
        } catch {
            throw UsageError("--schema: \(error.description)")
        }
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        var queue: (any IngestQueue)? = nil
        var reader: LineReader? = nil
        if consumesQueue {
            queue = try openQueue()
        } else {
            reader = try LineReader(path: source)
        }
        let directory = (logPath as NSString).deletingLastPathComponent
        if !directory.isEmpty && !isDatabaseURI(logPath) { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let ingestor = try EventIngestor(log: openEventLog(logPath), states: onlineStore?.states, schema: schema)
        let clock = Stopwatch()
        var totals = EventIngestor.Outcome()
        var lines = 0, refused = 0, deadLettered = 0
        var batch: [Event] = [], batchLines: [Int] = []
        // From a queue: each batched line's text (for the dead-letter queue), and whose events they are.
        var batchText: [String] = []
        var batchProducer = producer
        var lastReport = 0.0
        // Set when dead-lettering failed: the queue is opened anew so that its unreleased messages come again.
        var reopenQueue = false

        // Lines refused while parsing, reported with the batch's other refusals in line order.
        var unparsed: [(line: Int, reason: String, text: String)] = []

        func flush(through line: Int) throws(StorageError) {
            let submitted = mode == .allOrNothing && !unparsed.isEmpty ? [] : batch
            // From a queue, a poison event must not stop the consumer: it is refused and dead-lettered.
            let outcome = queue == nil ? try ingestor.ingest(submitted, producer: batchProducer, mode: mode)
                                       : try ingestor.ingestIsolatingPoison(submitted, producer: batchProducer, mode: mode)
            if let features = onlineStore?.features, !(mode == .allOrNothing && !outcome.refused.isEmpty) {
                // Duplicates too: a retry after a crash between append and this update completes it (idempotent).
                let refusedIndices = Set(outcome.refused.map(\.index))
                try features.apply(submitted.enumerated().filter { !refusedIndices.contains($0.offset) }.map(\.element))
            }
            totals.appended += outcome.appended
            totals.duplicates += outcome.duplicates
            var reasons: [(line: Int, reason: String)] = unparsed.map { ($0.line, $0.reason) }
                + outcome.refused.map { (batchLines[$0.index], $0.error.description) }
            refused += reasons.count
            if mode == .allOrNothing && !reasons.isEmpty {
                let refusedLines = Set(reasons.map(\.line))
                let dropped = batchLines.filter { !refusedLines.contains($0) }
                reasons += dropped.map { ($0, "not appended (--atomic: its batch holds a refused line)") }
                refused += dropped.count
            }
            if let queue {
                let text = Dictionary(uniqueKeysWithValues: zip(batchLines, batchText) + unparsed.map { ($0.line, $0.text) })
                let letters = reasons.map { line, reason in
                    "{\"reason\":\(JSONText.quoted(reason)),\"line\":\(JSONText.quoted(text[line] ?? "")),\"producer\":\(JSONText.quoted(batchProducer))}"
                }
                if !letters.isEmpty {
                    do {
                        try queue.deadLetter(Array(letters.joined(separator: "\n").utf8), producer: batchProducer)
                        deadLettered += letters.count
                    } catch {
                        // Not released then, and the queue opened anew: the messages come again and their
                        // lines are dead-lettered anew.
                        console.progress("ingest: dead-lettering failed (\(error)); the messages will come again")
                        queue.forgetTaken()
                        reopenQueue = true
                    }
                }
            }
            // Refusals are errors, not progress: printed with --quiet too.
            for r in reasons.sorted(by: { $0.line < $1.line }) { console.output.standardError("line \(r.line): \(r.reason)\n") }
            unparsed.removeAll()
            // Durable: the queue may forget every message consumed so far (refused lines included: they
            // would be refused again).
            if let queue, queue.holdsTaken {
                // A broker that went away (or a group that rebalanced) forgets the delivery anyway: the
                // messages come again, and their events are duplicates now.
                do { try queue.releaseTaken() } catch { console.progress("ingest: releasing consumed messages failed (\(error))") }
            }
            if ack { console.result("ack \(line) \(outcome.appended) \(outcome.duplicates)") }
            batch.removeAll(keepingCapacity: true)
            batchLines.removeAll(keepingCapacity: true)
            batchText.removeAll(keepingCapacity: true)
        }

        func take(_ number: Int, _ bytes: [UInt8]) throws(StorageError) {
            lines = number
            if isBlank(bytes) { return }
            let text = queue == nil ? "" : String(decoding: bytes, as: UTF8.self)
            do throws(EventError) {
                batch.append(try Event(json: bytes, now: now))
                batchLines.append(number)
                batchText.append(text)
            } catch {
                unparsed.append((number, error.description, text))
            }
            if batch.count + unparsed.count >= batchSize { try flush(through: number) }
            if clock.elapsedSeconds - lastReport >= 2 {
                lastReport = clock.elapsedSeconds
                console.progress("ingest: \(number) lines, \(totals.appended) appended, \(Int(Double(number) / clock.elapsedSeconds)) lines/s")
            }
        }

        if let reader {
            try reader.forEachLine { (number, bytes) throws(StorageError) in try take(number, bytes) }
            if !batch.isEmpty || !unparsed.isEmpty || lines == 0 { try flush(through: lines) }
        } else if queue != nil {
            // Each message holds one or more JSON lines. A batch is flushed when full or when the queue
            // has been quiet for `quietFlush`; with --idle-exit, the command ends after that long idle
            // (counted once the queue can deliver: a Kafka consumer first waits for its partitions).
            // A lost connection (a broker restart, a dead path noticed by heartbeats) is opened again with
            // backoff; unreleased messages come again, their events already in the log as duplicates.
            let stop = StopSignal()
            var idleSince = clock.elapsedSeconds
            let pending = { !batch.isEmpty || !unparsed.isEmpty || queue?.holdsTaken == true }
            ServiceNotifier.ready(status: "consuming \(queueName) into \(logPath)")
            while !stop.requested {
                let next: IngestMessage?
                do {
                    if reopenQueue { throw StorageError(code: -1, "dead-lettering failed") }
                    next = try queue?.next(timeoutMilliseconds: Self.quietFlushMilliseconds) { console.progress("ingest: \($0)") }
                } catch {
                    console.progress("ingest: the queue connection failed (\(error)); reconnecting")
                    queue = nil  // what it took and did not release comes again to the new connection
                    reopenQueue = false
                    var pause = 0.25
                    while queue == nil && !stop.requested {
                        do { queue = try openQueue() } catch {
                            Thread.sleep(forTimeInterval: pause)
                            pause = min(pause * 2, 5)
                        }
                    }
                    if queue != nil { console.progress("ingest: reconnected to \(queueName)") }
                    continue
                }
                guard let message = next else {
                    if pending() { try flush(through: lines) }
                    if queue?.isReady == false { idleSince = clock.elapsedSeconds }
                    if idleExit > 0 && clock.elapsedSeconds - idleSince >= Double(idleExit) { break }
                    continue
                }
                idleSince = clock.elapsedSeconds
                // A batch holds one producer's events.
                if message.producer != batchProducer {
                    if pending() { try flush(through: lines) }
                    batchProducer = message.producer
                }
                for line in message.body.split(separator: 0x0A, omittingEmptySubsequences: false) { try take(lines + 1, Array(line)) }
                queue?.taken(message)
            }
            if stop.requested { ServiceNotifier.stopping() }
            if pending() { try flush(through: lines) }
        }
        if lines == 0 && !consumesQueue { throw DataError(.malformedLine, "no events to ingest: the input is empty", path: source) }
        let held = try ingestor.log.count()
        let summary = "read \(lines) lines: \(totals.appended) appended, \(totals.duplicates) duplicates, \(refused) refused "
            + (queue.map { "(\(deadLettered) dead-lettered to \($0.deadLetterName)) " } ?? "")
            + "in \(formattedSeconds(clock.elapsedSeconds)); \(logPath) holds \(held) events"
        if json {
            console.progress(summary)
            var object: [String: Any] = ["lines": lines, "appended": totals.appended, "duplicates": totals.duplicates,
                                         "refused": refused, "log": logPath, "log_events": held, "seconds": clock.elapsedSeconds]
            if queue != nil { object["dead_lettered"] = deadLettered }
            console.result(try jsonObjectLine(object, escapingSlashes: true))
        } else {
            console.result(summary)
        }
        if refused > 0 {
            throw IngestError(message: "\(refused) of \(lines) lines refused (reasons above)",
                              exitCode: refused < lines ? ExitCode.partiallyRefused : ExitCode.dataError)
        }
    }

    /// Whether the source is a broker (RabbitMQ or Kafka) rather than a file.
    var consumesQueue: Bool { source.hasPrefix("amqp://") || source.hasPrefix("kafka://") }

    private func openQueue() throws(StorageError) -> any IngestQueue {
        try openIngestQueue(source, name: queueName, group: group, sessionTimeoutMilliseconds: sessionTimeout, prefetch: batchSize)
    }
}

/// Whether a JSON-lines line holds nothing but spaces, tabs and carriage returns (skipped, not refused).
func isBlank(_ line: [UInt8]) -> Bool { line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }

struct IngestError: UserFacingError {
    var message: String
    var exitCode = ExitCode.dataError
    var description: String { message }
}

/// A store that could not be used (unreachable, busy, refusing): exit code 69.
extension StorageError: UserFacingError {
    public var exitCode: Int32 { ExitCode.unavailable }
}

/// Reads a file or standard input (`-`) line by line in 1 MiB chunks, so a producer can stream into
/// `ingest` through a pipe. Lines are passed without their terminator; numbers start at 1.
struct LineReader {
    let handle: FileHandle
    let path: String

    init(path: String) throws(DataError) {
        self.path = path
        if path == "-" {
            handle = .standardInput
        } else {
            guard FileManager.default.fileExists(atPath: path) else { throw DataError(.fileNotFound, "no such file", path: path) }
            guard let h = FileHandle(forReadingAtPath: path) else { throw DataError(.unreadable, "cannot read file", path: path) }
            handle = h
        }
    }

    func forEachLine(_ body: (Int, [UInt8]) throws -> Void) throws {
        var pending: [UInt8] = []
        var number = 0
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            var start = 0
            while let end = pending[start...].firstIndex(of: 0x0A) {
                number += 1
                try body(number, Array(pending[start..<end]))
                start = end + 1
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty {
            number += 1
            try body(number, pending)
        }
    }
}
