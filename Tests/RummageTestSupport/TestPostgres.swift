import Foundation
import HTTPServer
import Storage

/// A throwaway PostgreSQL server for tests, started once per test process: `initdb` into a temporary
/// directory and `postgres` on a free loopback port, both as the `postgres` user (the server refuses to
/// run as root), stopped and removed when the process exits. Debian's `postgresql` package provides the
/// binaries (scripts/install-deps installs it).
public enum TestPostgres {
    struct Server {
        var port: UInt16
        var directory: String
    }

    /// The pid of the server and its directory, for the exit handler.
    nonisolated(unsafe) static var pid: pid_t = 0
    nonisolated(unsafe) static var directory = ""

    static let server: Result<Server, StorageError> = {
        do { return .success(try start()) } catch let error as StorageError { return .failure(error) } catch {
            return .failure(StorageError(code: -1, "\(error)"))
        }
    }()

    /// A connection string to a new, empty database on the shared test server.
    public static func database() throws(StorageError) -> String {
        let (port, name) = try newDatabase()
        return "host=127.0.0.1 port=\(port) user=postgres dbname=\(name)"
    }

    /// The same as a `postgresql://` URI (what the CLI's `--log` takes).
    public static func databaseURI() throws(StorageError) -> String {
        let (port, name) = try newDatabase()
        return "postgresql://postgres@127.0.0.1:\(port)/\(name)"
    }

    private static func newDatabase() throws(StorageError) -> (port: UInt16, name: String) {
        let server = try server.get()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try PostgreSQLConnection("host=127.0.0.1 port=\(server.port) user=postgres dbname=postgres").execute("CREATE DATABASE \(name)")
        return (server.port, name)
    }

    static func binary(_ name: String) throws -> String {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.compactMap(Int.init).max() else {
            throw StorageError(code: -1, "PostgreSQL is not installed (apt-get install postgresql; scripts/install-deps does)")
        }
        return "/usr/lib/postgresql/\(version)/bin/\(name)"
    }

    /// `command` as the postgres user when this process is root.
    static func asPostgres(_ command: [String]) -> (String, [String]) {
        getuid() == 0 ? ("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups"] + command) : (command[0], Array(command.dropFirst()))
    }

    static func run(_ command: [String]) throws {
        let process = Process()
        let (executable, arguments) = asPostgres(command)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw StorageError(code: -1, "\(command.joined(separator: " ")) failed: \(output)") }
    }

    static func start() throws -> Server {
        let directory = try initialised()
        let port = try HTTPServer.freeLoopbackPort()
        Self.pid = try launch(directory: directory, port: port).processIdentifier
        Self.directory = directory
        atexit {
            guard TestPostgres.pid > 0 else { return }
            kill(TestPostgres.pid, SIGINT)  // fast shutdown
            for _ in 0..<100 where kill(TestPostgres.pid, 0) == 0 { usleep(50_000) }
            try? FileManager.default.removeItem(atPath: TestPostgres.directory)
        }
        try waitUntilReady(port: port)
        return Server(port: port, directory: directory)
    }

    /// A new data directory (`initdb`), owned by the postgres user.
    static func initialised() throws -> String {
        let directory = NSTemporaryDirectory() + "rummage-postgres-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            let chown = Process()
            chown.executableURL = URL(fileURLWithPath: "/bin/chown")
            chown.arguments = ["postgres:postgres", directory]
            try chown.run()
            chown.waitUntilExit()
        }
        try run([try binary("initdb"), "-D", directory + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        return directory
    }

    /// Starts `postgres` on `directory` and `port`.
    static func launch(directory: String, port: UInt16) throws -> Process {
        let process = Process()
        let (executable, arguments) = asPostgres([try binary("postgres"), "-D", directory + "/data", "-p", String(port), "-k", directory,
                                                  "-c", "listen_addresses=127.0.0.1"])
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }

    static func waitUntilReady(port: UInt16) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? PostgreSQLConnection("host=127.0.0.1 port=\(port) user=postgres dbname=postgres")) != nil { return }
            usleep(100_000)
        }
        throw StorageError(code: -1, "the test PostgreSQL server did not start on port \(port)")
    }

    /// A PostgreSQL server of its own, for a test that stops and restarts it (the shared one serves
    /// every other test at the same time). Stopped and removed when released.
    public final class Instance: @unchecked Sendable {
        // @unchecked because: start and stop are called from the test's own thread.
        public let port: UInt16
        let directory: String
        private var process: Process?

        public init() throws {
            directory = try TestPostgres.initialised()
            port = try HTTPServer.freeLoopbackPort()
            try start()
        }

        deinit {
            stop()
            try? FileManager.default.removeItem(atPath: directory)
        }

        /// The `postgres` database as a URI (what the CLI's `--log` takes).
        public var uri: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

        public func start() throws {
            guard process == nil else { return }
            process = try TestPostgres.launch(directory: directory, port: port)
            try TestPostgres.waitUntilReady(port: port)
        }

        /// Fast shutdown (SIGINT), waiting for the server to exit.
        public func stop() {
            guard let process else { return }
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
            self.process = nil
        }
    }
}
