import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A raw HTTP answer: status, lower-cased header names, body bytes.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// One persistent HTTP/1.1 connection over a TCP socket (blocking, keep-alive, `Content-Length` bodies).
/// Not thread-safe: `RummageClient` guards it.
final class HTTPConnection {
    let host: String
    let port: UInt16
    let timeout: Double
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []

    init(host: String, port: UInt16, timeout: Double) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        buffer.removeAll()
    }

    private func connect() throws(RummageClientError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw .transport("cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node {
            let socket = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if socket >= 0 {
                var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
                setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
                var one: Int32 = 1
                setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                if Glibc.connect(socket, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    fd = socket
                    return
                }
                Glibc.close(socket)
            }
            node = info.pointee.ai_next
        }
        throw .transport("cannot connect to \(host):\(port): \(String(cString: strerror(errno)))")
    }

    /// Sends one request and reads its answer. A request on a reused connection that the server had
    /// already closed is retried once on a fresh one when `idempotent`.
    func send(_ method: String, _ path: String, body: [UInt8], headers: [String: String], idempotent: Bool) throws(RummageClientError)
        -> HTTPAnswer {
        let reused = fd >= 0
        do {
            return try exchange(method, path, body: body, headers: headers)
        } catch .closedBeforeAnswer where reused && idempotent {
            return try exchange(method, path, body: body, headers: headers)
        } catch .closedBeforeAnswer {
            throw .transport("the server closed the connection before answering")
        }
    }

    private func exchange(_ method: String, _ path: String, body: [UInt8], headers: [String: String]) throws(RummageClientError)
        -> HTTPAnswer {
        if fd < 0 { try connect() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else {
                close()
                throw .closedBeforeAnswer
            }
            sent += n
        }
        do {
            let answer = try readAnswer()
            if answer.headers["connection"]?.lowercased() == "close" { close() }
            return answer
        } catch {
            close()
            throw error
        }
    }

    /// Reads more bytes into `buffer`; false at end of stream.
    private func fill() throws(RummageClientError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, $0.count, 0) }
        if n < 0 {
            throw (errno == EAGAIN || errno == EWOULDBLOCK) ? .transport("no answer within \(timeout) s") : .closedBeforeAnswer
        }
        buffer += chunk[0..<n]
        return n > 0
    }

    private func readAnswer() throws(RummageClientError) -> HTTPAnswer {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while true {
            if buffer.count >= 4 {
                headerEnd = (0...(buffer.count - 4)).first { buffer[$0..<$0 + 4].elementsEqual(separator) }
                if headerEnd != nil { break }
            }
            guard try fill() else {
                if buffer.isEmpty { throw .closedBeforeAnswer }
                throw .transport("the connection closed inside an answer's headers")
            }
        }
        let lines = String(decoding: buffer[0..<headerEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw .transport("not an HTTP answer: \(lines[0])")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        buffer.removeFirst(headerEnd! + 4)
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            while buffer.count < length {
                guard try fill() else { throw .transport("the connection closed inside an answer's body") }
            }
            let body = Array(buffer[0..<length])
            buffer.removeFirst(length)
            return HTTPAnswer(status: status, headers: headers, body: body)
        }
        guard headers["transfer-encoding"] == nil else { throw .transport("chunked answers are not supported") }
        while try fill() {}  // no length: the body runs to the end of the stream
        let body = buffer
        close()
        return HTTPAnswer(status: status, headers: headers, body: body)
    }
}
