import Foundation
import HTTPServer
import Storage
import Synchronization

/// Throwaway Redis servers for tests on free loopback ports, with no persistence (a restart loses every
/// key, as a production restart without RDB/AOF would). Debian's `redis-server` provides them
/// (scripts/install-deps installs it). Every server still running is killed when the process exits.
public enum TestRedis {
    /// One redis-server process on a fixed port, which a test may kill and start again.
    public final class Server: Sendable {
        public let port: Int
        private let pid = Atomic<Int32>(0)

        /// Starts a server on a free port.
        public init() throws(StorageError) {
            do { port = Int(try HTTPServer.freeLoopbackPort()) } catch { throw StorageError(code: -1, "no free port: \(error)") }
            try start()
        }

        /// Starts the server (again) on its port and waits until it answers PING.
        public func start() throws(StorageError) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
            process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", NSTemporaryDirectory()]
            let null = FileHandle(forWritingAtPath: "/dev/null")
            process.standardOutput = null
            process.standardError = null
            do { try process.run() } catch {
                throw StorageError(code: -1, "cannot start redis-server (apt-get install redis-server): \(error)")
            }
            pid.store(process.processIdentifier, ordering: .relaxed)
            _ = running.withLock { $0.insert(process.processIdentifier) }
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if (try? RedisConnection(port: port).command(["PING"])) == .status("PONG") { return }
                usleep(20_000)
            }
            throw StorageError(code: -1, "the test Redis server did not start on port \(port)")
        }

        /// Kills the server (SIGKILL: nothing is saved) and waits until its port refuses connections.
        public func kill() {
            let id = pid.exchange(0, ordering: .relaxed)
            guard id > 0 else { return }
            Foundation.kill(id, SIGKILL)
            running.withLock { _ = $0.remove(id) }
            while (try? RedisConnection(port: port, timeoutMilliseconds: 1_000)) != nil { usleep(20_000) }
        }

        public var url: String { "redis://127.0.0.1:\(port)" }
    }

    /// Servers to kill at exit. SIGKILL: nothing to save, and SIGTERM is not acted on when sent from here.
    static let running: Mutex<Set<Int32>> = {
        atexit { TestRedis.running.withLock { for pid in $0 { Foundation.kill(pid, SIGKILL) } } }
        return Mutex([])
    }()

    static let shared = Result { () throws(StorageError) in try Server() }

    /// The port of the server shared by the test process.
    public static func port() throws(StorageError) -> Int { try shared.get().port }
}
