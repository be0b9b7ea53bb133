import ArgumentParsing
import Foundation
import Registry
import RummageTestSupport
import Testing

/// Issue [5/8]'s acceptance on a small generated marketplace: reproducible artifacts and fingerprints,
/// a gate that keeps a worse candidate out, one-command rollback, refused corrupt artifacts, and alias
/// files that survive concurrent promotions by separate processes.
@Suite(.serialized) struct PipelineTests {
    let dir = Fixtures.temporaryDirectory("rummage-pipeline")
    var registry: String { dir + "/registry" }

    /// Writes a pipeline config over `data` and returns its path.
    func config(_ name: String, data: String, settings: [String: String], tolerance: Double = 0.002) -> String {
        let settingsJSON = settings.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")
        return Fixtures.write("""
            {"model": "mp", "registry": "\(registry)", "data": {"dataset": "synthetic:\(data)"},
             "train": {"kind": "two-tower", "settings": {\(settingsJSON)}, "seed": 3, "threads": 1},
             "gate": {"absolute": {"recall@20": 0.001},
                      "relative": {"recall@20": {"direction": "higher", "tolerance": \(tolerance)},
                                   "recall@20[cold-only]": {"direction": "higher", "tolerance": \(tolerance)}},
                      "latency_p99_ms": 1000}}
            """, to: name, in: dir)
    }

