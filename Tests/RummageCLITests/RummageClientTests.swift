import Foundation
import HTTPServer
import RummageClient
import RummageTestSupport
import Serving
import Testing

/// `RummageClient` against a running server: every typed call, errors as `.http` with the server's
/// message, and one keep-alive connection carrying many requests.
@Suite(.serialized) struct RummageClientTests {
    @Test func everyCallWorksAgainstARunningServer() throws {
        let s = ServingTests()
        let service = try ServingTests.deployService(dir: s.dir)
        let router = Router()
        ServingRoutes.install(service, on: router, access: .testing)
        let server = HTTPServer(router: router, configuration: HTTPServer.Configuration())
        try server.start()
        defer { server.stop() }
        let client = RummageClient(port: server.port, apiKey: AccessPolicy.testKey)

        let ready = try client.ready()
        #expect(ready.status == "ready" && ready.modelVersion == 1 && ready.variants.map(\.alias) == ["champion"])
        let first = try client.recommendations(user: "u12", k: 10)
        #expect(first.items.count == 10 && !first.fallback && first.variant == "champion" && !first.rankingID.isEmpty)
        let jeans = try client.recommendations(user: "u12", k: 5, filters: .init(category: "jeans", maximumPrice: 40))
        #expect(jeans.items.count <= 5)
        let unknown = try client.recommendations(user: "nobody at all", k: 3)
        #expect(unknown.fallback && unknown.items.count == 3)

        let top = try #require(first.items.first?.item)
        #expect(try client.similar(item: top, k: 4).items.count == 4)
        let home = try client.surface("home", user: "u12", k: 10, explain: true)
        #expect(home.items == first.items && home.surface == "home" && home.explanations?.count == 10)
        #expect(try client.surface("similar", item: top, k: 4).items == client.similar(item: top, k: 4).items)
        #expect(try client.setState(item: top, .sold).changed == true)
        #expect(try client.setState(item: top, .sold).changed == false)  // a retry changes nothing
        #expect(try client.listing(item: top).state == "sold")
        #expect(try !client.recommendations(user: "u12", k: 10).items.map(\.item).contains(top))

        let created = try client.createListing(item: "client-new-1", seller: "u7", price: 20,
                                               attributes: ["category": "jeans", "brand": "levis", "title": "blue levis jeans"])
        #expect(created.appended == 1)
        #expect(try !client.similar(item: "client-new-1", k: 3).items.isEmpty)

        let now = Int64(Date().timeIntervalSince1970)
        let reply = try client.send(events: [
            .init(id: "client-like-1", type: "like", timestamp: now, user: "u12", item: "client-new-1"),
            .init(id: "client-like-2", type: "like", timestamp: now, user: "u12", item: "no-such-listing"),
        ])
        #expect(reply.appended == 1 && reply.refused.map(\.index) == [1])

        #expect(throws: RummageClientError.self) { try client.similar(item: "no-such-listing") }
        let outOfRange = Self.httpError { _ = try client.recommendations(user: "u12", k: 5_000) }
        #expect(outOfRange?.status == 400 && outOfRange?.message.contains("k must be") == true)
        #expect(Self.httpError { _ = try RummageClient(port: server.port, apiKey: "wrong-key-0123456789").reload() }?.status == 401)
        let reloaded = try client.reload()
        #expect(reloaded.variant == "champion" && reloaded.from == 1 && reloaded.to == 1)
        #expect(try client.metrics().contains("rummage_index_listings{alias=\"champion\"}"))

        // One connection carries many requests (keep-alive), from several threads in turn.
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<50 { #expect((try? client.recommendations(user: "u3", k: 5))?.items.count == 5) }
        }
    }

    /// The status and message of the `.http` error `body` throws; nil when it throws nothing or another error.
    static func httpError(_ body: () throws -> Void) -> (status: Int, message: String)? {
        do {
            try body()
        } catch let error as RummageClientError {
            if case .http(let status, let message) = error { return (status, message) }
        } catch {}
        return nil
    }

    @Test func anUnreachableServerIsATransportError() {
        let client = RummageClient(port: 1, timeout: 1)
        #expect {
            try client.ready()
        } throws: { error in
            guard case .transport = error as? RummageClientError else { return false }
            return true
        }
    }
}
