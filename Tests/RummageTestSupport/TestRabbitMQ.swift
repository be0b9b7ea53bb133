import Foundation
import HTTPServer
import Storage

/// A throwaway RabbitMQ broker for tests, started once per test process on a free loopback port with
/// its own node name, data and log folders (Debian's `rabbitmq-server`; scripts/install-deps installs
/// it), and killed when the process exits. The default `guest` user may connect over loopback.
public enum TestRabbitMQ {
    nonisolated(unsafe) static var pid: pid_t = 0
    /// What the Erlang VM's command line holds (its home folder), to kill it by.
    nonisolated(unsafe) static var vmPattern = ""

    static let broker: Result<Int, StorageError> = {
        do {
            let port = Int(try HTTPServer.freeLoopbackPort())
            let home = NSTemporaryDirectory() + "rummage-rabbitmq-\(port)"
            pid = try launch(home: home, port: port).processIdentifier
            vmPattern = home
            // The Erlang VM runs as a child of the script: kill it by its home folder too.
            atexit {
                if TestRabbitMQ.pid > 0 { kill(TestRabbitMQ.pid, SIGKILL) }
                TestRabbitMQ.killVM(TestRabbitMQ.vmPattern)
            }
            try waitUntilReady(port: port, home: home)
            return .success(port)
        } catch let error as StorageError {
            return .failure(error)
        } catch {
            return .failure(StorageError(code: -1, "cannot start rabbitmq-server (apt-get install rabbitmq-server): \(error)"))
        }
    }()

    /// Starts a broker node whose data, logs and name live under `home`, on `port`.
    static func launch(home: String, port: Int) throws -> Process {
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try Data("[].".utf8).write(to: URL(fileURLWithPath: home + "/enabled_plugins"))
        let process = Process()
        // The server itself, not Debian's wrapper (which switches to the rabbitmq user).
        process.executableURL = URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmq-server")
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        environment["RABBITMQ_NODE_PORT"] = String(port)
        environment["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1"
        environment["RABBITMQ_NODENAME"] = "rummage-test-\(port)@localhost"
        environment["RABBITMQ_DIST_PORT"] = String(port + 10_000 <= 65_535 ? port + 10_000 : port - 10_000)
        environment["RABBITMQ_MNESIA_BASE"] = home + "/mnesia"
        environment["RABBITMQ_LOG_BASE"] = home + "/log"
        environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = home + "/enabled_plugins"
        environment["RABBITMQ_CONFIG_FILE"] = home + "/none"
        process.environment = environment
        let null = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = null
        process.standardError = null
        try process.run()
        return process
    }

    static func waitUntilReady(port: Int, home: String) throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if (try? AMQPConnection(url: "amqp://127.0.0.1:\(port)")) != nil { return }
            usleep(200_000)
        }
        throw StorageError(code: -1, "the test RabbitMQ broker did not start on port \(port) (logs: \(home)/log)")
    }

    /// Kills the Erlang VM whose command line holds `home`.
    static func killVM(_ home: String) {
        let pkill = Process()
        pkill.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
        pkill.arguments = ["-KILL", "-f", home]
        try? pkill.run()
        pkill.waitUntilExit()
    }

    /// A broker of its own, for a test that kills and restarts it (the shared one serves every other
    /// test meanwhile). Its durable queues and persistent messages survive a restart.
    public final class Instance: @unchecked Sendable {
        // @unchecked because: start and kill are called from the test's own thread.
        public let port: Int
        let home: String
        private var process: Process?

        public init() throws {
            port = Int(try HTTPServer.freeLoopbackPort())
            home = NSTemporaryDirectory() + "rummage-rabbitmq-\(port)"
            try start()
        }

        deinit {
            kill()
            try? FileManager.default.removeItem(atPath: home)
        }

        public var url: String { "amqp://127.0.0.1:\(port)/%2f" }

        public func start() throws {
            guard process == nil else { return }
            process = try TestRabbitMQ.launch(home: home, port: port)
            try TestRabbitMQ.waitUntilReady(port: port, home: home)
        }

        /// SIGKILL, as a crashed or powered-off broker (what it confirmed is on disk).
        public func kill() {
            guard let process else { return }
            Glibc.kill(process.processIdentifier, SIGKILL)
            TestRabbitMQ.killVM(home)
            process.waitUntilExit()
            self.process = nil
        }
    }

    /// The shared broker's URL.
    public static func url() throws(StorageError) -> String { "amqp://127.0.0.1:\(try broker.get())/%2f" }
}