    func generate(_ out: String) {
        #expect(rummage("generate", "--out", out, "--users", "1500", "--items", "3000", "--events", "50000", "--seed", "9",
                        "--quiet").code == 0)
    }

    /// Runs the pipeline; exit code 0 when the version is blessed, 3 when registered but not blessed.
    func run(_ config: String) throws -> [String: Any] {
        let result = rummage("pipeline", "run", "--pipeline", config, "--json", "--quiet")
        let json = try lastJSONLine(result.out)
        let blessed = json["blessed"] as? Bool == true
        #expect(result.code == (blessed ? 0 : 3), "\(result.err)")
        if !blessed { #expect(result.err.contains("registered but not blessed") && result.err.hasSuffix("gate.md)\n"), "\(result.err)") }
        return json
    }

    static let good = ["content": "true", "id_dropout": "0.5", "epochs": "3", "validation_users": "0"]
    static let worse = ["epochs": "1", "validation_users": "0", "dimension": "4"]

    @Test func sameConfigSameArtifactAndOneChangedEventChangesTheFingerprint() throws {
        let data = dir + "/data"
        generate(data)
        let first = try run(config("a.json", data: data, settings: Self.good))
        let second = try run(config("a.json", data: data, settings: Self.good))
        #expect(first["artifact_sha256"] as? String == second["artifact_sha256"] as? String)
        #expect((first["artifact_sha256"] as? String)?.count == 64)
        #expect(first["data_fingerprint"] as? String == second["data_fingerprint"] as? String)
        #expect(first["version"] as? Int == 1 && second["version"] as? Int == 2)
        // Change one event's kind (a view becomes a like) in a copy of the data.
        let changed = dir + "/changed"
        try FileManager.default.copyItem(atPath: data, toPath: changed)
        var events = try String(contentsOfFile: changed + "/events.csv", encoding: .utf8)
        let line = try #require(events.range(of: ",view\n"))
        events.replaceSubrange(line, with: ",like\n")
        try events.write(toFile: changed + "/events.csv", atomically: true, encoding: .utf8)
        let third = try run(config("b.json", data: changed, settings: Self.good))
        #expect(third["data_fingerprint"] as? String != first["data_fingerprint"] as? String)
        // Reproducing version 1 rebuilds it bit for bit.
        let reproduced = rummage("pipeline", "reproduce", "--registry", registry, "--model", "mp", "--version", "1", "--json")
        #expect(reproduced.code == 0, "\(reproduced.err)")
        #expect(try lastJSONLine(reproduced.out)["bit_identical"] as? Bool == true)
    }

    @Test func aWorseCandidateIsNotBlessedAndRollbackRestoresTheChampion() throws {
        let data = dir + "/data"
        generate(data)
        let champion = try run(config("good.json", data: data, settings: Self.good))
        #expect(champion["blessed"] as? Bool == true)
        let worse = try run(config("worse.json", data: data, settings: Self.worse))
        #expect(worse["blessed"] as? Bool == false)
        let reg = ModelRegistry(root: registry)
        #expect(reg.aliases("mp")["champion"] == 1)
        let report = try String(contentsOfFile: reg.versionDirectory("mp", 2) + "/gate.md", encoding: .utf8)
        #expect(report.contains("NOT BLESSED") && report.contains("| FAIL |"))
        #expect(rummage("gate", "--registry", registry, "--model", "mp", "--candidate", "2", "--baseline", "champion").code == ExitCode.notBlessed)
        #expect(rummage("gate", "--registry", registry, "--model", "mp", "--candidate", "1", "--baseline", "1").code == 0)
        // Promote the worse one by hand, then roll back in one command.
        #expect(rummage("registry", "promote", "--registry", registry, "--model", "mp", "--version", "2").code == 0)
        #expect(reg.aliases("mp")["champion"] == 2)
        #expect(rummage("registry", "rollback", "--registry", registry, "--model", "mp").code == 0)
        #expect(reg.aliases("mp")["champion"] == 1)
        let diff = try lastJSONLine(rummage("registry", "diff", "--registry", registry, "--model", "mp",
                                            "--version", "1", "--against", "2", "--json").out)
        let configuration = try #require(diff["configuration"] as? [String: Any])
        #expect(configuration["epochs"] != nil && configuration["content"] != nil)
        #expect((diff["metrics"] as? [String: Any])?["recall@20"] != nil)
        // Issue [7/8]: each version carries its HTML report, against the champion it was gated against;
        // `rummage report` writes the same from the registry.
        let stored = try String(contentsOfFile: reg.versionDirectory("mp", 2) + "/report.html", encoding: .utf8)
        #expect(stored.contains("<h1>mp v2</h1>") && stored.contains("Metrics against mp v1") && stored.contains("not blessed"))
        #expect(stored.contains("Training loss per epoch") && stored.contains("per slice") && stored.contains("Top-20 scores of"))
        #expect(stored.contains("% of the indexed listings appear"))
        #expect(stored.components(separatedBy: "<svg ").count - 1 >= 5)
        let out = dir + "/report-v1.html"
        #expect(rummage("report", "--registry", registry, "--model", "mp", "--version", "1", "--out", out).code == 0)
        let first = try String(contentsOfFile: out, encoding: .utf8)
        #expect(first.contains("<h1>mp v1</h1>") && first.contains("Training loss per epoch") && !first.contains("Metrics against"))
    }

    @Test func corruptArtifactsAreRefused() throws {
        let data = dir + "/data"
        generate(data)
        _ = try run(config("good.json", data: data, settings: Self.good))
        let model = ModelRegistry(root: registry).versionDirectory("mp", 1) + "/model.rmg"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: model))
        let promote = rummage("registry", "promote", "--registry", registry, "--model", "mp", "--version", "1")
        #expect(promote.code == ExitCode.dataError && promote.err.contains("checksum mismatch"), "\(promote.err)")
        #expect(rummage("gate", "--registry", registry, "--model", "mp", "--candidate", "1", "--baseline", "1").code == ExitCode.notBlessed)
    }

    /// 24 `rummage registry promote` processes at once, alternating versions 1 and 2: the alias
    /// file is always whole, and the history holds every move.
    @Test func concurrentPromotionsNeverBreakTheAliasFile() throws {
        let data = dir + "/data"
        generate(data)
        _ = try run(config("a.json", data: data, settings: Self.good))
        _ = try run(config("a.json", data: data, settings: Self.good))
        let before = ModelRegistry(root: registry).history("mp").count
        let processes = (0..<24).map { k -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: IngestCrashTests.executable)
            p.arguments = ["registry", "promote", "--registry", registry, "--model", "mp", "--version", "\(1 + k % 2)"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let text = try Data(contentsOf: URL(fileURLWithPath: registry + "/mp/aliases.json"))
        let aliases = try #require(try JSONSerialization.jsonObject(with: text) as? [String: Int])
        #expect([1, 2].contains(aliases["champion"] ?? 0))
        let history = ModelRegistry(root: registry).history("mp")
        #expect(history.count == before + 24)
        // Each move starts where the previous one ended: the lock serialised them.
        for (a, b) in zip(history.dropLast(), history.dropFirst()) where b.alias == "champion" { #expect(b.from == a.to) }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: registry + "/mp").filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }
}
