import Foundation
import HTTPServer
import RummageTestSupport
import RummageCore
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

extension FaultTests {
    /// [13/19]: the PostgreSQL connection was never re-established: after a database restart every write
    /// answered 503 until the replica was restarted, while /readyz said "ready". Now /readyz says "not
    /// ready" (503, naming the event log) while the database is down, and writes succeed again within 5 s
    /// of it coming back, with no restart of the replica.
    @Test func aReplicaRidesOutAPostgreSQLRestart() throws {
        let dir = Fixtures.temporaryDirectory("rummage-fault-pg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let database = try TestPostgres.Instance()
        SecurityTests.deploy(dir: dir, log: database.uri)
        let (keysPath, keys) = SecurityTests.keysFile(in: dir)
        let server = try SecurityTests.Server(["--registry", dir + "/registry", "--model", "mp", "--log", database.uri, "--api-keys", keysPath],
                                              dir: dir)
        defer { server.stop() }
        let listings = ["Authorization": "Bearer \(keys[.listings]!)"]
        func create(_ item: String) -> Int {
            HTTPClient.send("PUT", "/v1/items/\(item)", port: server.port, body: Array(#"{"seller":"u3","price":5}"#.utf8), headers: listings).status
        }
        #expect(create("before-restart") == 200)
        #expect(HTTPClient.send("GET", "/readyz", port: server.port).status == 200)

        database.stop()
        let down = HTTPClient.send("GET", "/readyz", port: server.port)
        #expect(down.status == 503 && down.body.contains(#""status":"not ready""#) && down.body.contains("event_log"), "\(down)")
        #expect(create("while-down") == 503)
        #expect(HTTPClient.send("GET", "/v1/users/u1/recommendations?k=5", port: server.port,
                                headers: ["Authorization": "Bearer \(keys[.recommend]!)"]).status == 200, "reads keep being answered")

        try database.start()
        let back = Stopwatch()
        var status = 0
        while status != 200 && back.elapsedSeconds < 5 {
            status = create("after-restart")
            if status != 200 { usleep(100_000) }
        }
        #expect(status == 200, "a write succeeded \(back.elapsedSeconds) s after the database came back")
        #expect(HTTPClient.send("GET", "/readyz", port: server.port).status == 200)
        #expect(server.process.isRunning)
    }
}
