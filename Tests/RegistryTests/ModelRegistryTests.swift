import Foundation
import Registry
import RummageCore
import RummageTestSupport
import Testing

@Suite struct ModelRegistryTests {
    func manifest(_ model: String = "m", metrics: [String: Double] = ["recall@20": 0.1]) -> Manifest {
        Manifest(model: model, version: 0, kind: "two-tower", configuration: ["epochs": "3"], seed: 1, threads: 1,
                 dataFingerprint: "abc", data: "synthetic:x", featureSetVersion: nil, codeVersion: "test", toolchain: "swift",
                 hardware: "cpu", metrics: metrics, artifacts: [:], createdAt: "2026-01-01T00:00:00Z", parent: nil,
                 blessed: true, gateReport: nil)
    }

    /// A registry with two versions of model "m", each holding one artifact `model.rmg`.
    func twoVersions() throws -> (ModelRegistry, String) {
        let dir = Fixtures.temporaryDirectory("rummage-registry")
        let registry = ModelRegistry(root: dir + "/registry")
        for content in ["first model", "second model"] {
            let source = Fixtures.write(content, to: "model.rmg", in: dir)
            _ = try registry.register(manifest(), artifacts: ["model.rmg": source])
        }
        return (registry, dir)
    }

    @Test func versionsAreNumberedAndArtifactsChecksummed() throws {
        let (registry, _) = try twoVersions()
        #expect(registry.models() == ["m"] && registry.versions("m") == [1, 2])
        let second = try registry.manifest("m", 2)
        #expect(second.version == 2)
        #expect(second.artifacts["model.rmg"] == SHA256Hasher.hex(of: Array("second model".utf8)))
        // The SHA-256 of "abc" (FIPS 180-2 test vector) through the same hasher.
        #expect(SHA256Hasher.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try registry.verify("m", 2)["model.rmg"] != nil)
    }

    @Test(arguments: ["flip", "truncate", "delete"])
    func damagedArtifactsAreRefused(damage: String) throws {
        let (registry, _) = try twoVersions()
        let path = registry.versionDirectory("m", 1) + "/model.rmg"
        switch damage {
        case "flip": try Data("first modeL".utf8).write(to: URL(fileURLWithPath: path))
        case "truncate": try Data("first".utf8).write(to: URL(fileURLWithPath: path))
        default: try FileManager.default.removeItem(atPath: path)
        }
        #expect { try registry.verify("m", 1) } throws: { error in
            let text = String(describing: error)
            return text.contains(damage == "delete" ? "missing or unreadable" : "checksum mismatch")
        }
        #expect(throws: Never.self) { try registry.verify("m", 2) }
    }

    @Test func aliasesMoveWithHistoryAndRollBack() throws {
        let (registry, _) = try twoVersions()
        try registry.setAlias("m", "champion", to: 1, who: "ci")
        try registry.setAlias("m", "champion", to: 2, who: "ci")
        try registry.setAlias("m", "challenger", to: 1, who: "ci")
        #expect(registry.aliases("m") == ["champion": 2, "challenger": 1])
        #expect(try registry.resolve("m", "champion") == 2 && registry.resolve("m", "1") == 1)
        #expect(registry.history("m").map(\.to) == [1, 2, 1])
        #expect(registry.history("m")[1].from == 1 && registry.history("m")[1].who == "ci")
        #expect(try registry.rollback("m", "champion", who: "ci") == 1)
        #expect(registry.aliases("m")["champion"] == 1)
        #expect(throws: RegistryError.self) { try registry.setAlias("m", "champion", to: 9) }
        #expect(throws: RegistryError.self) { try registry.setAlias("m", "12", to: 1) }
        #expect(throws: RegistryError.self) { try registry.resolve("m", "nope") }
    }
}

@Suite struct GateTests {
    let policy = GatePolicy(absolute: ["recall@20": 0.05],
                            relative: ["recall@20": .init(direction: .higher, tolerance: 0.01),
                                       "recall@20[cold]": .init(direction: .higher, tolerance: 0.005),
                                       "latency": .init(direction: .lower, tolerance: 1)],
                            latencyP99Milliseconds: 10)
    let champion = (name: "m v1", metrics: ["recall@20": 0.20, "recall@20[cold]": 0.10, "latency": 5.0])

