import ArgumentParsing
import Backends
import Datasets
import Events
import Features
import Foundation
import Pipeline
import RummageCore

/// Where feature commands read events from: a generated marketplace or an event log.
struct FeatureEventSource {
    static let options: [OptionSpec] = [
        .value("dataset", "SPEC", help: "Events of a generated marketplace: synthetic:DIR."),
        .value("log", "PATH", help: "Events of an event log written by 'rummage ingest' (a SQLite file or a postgresql:// URI)."),
        .value("features", "FILE", help: "Feature definitions (JSON, see examples/features.json; default: the marketplace set)."),
    ]

    /// The feature set named by --features, or the marketplace defaults.
    static func featureSet(_ arguments: ParsedArguments) throws -> FeatureSet {
        guard let path = arguments.string("features") else { return .marketplace }
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(.fileNotFound, "cannot read", path: path) }
        do {
            return try FeatureSet(json: data)
        } catch {
            throw DataError(.malformedLine, error.message, path: path)
        }
    }

    /// Every event, in arrival order (the log's append order; a marketplace's time order).
    let events: [Event]
    let label: String

    init(_ arguments: ParsedArguments) throws {
        switch (arguments.string("dataset"), arguments.string("log")) {
        case let (spec?, nil):
            guard spec.hasPrefix("synthetic:") else { throw UsageError("--dataset takes synthetic:DIR, not '\(spec)'") }
            let directory = String(spec.dropFirst("synthetic:".count))
            var events: [Event] = []
            MarketplaceEvents.forEach(try MarketplaceData.load(directory: directory)) { events.append($0) }
            self.events = events
            label = spec
        case let (nil, path?):
            guard isDatabaseURI(path) || FileManager.default.fileExists(atPath: path) else {
                throw DataError(.fileNotFound, "no such event log", path: path)
            }
            var events: [Event] = []
            try openEventLog(path).readAll(order: .appended) { events.append($0) }
            self.events = events
            label = path
        default:
            throw UsageError("give exactly one of --dataset SPEC and --log PATH")
        }
    }
}

private func jsonValue(_ value: FeatureValue) -> String {
    switch value {
    case .number(let x): JSONText.number(x)
    case .ids(let ids): "[" + ids.map(JSONText.quoted).joined(separator: ",") + "]"
    case .distribution(let shares):
        "{" + shares.sorted { $0.key < $1.key }.map { JSONText.quoted($0.key) + ":" + JSONText.number($0.value) }
            .joined(separator: ",") + "}"
    }
}

/// `rummage features check`: online values against offline point-in-time values.
struct FeaturesCheckCommand: Command {
    static let configuration = CommandConfiguration(
        name: "features check",
        abstract: "Measure online/offline feature consistency on a marketplace or an event log.",
        discussion: """
        Replays the events with timestamps before T into the online feature store in arrival order
        (pruning as a live store does), computes the same features offline as of T from the same events in
        timestamp order, and compares every feature of every user and listing. --jitter delays each
        event's arrival by a random 0..S seconds, so events arrive out of timestamp order. The last line of
        stdout is JSON with entities_checked, features_checked, mismatches and up to 10 examples.
        Exits 1 when any value differs. With --online-store redis://…, nothing is replayed: the live
        Redis store (as ingesters and `rummage online rebuild` left it) is checked against the log, one
        second after the latest event by default.

        It then checks a learned ranker's rows (docs/serving.md, "Learned ranker") for --ranker-pairs
        (user, listing) pairs: as serving computes them at its "now" (one second after the latest event the
        store applied, from its values and the listing facts remembered from the events as they arrived)
        against training's point-in-time rows then; the JSON adds
        ranker_rows_checked, ranker_values_checked and ranker_mismatches, and any mismatch fails the check.
        """,
        options: FeatureEventSource.options + [
            .value("at", "UNIX", help: "Check as of this time (default: one second after the latest event)."),
            .value("jitter", "S", help: "Delay each event's arrival by up to S seconds (seeded).", default: "0"),
            .value("seed", "N", help: "Seed of the arrival jitter and of the ranker pairs.", default: "1"),
            .value("ranker-pairs", "N", help: "(user, listing) pairs whose ranker rows are compared (0: none).", default: "1000"),
            .value("online-store", "URL", help: "Check this Redis online store as it stands instead of a replay (redis://HOST:PORT[/DB])."),
            .flag("json", help: "Print the report as JSON only."),
        ])

    let source: FeatureEventSource
    let features: FeatureSet
    let at: Int64?
    let jitter: Int
    let seed: UInt64
    let rankerPairs: Int
    let json: Bool
    let onlineStore: OnlineStore?

