import Foundation
import HTTPServer
import Synchronization
import Testing

/// A minimal blocking HTTP/1.1 client over a POSIX socket (one request per connection).
func send(_ method: String, _ path: String, port: UInt16, body: [UInt8] = [], headers: [String: String] = [:])
    -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return (-1, "connect failed") }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
    for (k, v) in headers { head += "\(k): \(v)\r\n" }
    let request = Array((head + "\r\n").utf8) + body
    _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? -1
    let payload = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, payload)
}

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
        let ok = send("GET", "/v1/users/u%2042/recommendations?k=5", port: s.port)
        #expect(ok.status == 200 && ok.body == #"{"k":"5","user":"u 42"}"#)
        let missing = send("GET", "/v1/nope", port: s.port)
        #expect(missing.status == 404 && missing.body.contains("no route for GET"))
        let wrongMethod = send("DELETE", "/v1/events", port: s.port)
        #expect(wrongMethod.status == 405 && wrongMethod.body.contains("not allowed"))
        let bad = send("POST", "/v1/events", port: s.port)
        #expect(bad.status == 400 && bad.body == #"{"error":"empty body"}"#)
        #expect(send("GET", "/boom", port: s.port).status == 500)
        let posted = send("POST", "/v1/events", port: s.port, body: Array("{\"a\":1}".utf8))
        #expect(posted.status == 202 && posted.body == #"{"received":7}"#)
    }

    @Test func oversizedBodiesAreRefusedWith413() throws {
        let s = try server(maxBody: 1_000)
        defer { s.stop() }
        #expect(send("POST", "/v1/events", port: s.port, body: [UInt8](repeating: 65, count: 999)).status == 202)
        let big = send("POST", "/v1/events", port: s.port, body: [UInt8](repeating: 65, count: 5_000))
        #expect(big.status == 413 && big.body.contains("too large"))
    }

    @Test func concurrentRequestsAllSucceedAndStopIsGraceful() throws {
        let s = try server()
        let port = s.port
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 200) { i in
            let r = send("GET", "/v1/users/u\(i)/recommendations", port: port)
            statuses.withLock { $0.append(r.status) }
        }
        #expect(statuses.withLock { $0.count == 200 && $0.allSatisfy { $0 == 200 } })
        s.stop()
        #expect(send("GET", "/v1/users/u1/recommendations", port: port).status == -1)  // nothing listens any more
    }
}
