import Backends
import Events
import Foundation
import RummageCore
import RummageTestSupport
import Storage
import Testing

/// Issue [4/8]'s crash test: a child `rummage ingest` process is killed with SIGKILL at random points,
/// 20 times, and restarted on the same input each time. Every event acknowledged before a kill must be
/// in the log afterwards, and after a final uninterrupted run every input event is there exactly once.
/// Run on the SQLite log and on the PostgreSQL one (a real server, `TestPostgres`).
/// Needs the `rummage` executable next to the test binary (`scripts/test` builds it first).
@Suite struct IngestCrashTests {
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rummage").path
    }

    /// Starts `rummage ingest`, reads its ack lines until `acks` of them arrived (or it ends), then
    /// kills it with SIGKILL after `delay` seconds more. Returns the last acknowledged input line and
    /// whether the kill ended the process (rather than it finishing first).
    func ingestAndKill(input: String, log: String, acks: Int, delay: Double) throws -> (acked: Int, killed: Bool) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["ingest", "--from", input, "--log", log, "--ack", "--batch-size", "500", "--quiet"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var acked = 0, seen = 0, pending = ""
        let reader = pipe.fileHandleForReading
        while seen < acks {
            let data = reader.availableData
            if data.isEmpty { break }
            pending += String(decoding: data, as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                let line = pending[..<newline]
                pending = String(pending[pending.index(after: newline)...])
                let fields = line.split(separator: " ")
                if fields.first == "ack", fields.count == 4, let n = Int(fields[1]) {
                    acked = n
                    seen += 1
                }
            }
        }
        Thread.sleep(forTimeInterval: delay)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Acks printed between our last read and the kill also count.
        pending += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        for line in pending.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.first == "ack", fields.count == 4, let n = Int(fields[1]) { acked = max(acked, n) }
        }
        return (acked, process.terminationReason == .uncaughtSignal)
    }

    @Test(arguments: ["sqlite", "postgresql"])
    func acknowledgedEventsSurviveSIGKILLAndNoneIsStoredTwice(backend: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable),
                     "build the rummage executable first (swift build -c release --product rummage)")
        let dir = Fixtures.temporaryDirectory("rummage-crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let generated = rummage("generate", "--out", dir, "--users", "2000", "--items", "4000", "--events", "60000",
                                "--seed", "11", "--jsonl", "--quiet")
        #expect(generated.code == 0, "\(generated.err)")
        let input = dir + "/events.jsonl"
        let logPath = backend == "sqlite" ? dir + "/events.sqlite" : try TestPostgres.databaseURI()
        let ids = try String(contentsOfFile: input, encoding: .utf8).split(separator: "\n").map { line -> String in
            let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return object["event_id"] as! String
        }
        var rng = SeededGenerator(seed: 2026)
        var kills = 0, maxAcked = 0
        for _ in 0..<20 {
            // Each run re-reads the input from the start (earlier lines are duplicates, acked quickly);
            // kill it 1–5 batches past the last durable point, at a random moment within the next batch.
            let (acked, killed) = try ingestAndKill(input: input, log: logPath, acks: maxAcked / 500 + 1 + rng.nextInt(below: 5),
                                                    delay: rng.nextDouble() * 0.02)
            if killed { kills += 1 }
            maxAcked = max(maxAcked, acked)
            // Everything acknowledged, in this run or before, is durable.
            let log = try openEventLog(logPath)
            let present = try log.contains(ids: Array(ids.prefix(maxAcked)))
            #expect(present.allSatisfy { $0 }, "kill \(kills): \(present.filter { !$0 }.count) acknowledged events missing")
        }
        #expect(kills == 20, "\(20 - kills) runs finished before the kill")
        #expect(maxAcked > 5_000 && maxAcked < ids.count)
        // A final run completes the log: every event once.
        let final = rummage("ingest", "--from", input, "--log", logPath, "--json", "--quiet")
        #expect(final.code == 0, "\(final.err)")
        let log = try openEventLog(logPath)
        var stored: [String] = []
        try log.readAll { stored.append($0.id) }
        #expect(stored.count == ids.count)
        #expect(Set(stored) == Set(ids))
    }
}
