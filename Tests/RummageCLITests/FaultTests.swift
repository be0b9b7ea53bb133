import Foundation
import HTTPServer
import RummageTestSupport
import Serving
import Testing

/// [13/19]: faults production has, injected into real processes.
@Suite(.serialized) struct FaultTests {
    /// A log that cannot be written (a full disk: /dev/full; a reader that went away: a pipe closed at
    /// its other end) must not stop the server: Foundation's `FileHandle.write` trapped (exit 132) and a
    /// closed pipe raised SIGPIPE. Every request is still answered and the dropped lines are counted.
    @Test(arguments: ["full disk", "closed pipe"])
    func anUnwritableLogDoesNotStopTheServer(fault: String) throws {
        let dir = Fixtures.temporaryDirectory("rummage-fault-log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        SecurityTests.deploy(dir: dir, log: dir + "/events.sqlite")
        let (keysPath, keys) = SecurityTests.keysFile(in: dir)
        let sink: FileHandle
        var pipe: Pipe?
        if fault == "full disk" {
            sink = try #require(FileHandle(forWritingAtPath: "/dev/full"))
        } else {
            let closed = Pipe()
            try closed.fileHandleForReading.close()
            sink = closed.fileHandleForWriting
            pipe = closed
        }
        let server = try SecurityTests.Server(["--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite",
                                               "--api-keys", keysPath], dir: dir, standardError: sink)
        defer { server.stop() }
        for _ in 0..<20 {  // each refused request is logged
            #expect(HTTPClient.send("GET", "/v1/users/u1/recommendations", port: server.port).status == 401)
        }
        let metrics = HTTPClient.send("GET", "/metrics", port: server.port, headers: ["Authorization": "Bearer \(keys[.metrics]!)"])
        let dropped = metrics.body.split(separator: "\n").first { $0.hasPrefix("rummage_log_lines_dropped_total ") }
        #expect(Double(dropped?.split(separator: " ").last ?? "") ?? 0 >= 20, "\(String(describing: dropped))")
        #expect(server.process.isRunning)
        _ = pipe
    }
}
