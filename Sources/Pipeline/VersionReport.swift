import Foundation
import LinearAlgebra
import Registry
import Reporting
import Training
import VectorSearch

/// Builds a version's `ModelReport` from what the pipeline stores with it.
public enum VersionReport {
    /// `history` and the embeddings come from the version's artifacts when not given (the pipeline passes
    /// what it has in hand); `baseline` is the version it was gated against.
    public static func make(manifest: Manifest, baseline: Manifest?, history: [TrainingHistory.Step], users: Matrix?, index: (any VectorIndex)?)
        -> ModelReport {
        var scores: [Double] = [], coverage: Double? = nil
        if let users, let index {
            let answers = index.sampledAnswers(users)
            scores = answers.scores.map(Double.init)
            coverage = index.count > 0 ? Double(answers.ids.count) / Double(index.count) : nil
        }
        return ModelReport(model: manifest.model, version: manifest.version, kind: manifest.kind, createdAt: manifest.createdAt,
                           dataFingerprint: manifest.dataFingerprint, codeVersion: manifest.codeVersion,
                           configuration: manifest.configuration, metrics: manifest.metrics,
                           baseline: baseline.map { ("\($0.model) v\($0.version)", $0.metrics) },
                           history: history.map { ModelReport.Step(step: $0.step, values: $0.values) },
                           servedScores: scores, coverage: coverage, blessed: manifest.blessed)
    }

    public static let historyArtifact = "training_history.json"

    public static func encode(_ history: [TrainingHistory.Step]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(history)
    }
}
