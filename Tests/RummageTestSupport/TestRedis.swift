import Foundation
import HTTPServer
import Storage

/// A throwaway Redis server for tests, started once per test process on a free loopback port with no
/// persistence, stopped when the process exits. Debian's `redis-server` provides it (scripts/install-deps
/// installs it).
public enum TestRedis {
    nonisolated(unsafe) static var pid: pid_t = 0

    static let server: Result<UInt16, StorageError> = {
        do {
            let port = try HTTPServer.freeLoopbackPort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
            process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", NSTemporaryDirectory()]
            let log = FileHandle(forWritingAtPath: "/dev/null")
            process.standardOutput = log
            process.standardError = log
            try process.run()
            pid = process.processIdentifier
            // SIGKILL: nothing to save (no persistence), and SIGTERM is not acted on when sent from here.
            atexit { if TestRedis.pid > 0 { kill(TestRedis.pid, SIGKILL) } }
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if (try? RedisConnection(port: Int(port)).command(["PING"])) == .status("PONG") { return .success(port) }
                usleep(50_000)
            }
            return .failure(StorageError(code: -1, "the test Redis server did not start on port \(port)"))
        } catch let error as StorageError {
            return .failure(error)
        } catch {
            return .failure(StorageError(code: -1, "cannot start redis-server (apt-get install redis-server): \(error)"))
        }
    }()

    /// The port of the shared test server.
    public static func port() throws(StorageError) -> Int { Int(try server.get()) }
}
