import Foundation
import Glibc
import HTTPServer
import RummageTestSupport
import Synchronization
import Testing

@Suite(.serialized) struct HTTPServerTests {
    func server(maxBody: Int = 1 << 20, configure: (inout HTTPServer.Configuration) -> Void = { _ in }) throws -> HTTPServer {
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
        configure(&configuration)
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

    /// [12/19]: a web page cannot reach a loopback server by rebinding a DNS name to it (its Host is not
    /// a loopback name: 421), nor change state cross-site (an Origin that is not allowed: 403).
    @Test func hostsAndCrossSiteChangesAreRefused() throws {
        let s = try server { $0.allowedOrigins = ["https://shop.example"] }
        defer { s.stop() }
        func exchange(_ method: String, _ headers: String, body: String = "") throws -> String {
            try Self.rawExchange(port: s.port, "\(method) \(method == "GET" ? "/v1/users/u1/recommendations" : "/v1/events") HTTP/1.1\r\n"
                                 + headers + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
        }
        for host in ["localhost:\(s.port)", "127.0.0.1", "[::1]:\(s.port)", "LOCALHOST"] {
            #expect(try exchange("GET", "Host: \(host)\r\n").hasPrefix("HTTP/1.1 200"), "\(host)")
        }
        for host in ["evil.example", "evil.example:\(s.port)", "127.0.0.1.evil.example", "[::2]"] {
            let answer = try exchange("GET", "Host: \(host)\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 421") && answer.contains("does not answer for host"), "\(host): \(answer)")
        }
        let local = "Host: localhost\r\nContent-Type: text/plain\r\n"
        let crossSite = try exchange("POST", local + "Origin: https://evil.example\r\n", body: "{}")
        #expect(crossSite.hasPrefix("HTTP/1.1 403") && crossSite.contains("cross-site"), "\(crossSite)")
        let fetchMetadata = try exchange("POST", local + "Sec-Fetch-Site: cross-site\r\n", body: "{}")
        #expect(fetchMetadata.hasPrefix("HTTP/1.1 403"), "\(fetchMetadata)")
        #expect(try exchange("POST", local + "Origin: https://shop.example\r\n", body: "{}").hasPrefix("HTTP/1.1 202"))
        #expect(try exchange("POST", local, body: "{}").hasPrefix("HTTP/1.1 202"), "no Origin: not a browser's cross-site request")
        #expect(try exchange("GET", "Host: localhost\r\nOrigin: https://evil.example\r\n").hasPrefix("HTTP/1.1 200"), "reads are not state changes")
    }

    /// [12/19]: idle connections from one client cannot lock others out (10,100 did); one client gets at
    /// most `perClientConnectionLimit`.
    @Test func oneClientCannotTakeEveryConnection() throws {
        let s = try server { $0.perClientConnectionLimit = 8 }
        defer { s.stop() }
        let idle = try (0..<20).map { _ in try RawConnection(port: s.port, from: "127.0.0.1") }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(s.openConnections == 8, "\(s.openConnections)")
        let other = try RawConnection(port: s.port, from: "127.0.0.2")
        let answer = try other.exchange("GET /v1/users/u1/recommendations HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        let refused = try RawConnection(port: s.port, from: "127.0.0.1")
        #expect(try refused.exchange("GET /v1/users/u1/recommendations HTTP/1.1\r\nHost: localhost\r\n\r\n").isEmpty)
        idle.forEach { $0.close() }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(HTTPClient.send("GET", "/v1/users/u1/recommendations", port: s.port).status == 200)
    }

    /// [12/19]: a client that trickles its request header is cut off at the header deadline; the idle
    /// timeout alone would keep it open as long as a byte arrives now and then.
    @Test func aTrickledHeaderIsCutOffAtItsDeadline() throws {
        let s = try server {
            $0.headerTimeoutSeconds = 1
            $0.timeoutSeconds = 30
        }
        defer { s.stop() }
        let slow = try RawConnection(port: s.port, from: "127.0.0.1")
        #expect(slow.send("GET /v1/users/u1/recommendations HTTP/1.1\r\n"))
        let start = Date()
        var open = true
        while open && Date().timeIntervalSince(start) < 5 {
            Thread.sleep(forTimeInterval: 0.25)
            open = slow.send("X-Slow: 1\r\n") && !slow.closedByPeer()
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(!open && elapsed < 3, "closed after \(elapsed) s")
        // A prompt client on a kept-alive connection is served request after request.
        let prompt = try RawConnection(port: s.port, from: "127.0.0.1")
        for _ in 0..<3 {
            #expect(try prompt.exchange("GET /v1/users/u1/recommendations HTTP/1.1\r\nHost: localhost\r\n\r\n").hasPrefix("HTTP/1.1 200"))
        }
    }

    /// [12/19]: the body bytes held over all connections are bounded; past the bound a body is refused
    /// with 503 (and the bytes are released when a request ends).
    @Test func bufferedBodiesAreBoundedOverAllConnections() throws {
        let s = try server(maxBody: 1_000) { $0.maxBufferedBytes = 1_500 }
        defer { s.stop() }
        let head = "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n"
        let first = try RawConnection(port: s.port, from: "127.0.0.1")
        #expect(first.send(head + String(repeating: "a", count: 900)))
        Thread.sleep(forTimeInterval: 0.3)
        let second = try RawConnection(port: s.port, from: "127.0.0.1")
        let refused = try second.exchange(head + String(repeating: "b", count: 1_000))
        #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused)")
        #expect(try first.exchange(String(repeating: "a", count: 100)).hasPrefix("HTTP/1.1 202"))
        let third = try RawConnection(port: s.port, from: "127.0.0.1")
        #expect(try third.exchange(head + String(repeating: "c", count: 1_000)).hasPrefix("HTTP/1.1 202"))
    }

    /// [12/19]: HTTPS through libmicrohttpd's GnuTLS, with a certificate made by openssl now, on IPv6 and
    /// IPv4 loopback; curl checks the certificate.
    @Test func httpsOnIPv6AndIPv4Loopback() throws {
        let dir = Fixtures.temporaryDirectory("rummage-tls")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = Fixtures.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                     "-days", "1", "-subj", "/CN=localhost", "-addext",
                                                     "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
                                                     "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
        #expect(made.code == 0, "\(made.output)")
        let pem = (try String(contentsOfFile: dir + "/cert.pem", encoding: .utf8), try String(contentsOfFile: dir + "/key.pem", encoding: .utf8))
        for (host, url) in [("::1", "[::1]"), ("127.0.0.1", "127.0.0.1")] {
            let s = try server {
                $0.host = host
                $0.tls = pem
            }
            defer { s.stop() }
            let https = Fixtures.run("/usr/bin/curl", ["-sS", "--cacert", dir + "/cert.pem", "https://\(url):\(s.port)/v1/users/u7/recommendations?k=3"])
            #expect(https.code == 0 && https.output == #"{"k":"3","user":"u7"}"#, "\(host): \(https.output)")
            let plain = Fixtures.run("/usr/bin/curl", ["-sS", "--max-time", "3", "http://\(url):\(s.port)/v1/users/u7/recommendations"])
            #expect(plain.output != #"{"k":"20","user":"u7"}"#, "plain HTTP is not served on a TLS port")
        }
        // A key that does not parse is refused at start with the reason.
        var broken = HTTPServer.Configuration()
        broken.tls = (pem.0, "not a key")
        #expect(throws: HTTPError.self) { try HTTPServer(router: Router(), configuration: broken).start() }
        var badHost = HTTPServer.Configuration()
        badHost.host = "not-an-address"
        #expect { try HTTPServer(router: Router(), configuration: badHost).start() } throws: { ($0 as? HTTPError)?.message.contains("numeric") == true }
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

/// A raw TCP connection to a loopback server, from a chosen loopback source address.
final class RawConnection {
    let fd: Int32

    init(port: UInt16, from source: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &local) { l in
            withUnsafePointer(to: &address) { a in
                l.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } == 0
                    && a.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } == 0
            }
        }
        guard ok else { throw HTTPError(500, "cannot connect from \(source): \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    func close() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)); _ = Glibc.close(fd) }

    /// Whether all of `text` was sent.
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Whether the server closed the connection (reads end of stream without blocking).
    func closedByPeer() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK)) == 0
    }

    /// Sends `text` and returns what arrives within 2 seconds ("" when the server closed or said nothing).
    func exchange(_ text: String) throws -> String {
        guard send(text) else { return "" }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : ""
    }
}
