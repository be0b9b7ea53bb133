import ArgumentParsing
import Backends
import Events
import Features
import Foundation
import RummageCore
import Storage

extension OnlineStore {
    static let option = OptionSpec.value(
        "online-store", "URL",
        help: "Shared online store for listing states and features, redis://HOST:PORT[/DB] (default: in this process's memory).")

    /// The store named by `--online-store`, if any.
    static func from(_ arguments: ParsedArguments) throws -> OnlineStore? {
        do {
            return try arguments.string("online-store").map { url throws(StorageError) in try OnlineStore(url: url) }
        } catch {
            throw UsageError("--online-store: \(error.message)")
        }
    }
}

/// `rummage online rebuild`: the shared online store replayed from the durable event log.
struct OnlineRebuildCommand: Command {
    static let configuration = CommandConfiguration(
        name: "online rebuild",
        abstract: "Rebuild the shared online store (listing states, features) from the event log.",
        discussion: """
        Replays the event log into the Redis online store: every listing's state and seller (under the
        writers' lock, so no ingest interleaves), then every online feature, and marks both ready. Run it
        when Redis lost its data (a restart without persistence): until then replicas check each answer
        against the event log (counted in rummage_online_store_fallbacks_total) and online features hold
        only the events since the restart. Safe to run while replicas serve and ingest.
        """,
        options: [
            .value("log", "PATH", help: "Event log: a SQLite file or a postgresql:// URI.", required: true),
            .value("online-store", "URL", help: "The Redis online store to rebuild, redis://HOST:PORT[/DB].", required: true),
            .flag("json", help: "Print the summary as one JSON object on the last line of stdout."),
        ])

    let log: String
    let store: OnlineStore
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        log = try arguments.requiredString("log")
        guard let store = try OnlineStore.from(arguments) else { throw UsageError("--online-store is required") }
        self.store = store
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let eventLog = try openExistingEventLog(log)
        let clock = Stopwatch()
        let listings = try store.states.rebuild(from: eventLog) { console.progress("listing states: \($0) written") }
        let statesSeconds = clock.elapsedSeconds
        var lastReport = 0.0
        let events = try store.features.rebuild(from: eventLog) { applied in
            if clock.elapsedSeconds - lastReport >= 2 {
                lastReport = clock.elapsedSeconds
                console.progress("features: \(applied) events applied")
            }
        }
        let summary = "rebuilt \(store.states.redis.url) from \(log): \(listings) listing states in \(formattedSeconds(statesSeconds)), "
            + "features of \(events) events in \(formattedSeconds(clock.elapsedSeconds - statesSeconds))"
        if json {
            console.progress(summary)
            console.result(try jsonObjectLine(["listings": listings, "events": events, "states_seconds": statesSeconds,
                                               "seconds": clock.elapsedSeconds, "online_store": store.states.redis.url, "log": log],
                                              escapingSlashes: true))
        } else {
            console.result(summary)
        }
    }
}
