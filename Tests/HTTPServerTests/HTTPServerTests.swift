import Foundation
import Glibc
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
        // [12/19]: a declared Content-Length over the limit is answered 413 at once, before any body is sent
        // (it was answered only after the whole body had arrived).
        let early = try Self.rawExchange(port: s.port, "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n\r\n")
        #expect(early.hasPrefix("HTTP/1.1 413"), "\(early)")
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

    /// Sends `request` on a fresh connection and returns what the server answers within 2 seconds ("" if
    /// nothing).
    static func rawExchange(port: UInt16, _ request: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : ""
    }
}
