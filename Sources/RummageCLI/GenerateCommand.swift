import ArgumentParsing
import Datasets
import Events
import Pipeline
import RummageCore

/// `rummage generate`: writes a seeded synthetic marketplace.
struct GenerateCommand: Command {
    static let configuration = CommandConfiguration(
        name: "generate",
        abstract: "Generate a seeded synthetic secondhand-fashion marketplace (users, listings, events).",
        discussion: """
        Writes users.csv, listings.csv, events.csv and manifest.json into the output directory
        (format: docs/data-format.md). The same options and seed always give the same files.
        """,
        options: [
            .value("out", "DIR", help: "Directory to write into (created if missing).", required: true),
            .value("users", "N", help: "Number of users.", default: "10000"),
            .value("items", "N", help: "Number of listings.", default: "20000"),
            .value("events", "N", help: "Approximate number of events.", default: "500000"),
            .value("days", "N", help: "Days of simulated activity.", default: "90"),
            .value("seed", "S", help: "Random seed.", default: "42"),
            .flag("jsonl", help: "Also write events.jsonl: the marketplace as the event stream 'rummage ingest' reads."),
            .flag("json", help: "Print a JSON summary on stdout."),
            .flag("quiet", help: "Print nothing on success."),
        ])

    let directory: String
    let generator: MarketplaceGenerator.Configuration
    let jsonl: Bool
    let quiet: Bool
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        directory = try arguments.requiredString("out")
        generator = MarketplaceGenerator.Configuration(
            users: try arguments.requiredInt("users", in: 2...50_000_000),
            listings: try arguments.requiredInt("items", in: 1...100_000_000),
            events: try arguments.requiredInt("events", in: 0...2_000_000_000),
            days: try arguments.requiredInt("days", in: 1...3650),
            seed: UInt64(try arguments.requiredInt("seed", in: 0...Int.max)))
        jsonl = arguments.flag("jsonl")
        quiet = arguments.flag("quiet")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: quiet)
        let clock = Stopwatch()
        let marketplace = MarketplaceGenerator(generator).generate()
        let generated = clock.elapsedSeconds
        try marketplace.write(to: directory)
        console.progress("wrote \(marketplace.users.count) users, \(marketplace.listings.count) listings and "
            + "\(marketplace.events.count) events to \(directory) in \(formattedSeconds(clock.elapsedSeconds)) "
            + "(simulation \(formattedSeconds(generated)))")
        if jsonl {
            var out = LineWriter(path: directory + "/events.jsonl")
            try MarketplaceEvents.forEach(try MarketplaceData.load(directory: directory)) { (event) throws(DataError) in
                try out.write(event.jsonLine)
            }
            try out.flush()
            console.progress("wrote \(out.lines) events to \(out.path)")
        }
        if json {
            console.result(try jsonObjectLine(["out": directory, "users": marketplace.users.count, "listings": marketplace.listings.count,
                                               "events": marketplace.events.count, "jsonl": jsonl, "seconds": clock.elapsedSeconds]))
        }
    }
}