    /// An index that met the default recall target.
    let index = ["index_recall@20": 0.96, "index_recall@20_lower": 0.955, "index_recall@20[filtered]": 0.97,
                 "index_recall@20[filtered]_lower": 0.965, "index_search_width": 120.0]

    func gate(_ metrics: [String: Double], baseline: Bool = true, p99: Double = 1) -> GateReport {
        GateReport.evaluate(policy: policy, candidate: "m v2", metrics: metrics.merging(index) { new, _ in new },
                            baseline: baseline ? champion : nil, latencyP99Milliseconds: p99, loadsAndAnswers: (true, "ok"))
    }

    @Test func withinToleranceIsBlessed() {
        #expect(gate(["recall@20": 0.195, "recall@20[cold]": 0.096, "latency": 5.9]).blessed)
    }

    @Test func worseOnAnyGatedSliceIsNotBlessed() {
        let report = gate(["recall@20": 0.25, "recall@20[cold]": 0.09, "latency": 5])
        #expect(!report.blessed)
        #expect(report.checks.filter { !$0.passed }.map(\.name) == ["recall@20[cold] ≥ baseline − 0.005"])
        #expect(report.markdown.contains("NOT BLESSED") && report.markdown.contains("| FAIL |"))
        #expect(!gate(["recall@20": 0.2, "recall@20[cold]": 0.1, "latency": 6.5]).blessed)  // lower is better
    }

    @Test func absoluteFloorsLatencyAndMissingMetrics() {
        #expect(!gate(["recall@20": 0.04, "recall@20[cold]": 0.1, "latency": 5], baseline: false).blessed)
        #expect(gate(["recall@20": 0.06], baseline: false).blessed)  // no baseline: relative checks pass
        #expect(!gate(["recall@20": 0.2, "recall@20[cold]": 0.1, "latency": 5], p99: 11).blessed)
        #expect(!gate(["recall@20": 0.2, "latency": 5]).blessed)  // a gated slice is missing
    }

    /// [11/19]: an index that cannot reach the recall target at its search width, unfiltered or filtered,
    /// is refused; the target defaults to 0.95 and is read from `index_recall_target`.
    @Test func indexBelowTheRecallTargetIsRefused() throws {
        let good = ["recall@20": 0.2, "recall@20[cold]": 0.1, "latency": 5.0]
        let passing = gate(good).checks.first { $0.name.hasPrefix("index recall@20") }
        #expect(passing?.passed == true
                && passing?.detail == "recall 0.9600 (≥ 0.9550 at 95 %), filtered 0.9700 (≥ 0.9650 at 95 %) at search width 120")
        // The lower confidence bound decides; versions that recorded only the measurement are held to it.
        let older = ["index_recall@20": 0.951]
        #expect(GateReport.indexRecallCheck(target: 0.95, metrics: older).passed)
        for failing in [["index_recall@20_lower": 0.949], ["index_recall@20[filtered]_lower": 0.93]] {
            let report = gate(good.merging(failing) { $1 })
            #expect(!report.blessed && report.checks.filter { !$0.passed }.map(\.name) == ["index recall@20 ≥ 0.95 at its search width"])
        }
        let noIndex = GateReport.evaluate(policy: policy, candidate: "m v2", metrics: good, baseline: nil, latencyP99Milliseconds: 1,
                                          loadsAndAnswers: (true, "ok"))
        #expect(!noIndex.blessed)
        let decoded = try JSONDecoder().decode(GatePolicy.self, from: Data(#"{"absolute": {}, "index_recall_target": 0.99}"#.utf8))
        #expect(decoded.indexRecallTarget == 0.99 && decoded.relative.isEmpty)
        #expect(try JSONDecoder().decode(GatePolicy.self, from: Data("{}".utf8)).indexRecallTarget == 0.95)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(GatePolicy.self, from: Data(#"{"index_recall_target": 1.5}"#.utf8)) }
    }
}
