import ArgumentParsing
import Datasets
import Events
import Features
import Foundation
import Pipeline
import RummageCore

/// `rummage bench ingest`: throughput of the event log and the online feature store.
struct BenchIngestCommand: Command {
    static let configuration = CommandConfiguration(
        name: "bench ingest",
        abstract: "Benchmark durable appends, online feature updates and replay.",
        discussion: """
        Generates a synthetic marketplace's event stream, then measures, each on a fresh log or store and
        after checking the result is complete: durable appends into the SQLite event log in batches
        (events/s; each batch is fsync'd), online feature-store updates (events/s and feature updates/s),
        reading the log back in append order, and replaying it into a fresh store. Prints the median and
        best of --repeat runs, and the command line that produced them.
        """,
        options: [
            .value("events", "N", help: "Approximate number of interaction events to generate.", default: "1000000"),
            .value("batch-size", "N", help: "Events per durable append.", default: "1000"),
            .value("repeat", "N", help: "Runs of each measurement.", default: "3"),
            .value("dir", "DIR", help: "Scratch directory (default: a new temporary one, removed afterwards)."),
        ])

    let events: Int
    let batchSize: Int
    let repeats: Int
    let scratch: String?

    init(_ arguments: ParsedArguments) throws {
        events = try arguments.requiredInt("events", in: 1_000...100_000_000)
        batchSize = try arguments.requiredInt("batch-size", in: 1...1_000_000)
        repeats = try arguments.requiredInt("repeat", in: 1...100)
        scratch = arguments.string("dir")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let dir = scratch ?? NSTemporaryDirectory() + "rummage-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if scratch == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let users = max(100, events / 100), listings = max(200, events / 50)
        try MarketplaceGenerator(.init(users: users, listings: listings, events: events, seed: 1)).generate().write(to: dir)
        var stream: [Event] = []
        MarketplaceEvents.forEach(try MarketplaceData.load(directory: dir)) { stream.append($0) }
        console.result("$ rummage bench ingest --events \(events) --batch-size \(batchSize) --repeat \(repeats)")
        console.result("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(stream.count) events "
            + "(\(users) users, \(listings) listings)")

        func report(_ label: String, _ seconds: [Double], count: Int, unit: String = "events/s") {
            let sorted = seconds.sorted()
            let median = sorted[sorted.count / 2], best = sorted[0]
            console.result("  \(label.padding(toLength: 44, withPad: " ", startingAt: 0)) median \(Int(Double(count) / median)) \(unit)"
                + "  (best \(Int(Double(count) / best)); \(sorted.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s)")
        }

        // Durable appends, each run into a fresh log.
        var appendTimes: [Double] = [], readTimes: [Double] = [], replayTimes: [Double] = []
        let features = FeatureSet.marketplace
        for run in 0..<repeats {
            let path = dir + "/log-\(run).sqlite"
            let log = try SQLiteEventLog(path: path)
            let clock = Stopwatch()
            for start in stride(from: 0, to: stream.count, by: batchSize) {
                try log.append(Array(stream[start..<min(start + batchSize, stream.count)]))
            }
            appendTimes.append(clock.elapsedSeconds)
            guard try log.count() == stream.count else { throw BenchFailure(message: "the log holds \(try log.count()) of \(stream.count) events") }
            var read = 0
            let readClock = Stopwatch()
            try log.readAll(order: .appended) { _ in read += 1 }
            readTimes.append(readClock.elapsedSeconds)
            guard read == stream.count else { throw BenchFailure(message: "read \(read) of \(stream.count) events") }
            let store = InMemoryFeatureStore(features: features)
            let replayClock = Stopwatch()
            var batch: [Event] = []
            try log.readAll(order: .appended) { event in
                batch.append(event)
                if batch.count == 10_000 { store.apply(batch); batch.removeAll(keepingCapacity: true) }
            }
            store.apply(batch)
            replayTimes.append(replayClock.elapsedSeconds)
            try? FileManager.default.removeItem(atPath: path)
        }
        report("durable append (batches of \(batchSize))", appendTimes, count: stream.count)

        // Online feature updates from memory.
        var applyTimes: [Double] = []
        var fed = 0
        for event in stream where event.type.subject == .interaction {
            fed += features.definitions.filter { $0.eventTypes.contains(event.type) }.count
        }
        for _ in 0..<repeats {
            let store = InMemoryFeatureStore(features: features)
            let clock = Stopwatch()
            for start in stride(from: 0, to: stream.count, by: 10_000) {
                store.apply(Array(stream[start..<min(start + 10_000, stream.count)]))
            }
            applyTimes.append(clock.elapsedSeconds)
            guard store.status.latest == stream.map(\.timestamp).max() else { throw BenchFailure(message: "store missed events") }
        }
        report("online feature store, events", applyTimes, count: stream.count)
        report("online feature store, feature updates", applyTimes, count: fed, unit: "updates/s")
        report("read the log back (append order)", readTimes, count: stream.count)
        report("replay the log into a fresh feature store", replayTimes, count: stream.count)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { "benchmark check failed: \(message)" }
}
