import Foundation
import HTTPServer
import RummageClient
import RummageCore
import RummageTestSupport
import Serving
import Testing

/// Issue [6/8]'s sold-listing leak test over real sockets: listings are sold through the API while
/// concurrent clients ask for recommendations; no answer to a request sent after a sale was acknowledged
/// may contain that listing. The seller sells what the clients were just shown, so the test bites.
/// Clients and seller use `RummageClient`, one keep-alive connection each.
/// Sizes: `RUMMAGE_LEAK_SELLS` (default 2,000) sales and `RUMMAGE_LEAK_REQUESTS` (default 20,000)
/// requests; the issue's 10,000 / 100,000 run is recorded in docs/serving.md.
@Suite(.serialized) struct SoldListingLeakTests {
    @Test func noListingIsServedAfterItsSaleWasAcknowledged() throws {
        let environment = ProcessInfo.processInfo.environment
        let sells = Int(environment["RUMMAGE_LEAK_SELLS"] ?? "") ?? 2_000
        let requests = Int(environment["RUMMAGE_LEAK_REQUESTS"] ?? "") ?? 20_000
        let dir = Fixtures.temporaryDirectory("rummage-leak")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let service = try ServingTests.deployService(dir: dir, users: 3_000, items: max(6_000, sells * 2), events: 150_000,
                                                     seed: 5, epochs: 2)
        let router = Router()
        ServingRoutes.install(service, on: router)
        var configuration = HTTPServer.Configuration()
        configuration.threads = 4
        let server = HTTPServer(router: router, configuration: configuration)
        try server.start()
        defer { server.stop() }
        let port = server.port
        let users = service.knownUsers
        let ledger = SaleLedger()
        let group = DispatchGroup()
        // Clients: each request notes when it was sent; an answer may not hold a listing sold before that.
        for client in 0..<3 {
            DispatchQueue.global().async(group: group) {
                let api = RummageClient(port: port)
                var rng = SeededGenerator(seed: UInt64(client))
                while ledger.claimRequest(limit: requests) { ledger.ask(api, user: users[rng.nextInt(below: users.count)]) }
            }
        }
        // The seller: sells what clients were just shown (else any live listing), recording each ack.
        let seller = RummageClient(port: port)
        var rng = SeededGenerator(seed: 99)
        let live = service.knownItemsForTesting.shuffled(using: &rng)
        var next = 0
        let soldCount = ledger.sell(sells, fallback: live, cursor: &next) { (try? seller.setState(item: $0, .sold))?.changed == true }
        group.wait()
        let result = ledger.snapshot
        #expect(soldCount == sells)
        #expect(result.sent == requests && result.errors == 0)
        #expect(result.violations.isEmpty, "\(result.violations.count) leaks, e.g. \(result.violations.prefix(5))")
        print("sold-listing leak test: \(soldCount) sales, \(result.sent) requests in \(String(format: "%.1f", ledger.now())) s, "
              + "\(result.violations.count) sold listings served after their sale")
    }
}
