import Foundation
import Registry
import RummageCore

/// Steps over versions already in a registry: reproduce one from its manifest, gate one against another.
extension Pipeline {
    /// How a re-run of a registered version compares with it.
    public struct Reproduction: Sendable {
        public var version: Int
        public var threads: Int
        public var sameData: Bool
        public var bitIdentical: Bool
        /// The largest absolute difference between a registered metric and the re-run's.
        public var worstMetricDifference: Double
        /// Same data, and a bit-identical model or every metric within the tolerance.
        public var reproduced: Bool
    }

    /// Re-runs version `reference` of `model` from its stored pipeline.json into a scratch registry (the
    /// real one is not touched) and compares the data fingerprint, the model artifact and the metrics.
    public static func reproduce(registry: ModelRegistry, model: String, reference: String, tolerance: Double,
                                 progress: @escaping @Sendable (String) -> Void) throws -> Reproduction {
        let version = try registry.resolve(model, reference)
        let manifest = try registry.manifest(model, version)
        let paths = try registry.verify(model, version)
        guard let configPath = paths["pipeline.json"] else { throw RegistryError("version \(version) has no pipeline.json to re-run") }
        var config = try PipelineConfig.load(path: configPath)
        let scratch = NSTemporaryDirectory() + "rummage-reproduce-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        config.registry = scratch
        let again = try Pipeline(config: config, progress: progress).run()
        let identical = again.modelSHA256 == manifest.artifacts[ServingBundle.File.model.rawValue]
        let worst = manifest.metrics.map { abs((again.manifest.metrics[$0.key] ?? .infinity) - $0.value) }.max() ?? 0
        let sameData = again.manifest.dataFingerprint == manifest.dataFingerprint
        return Reproduction(version: version, threads: manifest.threads, sameData: sameData, bitIdentical: identical,
                            worstMetricDifference: worst, reproduced: sameData && (identical || worst <= tolerance))
    }

    /// The gate for a registered candidate against a baseline: the policy of `configPath` (default: the
    /// candidate's own pipeline.json), the candidate's metrics against the baseline's, its artifacts
    /// re-verified, its model loaded, and its scoring latency measured on this machine.
    public static func gateRegistered(registry: ModelRegistry, model: String, candidate: String, baseline: String,
                                      configPath: String?) throws -> GateReport {
        let c = try registry.resolve(model, candidate)
        let candidateManifest = try registry.manifest(model, c)
        let b = try? registry.resolve(model, baseline)
        let baselineMetrics = try b.map { version throws(RegistryError) in
            (name: "\(model) v\(version) (\(baseline))", metrics: try registry.manifest(model, version).metrics)
        }
        var loads: (passed: Bool, detail: String)
        var latency = Double.infinity
        var policy = GatePolicy()
        do {
            let paths = try registry.verify(model, c)
            policy = try PipelineConfig.load(path: configPath ?? (paths["pipeline.json"] ?? "")).gate
            guard let modelPath = paths[ServingBundle.File.model.rawValue] else { throw RegistryError("version \(c) has no model.rmg") }
            let loaded = try ModelCatalog.load(path: modelPath)
            loads = (true, "checksums match; model.rmg loads")
            let users = (0..<min(300, loaded.userCount)).map { UserIndex(Int32($0)) }
            latency = scoringLatencyP99(loaded, users: users)
        } catch {
            loads = (false, "\(error)")
        }
        return GateReport.evaluate(policy: policy, candidate: "\(model) v\(c)", metrics: candidateManifest.metrics,
                                   baseline: baselineMetrics, latencyP99Milliseconds: latency, loadsAndAnswers: loads)
    }
}
