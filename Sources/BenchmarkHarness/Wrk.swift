import Foundation
import HTTPServer
import RummageClient
import RummageCore

/// The load-testing harness of `rummage bench serve` and Benchmarks/: wrk as the load generator and
/// nginx `return 200` as the ceiling, both from Debian, run as child processes on loopback. Not part of
/// the product: only the `bench` commands import it.

/// Why a benchmark could not run or measure (a tool missing or failing): exit code 65 in the CLI.
public struct BenchmarkError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// wrk, the HTTP load generator.
public enum Wrk {
    /// A wrk script asking each user's recommendations in turn (with `bearer`: carrying that API key), from
    /// `GET /v1/users/{user}/recommendations`, or with `surface` from that surface's endpoint.
    public static func recommendationsScript(users: [String], k: Int, bearer: String? = nil, surface: String? = nil) -> String {
        let list = users.map { "\"\(RummageClient.percentEncoded($0))\"" }.joined(separator: ",")
        let path = surface.map { "\"/v1/surfaces/\(RummageClient.percentEncoded($0))/recommendations?k=\(k)&user=\" .. user" }
            ?? "\"/v1/users/\" .. user .. \"/recommendations?k=\(k)\""
        return """
            local users = {\(list)}
            \(bearer.map { "wrk.headers[\"Authorization\"] = \"Bearer \($0)\"" } ?? "")
            local i = 0
            request = function()
              i = i + 1
              local user = users[(i % #users) + 1]
              return wrk.format("GET", \(path))
            end
            """
    }

    public static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = directory + "/" + tool
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    public static func run(_ arguments: [String]) throws -> WrkResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: which("wrk")!)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchmarkError("wrk failed: \(text)") }
        return try WrkResult(parsing: text)
    }
}

/// The figures of one wrk run with `--latency`.
public struct WrkResult: Sendable {
    public var requests = 0
    public var requestsPerSecond = 0.0
    public var p50Milliseconds = 0.0
    public var p99Milliseconds = 0.0
    public var non2xx = 0
    public var socketErrors = 0

    public init(parsing text: String) throws {
        func milliseconds(_ value: Substring) -> Double? {
            for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where value.hasSuffix(unit) {
                return Double(value.dropLast(unit.count)).map { $0 * scale }
            }
            return nil
        }
        var sawRate = false
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let first = words.first else { continue }
            switch first {
            case "50%": p50Milliseconds = words.count > 1 ? milliseconds(words[1]) ?? 0 : 0
            case "99%": p99Milliseconds = words.count > 1 ? milliseconds(words[1]) ?? 0 : 0
            case "Requests/sec:":
                requestsPerSecond = words.count > 1 ? Double(words[1]) ?? 0 : 0
                sawRate = true
            case "Non-2xx": non2xx = Int(words.last ?? "") ?? 0
            case "Socket":
                socketErrors = words.compactMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: ","))) }.reduce(0, +)
            default:
                if words.count > 2, words[1] == "requests", words[2] == "in" { requests = Int(first) ?? 0 }
            }
        }
        guard sawRate else { throw BenchmarkError("could not read wrk's output: \(text)") }
    }

    public var summary: String {
        "\(Int(requestsPerSecond)) req/s, p50 \(String(format: "%.2f", p50Milliseconds)) ms, p99 \(String(format: "%.2f", p99Milliseconds)) ms, "
            + "\(requests) requests, \(non2xx) non-2xx, \(socketErrors) socket errors"
    }
}

/// nginx answering `return 200` on a free loopback port, from its own prefix directory; for the ceiling.
public final class NginxCeiling {
    public let port: UInt16
    private let process = Process()

    public init(directory relative: String) throws {
        let directory = URL(fileURLWithPath: relative).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true)
        port = try HTTPServer.freeLoopbackPort()
        let config = """
            worker_processes auto;
            daemon off;
            pid \(directory)/nginx.pid;
            error_log \(directory)/logs/error.log;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_temp_path \(directory)/body;
              proxy_temp_path \(directory)/proxy;
              fastcgi_temp_path \(directory)/fastcgi;
              uwsgi_temp_path \(directory)/uwsgi;
              scgi_temp_path \(directory)/scgi;
              server { listen 127.0.0.1:\(port); location / { return 200 "ok\\n"; } }
            }
            """
        try TextFile.write(Array(config.utf8), to: directory + "/nginx.conf")
        process.executableURL = URL(fileURLWithPath: Wrk.which("nginx")!)
        process.arguments = ["-p", directory, "-c", directory + "/nginx.conf"]
        try process.run()
        // Wait until it answers.
        let client = RummageClient(port: port, timeout: 1)
        for _ in 0..<100 {
            if (try? client.request("GET", "/"))?.status == 200 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw BenchmarkError("nginx did not start on port \(port); see \(directory)/logs/error.log")
    }

    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
