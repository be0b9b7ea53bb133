import Foundation
import HTTPServer
import Storage

/// A throwaway S3 API server for tests: moto's server mode (PyPI `moto[server]`, installed by scripts/test
/// into a virtualenv outside the repository, `~/.cache/rummage-s3-venv`, or named by `$RUMMAGE_S3_SERVER`),
/// on a free loopback port, killed when the test process exits. It accepts any credentials.
public final class TestS3: Sendable {
    public let port: UInt16
    private let pid: Int32

    /// The credentials and endpoint variables a command needs to reach it.
    public var environment: [String: String] {
        ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1",
         "AWS_ENDPOINT_URL": "http://127.0.0.1:\(port)"]
    }

    public static var serverPath: String {
        ProcessInfo.processInfo.environment["RUMMAGE_S3_SERVER"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/rummage-s3-venv/bin/moto_server").path
    }

    /// Starts a server and creates `bucket` in it.
    public init(bucket: String) throws {
        port = try HTTPServer.freeLoopbackPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.serverPath)
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        let null = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = null
        process.standardError = null
        do { try process.run() } catch {
            throw StorageError(code: -1, "cannot start \(Self.serverPath) (scripts/test installs moto[server] there): \(error)")
        }
        pid = process.processIdentifier
        TestRedis.running.withLock { _ = $0.insert(process.processIdentifier) }
        let deadline = Date().addingTimeInterval(60)
        let environment = ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1",
                           "AWS_ENDPOINT_URL": "http://127.0.0.1:\(port)"]
        let client = try S3Client.location("s3://\(bucket)", environment: environment).client
        while true {
            do {
                try client.createBucket()
                return
            } catch {
                guard Date() < deadline, process.isRunning else { throw StorageError(code: -1, "the test S3 server did not start: \(error)") }
                usleep(100_000)
            }
        }
    }

    deinit {
        kill(pid, SIGKILL)
        _ = TestRedis.running.withLock { $0.remove(pid) }
    }
}
