import ArgumentParsing
import Backends
import Datasets
import Events
import Foundation
import Pipeline
import Registry
import RummageClient
import RummageTestSupport
import Serving
import Simulation
import Testing

/// Issue [10/19]: the traffic simulator plays the generated users against a live server through the
/// API: its actions reach the event log, it never sees a listing served after its sale, and the same
/// seed against the same server state gives the same run.
@Suite(.serialized) struct SimulationTests {
    let dir = Fixtures.temporaryDirectory("rummage-simulation")

    /// A served two-tower version over a generated marketplace, with the log copied to `logName`.
    func server(logName: String) throws -> (ServerApplication, RecommendationService, String) {
        let log = dir + "/" + logName
        try? FileManager.default.removeItem(atPath: log)
        try FileManager.default.copyItem(atPath: dir + "/events.sqlite", toPath: log)
        let service = try RecommendationService(registry: ModelRegistry(root: dir + "/registry"), model: "mp", reference: "champion",
                                                log: try openEventLog(log), loadModel: ModelCatalog.loadForServing)
        return (try ServerApplication(service: service, options: ServerApplication.Options()), service, log)
    }

    @Test func simulatedUsersActThroughTheAPIAndTheSameSeedRunsTheSame() throws {
        let data = dir + "/data"
        #expect(rummage("generate", "--out", data, "--users", "1000", "--items", "2000", "--events", "40000", "--seed", "4", "--jsonl",
                        "--quiet").code == 0)
        #expect(rummage("ingest", "--from", data + "/events.jsonl", "--log", dir + "/events.sqlite", "--quiet").code == 0)
        let config = Fixtures.write("""
            {"model": "mp", "registry": "\(dir)/registry", "data": {"dataset": "synthetic:\(data)"},
             "train": {"kind": "two-tower", "settings": {"content": "true", "id_dropout": "0.5", "epochs": "3"}, "seed": 1},
             "gate": {"absolute": {}, "relative": {}}}
            """, to: "pipeline.json", in: dir)
        #expect(rummage("pipeline", "run", "--pipeline", config, "--quiet").code == 0)
        let marketplace = MarketplaceGenerator(try .load(manifestIn: data)).generate()
        var settings = TrafficSimulator.Configuration()
        settings.users = 150
        settings.sessions = 2
        settings.seed = 11
        settings.runID = "test"
        var reports: [TrafficSimulator.Report] = []
        for name in ["a.sqlite", "b.sqlite"] {
            let (server, _, log) = try server(logName: name)
            let before = try openEventLog(log).count()
            let report = try TrafficSimulator(marketplace: marketplace, configuration: settings)
                .run(RummageClient(port: server.port), now: { 1_776_000_000 })
            server.stop()
            let v = try #require(report.variants["champion"])
            let actions = v.views + v.likes + v.bags + v.purchases
            #expect(report.sessions == 300 && v.requests == 300 && v.shown == 3_000 && !report.cutShort)
            #expect(v.views > 300 && v.likes > 0 && v.purchases > 0 && report.listingsCreated == 30)
            #expect(report.soldListingsServed == 0)
            // Per-user totals (the units of the intervals) add up to the variant's; each created listing has its creation session.
            let users = try #require(report.users["champion"]).values
            #expect(users.map(\.shown).reduce(0, +) == v.shown && users.map(\.views).reduce(0, +) == v.views
                    && users.map(\.purchases).reduce(0, +) == v.purchases)
            #expect(report.rates(of: "champion").clickThrough.value == v.clickThroughRate && report.creationSessions.count == 30)
            let firsts = report.sessionsToFirstImpression(in: "champion")
            #expect(firsts.count == 30 && firsts.compactMap { $0 }.allSatisfy { $0 >= 0 })
            // Every action is an event in the log (saves too), and each new listing a listing_created.
            #expect(try openEventLog(log).count() - before >= actions + report.listingsCreated)
            print("simulation \(name): CTR \(v.clickThroughRate), purchase rate \(v.purchaseRate), \(v.purchases) purchases, "
                  + "\(report.purchasesRefused) refused")
            reports.append(report)
        }
        #expect(reports[0].variants == reports[1].variants && reports[0].listingsCreated == reports[1].listingsCreated)
        // The command: a report per variant, and JSON.
        let (server, _, _) = try server(logName: "c.sqlite")
        defer { server.stop() }
        let cli = rummage("simulate", "--url", "http://127.0.0.1:\(server.port)", "--dataset", "synthetic:" + data, "--users", "20", "--sessions", "1",
                          "--json")
        #expect(cli.code == 0, "\(cli.err)")
        #expect(cli.out.contains("variant") && cli.out.contains("sold listings served after their sale: 0"))
        let json = try lastJSONLine(cli.out)
        #expect(json["sessions"] as? Int == 20 && json["sold_listings_served"] as? Int == 0)
        #expect(rummage("simulate", "--url", "ftp://x", "--dataset", "synthetic:" + data).code == ExitCode.usage)
    }
}
