import Foundation
import HTTPServer
import RummageTestSupport
import Synchronization
import Testing

@Suite(.serialized) struct HTTPServerTests {
    func server(maxBody: Int = 1 << 20) throws -> HTTPServer {
        let router = Router()
        router.add("GET", "/v1/users/{user}/recommendations") { request in
            .json(["user": request.parameters["user"] ?? "", "k": request.query("k") ?? "20"])
        }
        router.add("POST", "/v1/events") { request in
            guard !request.body.isEmpty else { throw HTTPError(400, "empty body") }
            return .json(["received": request.body.count], status: 202)
        }
        router.add("GET", "/boom") { _ in throw CancellationError() }
        var configuration = HTTPServer.Configuration()
        configuration.maxBodyBytes = maxBody
        configuration.threads = 2
        let server = HTTPServer(router: router, configuration: configuration)
        try server.start()
        return server
    }

    @Test func routesParametersQueriesAndJSONErrors() throws {
        let s = try server()
        defer { s.stop() }
        #expect(s.port > 0)
        let ok = HTTPClient.send("GET", "/v1/users/u%2042/recommendations?k=5", port: s.port)
        #expect(ok.status == 200 && ok.body == #"{"k":"5","user":"u 42"}"#)
        let missing = HTTPClient.send("GET", "/v1/nope", port: s.port)
        #expect(missing.status == 404 && missing.body.contains("no route for GET"))
        let wrongMethod = HTTPClient.send("DELETE", "/v1/events", port: s.port)
        #expect(wrongMethod.status == 405 && wrongMethod.body.contains("not allowed"))
        let bad = HTTPClient.send("POST", "/v1/events", port: s.port)
        #expect(bad.status == 400 && bad.body == #"{"error":"empty body"}"#)
        #expect(HTTPClient.send("GET", "/boom", port: s.port).status == 500)
        let posted = HTTPClient.send("POST", "/v1/events", port: s.port, body: Array("{\"a\":1}".utf8))
        #expect(posted.status == 202 && posted.body == #"{"received":7}"#)
    }

    /// [12/19]: a path is percent-decoded exactly once, segment by segment ("%2541" is the id "%41", not
    /// "A"; "%2F" stays inside its segment), and so is a query value.
    @Test func pathsAndQueriesAreDecodedExactlyOnce() throws {
        let s = try server()
        defer { s.stop() }
        let twice = HTTPClient.send("GET", "/v1/users/%2541/recommendations?k=%2542", port: s.port)
        #expect(twice.status == 200 && twice.body == #"{"k":"%42","user":"%41"}"#, "\(twice.body)")
        let slash = HTTPClient.send("GET", "/v1/users/a%2Fb/recommendations", port: s.port)
        #expect(slash.status == 200 && slash.body == #"{"k":"20","user":"a/b"}"#, "\(slash.body)")
    }

    @Test func oversizedBodiesAreRefusedWith413() throws {
        let s = try server(maxBody: 1_000)
        defer { s.stop() }
        #expect(HTTPClient.send("POST", "/v1/events", port: s.port, body: [UInt8](repeating: 65, count: 999)).status == 202)
        let big = HTTPClient.send("POST", "/v1/events", port: s.port, body: [UInt8](repeating: 65, count: 5_000))
        #expect(big.status == 413 && big.body.contains("too large"))
    }

    @Test func concurrentRequestsAllSucceedAndStopIsGraceful() throws {
        let s = try server()
        let port = s.port
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 200) { i in
            let r = HTTPClient.send("GET", "/v1/users/u\(i)/recommendations", port: port)
            statuses.withLock { $0.append(r.status) }
        }
        #expect(statuses.withLock { $0.count == 200 && $0.allSatisfy { $0 == 200 } })
        s.stop()
        #expect(HTTPClient.send("GET", "/v1/users/u1/recommendations", port: port).status == -1)  // nothing listens any more
    }
}
