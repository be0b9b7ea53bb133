import ArgumentParsing
import Pipeline
import Foundation
import LinearAlgebra
import Registry
import Reporting
import RummageCore
import Training
import VectorSearch

/// `rummage report`: a version's self-contained HTML report.
struct ReportCommand: Command {
    static let configuration = CommandConfiguration(
        name: "report",
        abstract: "Write a model version's report: one self-contained HTML file with SVG plots.",
        discussion: """
        Reads the version from the registry (its manifest, the version it was gated against, its training
        history, user embeddings and index) and writes metrics against that baseline, per-slice bars, the
        training loss (and validation figures) per epoch, a histogram of the top-20 scores of 500 sampled
        users, and the share of the catalog those answers cover. `rummage pipeline run` writes the same
        report into each version as report.html.
        """,
        options: [
            .value("registry", "DIR", help: "Registry directory.", default: ".rummage/registry"),
            .value("model", "NAME", help: "Registered model name.", required: true),
            .value("version", "REF", help: "Version number or alias.", default: "champion"),
            .value("out", "FILE", help: "Where to write the HTML.", default: "report.html"),
        ])

    let registry: ModelRegistry
    let model: String
    let reference: String
    let out: String

    init(_ arguments: ParsedArguments) throws {
        registry = ModelRegistry(root: try arguments.requiredString("registry"))
        model = try arguments.requiredString("model")
        reference = try arguments.requiredString("version")
        out = try arguments.requiredString("out")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let version = try registry.resolve(model, reference)
        let manifest = try registry.manifest(model, version)
        let paths = try registry.verify(model, version)
        let baseline = try manifest.parent.map { parent throws(RegistryError) in try registry.manifest(model, parent) }
        var history: [TrainingHistory.Step] = []
        if let path = paths[VersionReport.historyArtifact], let data = FileManager.default.contents(atPath: path) {
            history = try JSONDecoder().decode([TrainingHistory.Step].self, from: data)
        }
        let users = try paths["user_embeddings.rmg"].map { try EmbeddingSet.load(from: $0).vectors }
        let index = try paths["index.rmg"].map { try HNSWIndex.load(from: $0).index }
        let report = VersionReport.make(manifest: manifest, baseline: baseline, history: history, users: users, index: index)
        try TextFile.write(Array(report.html.utf8), to: out)
        console.result("wrote \(out): \(model) v\(version) against \(baseline.map { "v\($0.version)" } ?? "no baseline")")
    }
}
