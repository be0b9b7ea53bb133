import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Structured logs: one JSON object per line (`ts` in ISO 8601 UTC with milliseconds, `level`, `msg`,
/// then the event's fields, e.g. `request_id`), written whole under a lock so lines never interleave.
/// Lines below `minimumLevel` are dropped.
public final class JSONLogger: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case debug, info, warning, error

        public var name: String { ["debug", "info", "warning", "error"][rawValue] }
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    public let minimumLevel: Level
    private let write: @Sendable (String) -> Void
    private let lock = Mutex<Void>(())

    /// Logs to standard error. A line the descriptor refuses (a full disk, a closed pipe) is dropped and
    /// counted in `droppedLines`: logging never stops the process (Foundation's `FileHandle.write` traps).
    public convenience init(minimumLevel: Level = .info) {
        self.init(minimumLevel: minimumLevel) { line in
            if !Self.writeAll(line, to: STDERR_FILENO) { Self.droppedLines.increment() }
        }
    }

    /// Log lines standard error refused, in this process.
    public static let droppedLines = Counter()

    /// Writes `text` whole to `descriptor` with write(2), retrying short and interrupted writes; false
    /// when the descriptor refuses it.
    public static func writeAll(_ text: String, to descriptor: Int32) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            bytes = bytes.dropFirst(n)
        }
        return true
    }

    /// Logs to `write`, which receives whole lines ending in a newline.
    public init(minimumLevel: Level = .info, write: @escaping @Sendable (String) -> Void) {
        self.minimumLevel = minimumLevel
        self.write = write
    }

    public func log(_ level: Level, _ message: String, _ fields: [String: any Sendable] = [:]) {
        guard level >= minimumLevel else { return }
        var line = "{\"ts\":\"\(Self.timestamp())\",\"level\":\"\(level.name)\",\"msg\":\(Self.quoted(message))"
        for key in fields.keys.sorted() {
            line += ",\(Self.quoted(key)):\(Self.value(fields[key]!))"
        }
        line += "}\n"
        lock.withLock { _ in write(line) }
    }

    public func info(_ message: String, _ fields: [String: any Sendable] = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: [String: any Sendable] = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: [String: any Sendable] = [:]) { log(.error, message, fields) }

    static func value(_ value: any Sendable) -> String {
        switch value {
        case let b as Bool: b ? "true" : "false"
        case let i as Int: String(i)
        case let i as Int64: String(i)
        case let d as Double: d.isFinite ? number(d) : "null"
        case let f as Float: f.isFinite ? number(Double(f)) : "null"
        case let texts as [String]: "[" + texts.map(quoted).joined(separator: ",") + "]"
        default: quoted(String(describing: value))
        }
    }

    /// A JSON string literal (log lines are not a hot path: Foundation's encoder escapes).
    static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }

    /// Integral values without a fraction, others in Swift's shortest round-trip form.
    static func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)" }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var time = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &time)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", time.tm_year + 1900, time.tm_mon + 1, time.tm_mday, time.tm_hour,
                      time.tm_min, time.tm_sec, now.tv_nsec / 1_000_000)
    }
}
