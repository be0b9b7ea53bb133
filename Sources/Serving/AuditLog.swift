import Events
import Foundation
import RummageCore
import Telemetry

/// Where every state change made through the API is recorded, one JSON line each: who (the key's name),
/// what (the action and its target), and before → after. `rummage serve --audit-log FILE` appends them to
/// a file; without it they go to the server's log (stderr) with `"msg": "audit"`.
public final class AuditLog: Sendable {
    private let logger: JSONLogger

    public init(logger: JSONLogger) { self.logger = logger }

    /// An audit log appending to `path` (created if missing).
    public static func appending(to path: String) throws(DataError) -> AuditLog {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw DataError(.fileNotFound, "cannot create the audit log", path: path)
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw DataError(.fileNotFound, "cannot open the audit log", path: path) }
        handle.seekToEndOfFile()
        return AuditLog(logger: JSONLogger { line in handle.write(Data(line.utf8)) })
    }

    /// One change: `principal` did `action` to `target`, which went from `before` to `after` (nil: did not exist / nothing).
    public func record(_ principal: Principal, _ action: String, target: String, before: String?, after: String?, _ fields: [String: any Sendable] = [:]) {
        var line = fields
        line["principal"] = principal.name
        line["action"] = action
        line["target"] = target
        line["before"] = before ?? "none"
        line["after"] = after ?? "none"
        logger.info("audit", line)
    }

    /// An ingest: its counts, the ids of the events sent, and each listing whose state it changed as
    /// `item: before → after`.
    func recordIngest(_ principal: Principal, _ action: String, events: [Event], before: [ItemID: ListingState?], outcome: EventIngestor.Outcome) {
        let changes = outcome.states.sorted { $0.key.value < $1.key.value }.map { item, after in
            "\(item.value): \((before[item] ?? nil)?.rawValue ?? "none") → \(after.rawValue)"
        }
        record(principal, action, target: "events", before: nil, after: "\(outcome.appended) appended",
               ["duplicates": outcome.duplicates, "refused": outcome.refused.count, "listing_changes": changes, "events": events.map(\.id)])
    }
}
