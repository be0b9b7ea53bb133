import Foundation
import HTTPServer
import RummageTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// [14/19]: the systemd units in deploy/systemd pass `systemd-analyze verify`, and `rummage serve` tells
/// systemd it is ready (sd_notify READY=1, once its port answers) and that it is stopping on SIGTERM.
@Suite struct ServiceUnitTests {
    @Test func theUnitsVerify() throws {
        let units = repositoryRoot.appendingPathComponent("deploy/systemd").path
        let names = try FileManager.default.contentsOfDirectory(atPath: units).sorted()
        #expect(names == ["rummage-ingest.service", "rummage-retrain.service", "rummage-retrain.timer", "rummage-serve.service"])
        // The units name the installed binary; verify them against the one just built.
        let dir = Fixtures.temporaryDirectory("rummage-units")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = repositoryRoot.appendingPathComponent(".build/release/rummage").path
        for name in names {
            let text = try String(contentsOfFile: units + "/" + name, encoding: .utf8)
            _ = Fixtures.write(text.replacingOccurrences(of: "/usr/local/bin/rummage", with: binary), to: name, in: dir)
        }
        let verify = Fixtures.run("/usr/bin/systemd-analyze", ["verify", "--man=no"] + names.map { dir + "/" + $0 })
        #expect(verify.code == 0 && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)")
    }

    @Test func serveNotifiesReadinessAndStopping() throws {
        let dir = Fixtures.temporaryDirectory("rummage-notify")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        SecurityTests.deploy(dir: dir, log: dir + "/events.sqlite")
        // The notification socket systemd would pass in $NOTIFY_SOCKET: a Unix datagram socket.
        let path = dir + "/notify.sock"
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(socket, &buffer, buffer.count, 0)
            return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
        }

        let port = try HTTPServer.freeLoopbackPort()
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent(".build/release/rummage")
        process.arguments = ["serve", "--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite",
                             "--port", String(port), "--poll", "0"]
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": path]) { _, new in new }
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let ready = receive()
        #expect(ready.contains("READY=1") && ready.contains("STATUS=serving mp"), "\(ready)")
        // Ready means answering.
        #expect(HTTPClient.send("GET", "/readyz", port: port).status == 200)
        process.terminate()  // SIGTERM, as systemctl stop sends
        let stopping = receive()
        #expect(stopping.contains("STOPPING=1"), "\(stopping)")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
