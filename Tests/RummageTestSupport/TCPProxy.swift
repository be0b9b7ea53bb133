import Foundation
import HTTPServer
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on a loopback port in front of a server, for fault injection: it passes traffic, delays
/// it (`slow`: each chunk waits `slowMilliseconds` before it is forwarded, either way), or black-holes it
/// (connections stay open, no byte goes through either way, new connections are accepted but get no
/// answer: what a partitioned network looks like, unlike a refused connection).
public final class TCPProxy: Sendable {
    public enum Mode: Int, Sendable { case pass, blackHole, slow }
    public static let slowMilliseconds: UInt32 = 20

    public let port: UInt16
    private let targetPort: UInt16
    private let listener: Int32
    private let mode = Atomic<Int>(Mode.pass.rawValue)
    private let stopped = Atomic<Bool>(false)

    /// Listens on a free loopback port and forwards to 127.0.0.1:`targetPort`.
    public init(to targetPort: UInt16) throws {
        self.targetPort = targetPort
        port = try HTTPServer.freeLoopbackPort()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 128) == 0 else { throw HTTPError(500, "the proxy cannot listen on \(port)") }
        let proxy = self
        Thread { proxy.acceptLoop() }.start()
    }

    deinit { stop() }

    public func set(_ mode: Mode) { self.mode.store(mode.rawValue, ordering: .relaxed) }

    public func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { if stopped.load(ordering: .relaxed) { return } else { continue } }
            let proxy = self
            Thread { proxy.relay(client) }.start()
        }
    }

    /// Copies bytes both ways between `client` and a new connection to the target, except while the
    /// mode is black-hole (then nothing moves, and a connection made meanwhile is not even forwarded).
    private func relay(_ client: Int32) {
        defer { close(client) }
        while mode.load(ordering: .relaxed) == Mode.blackHole.rawValue {
            if stopped.load(ordering: .relaxed) { return }
            usleep(10_000)
        }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(upstream) }
        var address = Self.loopback(targetPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: upstream, events: Int16(POLLIN), revents: 0)]
        while !stopped.load(ordering: .relaxed) {
            if mode.load(ordering: .relaxed) == Mode.blackHole.rawValue {
                usleep(10_000)
                continue
            }
            guard poll(&fds, 2, 50) >= 0 else { return }
            for (i, entry) in fds.enumerated() where entry.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { recv(entry.fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return }
                let other = fds[1 - i].fd
                if mode.load(ordering: .relaxed) == Mode.slow.rawValue { usleep(Self.slowMilliseconds * 1_000) }
                var sent = 0
                while sent < n {
                    let m = buffer.withUnsafeBytes { send(other, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                    guard m > 0 else { return }
                    sent += m
                }
            }
        }
    }
}