    init(_ arguments: ParsedArguments) throws {
        source = try FeatureEventSource(arguments)
        features = try FeatureEventSource.featureSet(arguments)
        let definitions = features
        onlineStore = try arguments.string("online-store").map { try OnlineStore(url: $0, features: definitions) }
        at = try arguments.int("at", in: 0...Int(Int64.max / 2)).map(Int64.init)
        jitter = try arguments.requiredInt("jitter", in: 0...365 * 86_400)
        seed = UInt64(try arguments.requiredInt("seed", in: 0...Int.max))
        rankerPairs = try arguments.requiredInt("ranker-pairs", in: 0...1_000_000)
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: json)
        let clock = Stopwatch()
        let time = at ?? ((source.events.map(\.timestamp).max() ?? 0) + 1)
        let before = source.events.filter { $0.timestamp < time }
        var arrival = before
        if jitter > 0 {
            var rng = SeededGenerator(seed: seed)
            arrival = before.map { ($0, $0.timestamp + Int64(rng.nextInt(below: jitter + 1))) }
                .enumerated().sorted { ($0.element.1, $0.offset) < ($1.element.1, $1.offset) }.map(\.element.0)
        }
        let outOfOrder = zip(arrival, arrival.dropFirst()).filter { $0.timestamp > $1.timestamp }.count
        let store: any OnlineFeatureStore
        if let onlineStore {
            store = onlineStore.features
            arrival = []
        } else {
            let local = InMemoryFeatureStore(features: features)
            for start in stride(from: 0, to: arrival.count, by: 10_000) {
                local.apply(Array(arrival[start..<min(start + 10_000, arrival.count)]))
            }
            store = local
            console.progress("replayed \(arrival.count) events (\(outOfOrder) arrived before an earlier-stamped one) into the online store in \(formattedSeconds(clock.elapsedSeconds))")
        }
        let report = try FeatureConsistency.check(online: store, events: before, at: time)
        console.progress("checked \(report.featuresChecked) values of \(report.entitiesChecked) entities at \(time): \(report.mismatches) mismatches")
        // The ranker's rows: listing facts remembered in arrival order (the log's order for a live store).
        var listings = ListingFactTable()
        for event in arrival.isEmpty ? before : arrival { listings.remember(event) }
        let rows = try FeatureConsistency.checkRankingRows(online: store, listings: listings, events: before,
                                                           pairs: try pairsForRanker(store: store, listings: listings))
        console.progress("checked \(rows.valuesChecked) ranker values in \(rows.rowsChecked) (user, listing) rows: \(rows.mismatches) mismatches")
        console.result(try jsonObjectLine([
            "source": source.label, "at": time, "events_replayed": arrival.count, "out_of_order_arrivals": onlineStore == nil ? outOfOrder : 0,
            "online_store": onlineStore?.features.redis.url ?? "replayed in memory",
            "entities_checked": report.entitiesChecked, "features_checked": report.featuresChecked,
            "mismatches": report.mismatches, "examples": report.examples.map(\.description),
            "ranker_rows_checked": rows.rowsChecked, "ranker_values_checked": rows.valuesChecked, "ranker_mismatches": rows.mismatches,
            "ranker_examples": rows.examples.map(\.description),
            "feature_set_version": store.features.version, "seconds": clock.elapsedSeconds,
        ], escapingSlashes: true))
        if report.mismatches + rows.mismatches > 0 { throw FeatureMismatch(count: report.mismatches + rows.mismatches) }
    }

    /// Up to --ranker-pairs (user, listing) pairs, seeded: users the online store knows, listings known
    /// from their creation.
    private func pairsForRanker(store: any OnlineFeatureStore, listings: ListingFactTable) throws -> [(user: String, item: String)] {
        let users = try store.entityIDs().users.map(\.value).sorted()
        let items = listings.items.filter { listings[$0]?.createdAt != nil }.sorted()
        guard rankerPairs > 0, !users.isEmpty, !items.isEmpty else { return [] }
        var rng = SeededGenerator(seed: seed)
        return (0..<rankerPairs).map { _ in (users[rng.nextInt(below: users.count)], items[rng.nextInt(below: items.count)]) }
    }
}

struct FeatureMismatch: Error, CustomStringConvertible {
    var count: Int
    var description: String { "\(count) feature values differ between online and offline" }
}

/// `rummage features training-set`: point-in-time features for every training example.
struct FeaturesTrainingSetCommand: Command {
    static let configuration = CommandConfiguration(
        name: "features training-set",
        abstract: "Write point-in-time features for each training example (JSON lines).",
        discussion: """
        Every like, save, add_to_bag and purchase before --as-of is an example; its user's and listing's
        features are computed only from events strictly before the example's own timestamp, by the same
        code the online store uses. One JSON object per example: event_id, type, timestamp, user, item, then
        one key per feature (numbers, id lists, or category shares).
        """,
        options: FeatureEventSource.options + [
            .value("as-of", "UNIX", help: "Use examples and events before this time.", required: true),
            .value("out", "FILE", help: "JSON-lines file to write.", required: true),
            .flag("quiet", help: "Print nothing on success."),
            .flag("json", help: "Print a JSON summary on stdout."),
        ])

    let source: FeatureEventSource
    let features: FeatureSet
    let asOf: Int64
    let out: String
    let quiet: Bool
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        source = try FeatureEventSource(arguments)
        features = try FeatureEventSource.featureSet(arguments)
        asOf = Int64(try arguments.requiredInt("as-of", in: 0...Int(Int64.max / 2)))
        out = try arguments.requiredString("out")
        quiet = arguments.flag("quiet")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let clock = Stopwatch()
        var file = LineWriter(path: out)
        try OfflineFeatures.trainingSet(events: source.events, features: features,
                                        exampleTypes: [.like, .save, .addToBag, .purchase], asOf: asOf) { example in
            let e = example.event
            var line = "{\"event_id\":\(JSONText.quoted(e.id)),\"type\":\"\(e.type.rawValue)\",\"timestamp\":\(e.timestamp),"
                + "\"user\":\(JSONText.quoted(e.user?.value ?? "")),\"item\":\(JSONText.quoted(e.item?.value ?? ""))"
            for (definition, value) in zip(features.definitions, example.values) {
                line += ",\"\(definition.name)\":" + jsonValue(value)
            }
            try file.write(line + "}")
        }
        try file.flush()
        console.progress("wrote \(file.lines) examples with \(features.definitions.count) point-in-time features each to \(out) in \(formattedSeconds(clock.elapsedSeconds))")
        if json {
            console.result(try jsonObjectLine(["out": out, "examples": file.lines, "features": features.definitions.count, "seconds": clock.elapsedSeconds]))
        }
    }
}
