import Foundation
import LinearAlgebra
import Pipeline
import Registry
import RummageCore
import RummageTestSupport
import Testing
import Training
import VectorSearch

/// Issue [11/19]'s acceptance: a two-tower model trained on a generated marketplace, its index built by
/// the pipeline's index step, which chooses the search width; the saved index, searched at that width
/// for every one of the model's users (most of them not in the sample the width was chosen on), holds
/// recall@20 ≥ 0.95 against exact search, with and without a category filter.
@Suite struct IndexRecallTests {
    @Test func theSavedIndexHoldsTheRecallTargetAtItsChosenWidth() throws {
        let dir = Fixtures.temporaryDirectory("rummage-index-recall")
        let data = PipelineConfig.DataSource(generate: .init(out: dir + "/data", users: 3_000, items: 8_000, events: 120_000, seed: 5))
        let snapshot = try Pipeline.snapshot(data, progress: { _ in })
        let trained = try Pipeline.train(.init(kind: "two-tower", settings: ["content": "true", "id_dropout": "0.5", "epochs": "4",
                                                                          "validation_users": "0"], seed: 7, threads: 1),
                                         on: snapshot, progress: { _ in })
        let sampleUsers = (0..<500).map { UserIndex($0 * 6) }
        let staging = dir + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let artifacts = try Pipeline.index(trained, snapshot: snapshot, users: sampleUsers, recallTarget: 0.95, staging: staging,
                                           progress: { _ in })
        let calibration = artifacts.indexCalibration
        #expect(calibration.met && calibration.filters > 10, "\(calibration.summary)")

        let (index, _) = try HNSWIndex.load(from: staging + "/" + ServingBundle.File.index.rawValue)
        #expect(index.configuration.efSearch == calibration.searchWidth)
        let users = trained.model.userEmbeddings
        let ids = index.allIDs
        let exact = FlatIndex(dimension: index.dimension)
        exact.add(ids: ids, vectors: Matrix(rows: ids.count, columns: index.dimension, storage: ids.flatMap { index.vector(of: $0)! }))
        let unfiltered = RecallEstimate(perQuery: HNSWIndex.recalls(index.search(users, k: 20, filter: nil), exact.search(users, k: 20, filter: nil))).mean
        #expect(unfiltered >= 0.95, "recall@20 \(unfiltered) at width \(calibration.searchWidth) over \(users.rows) users")
        // Listings of one category, as `where=category:…` asks for them.
        let categories = try #require(snapshot.split.marketplace?.data.itemFeatures.fields.first { $0.name == "category" })
        let inCategory = Set((0..<categories.values.rowCount).filter { categories.values.columns(of: $0).contains(0) }.map { Int64($0) })
        let filter: @Sendable (Int64) -> Bool = { inCategory.contains($0) }
        let filtered = RecallEstimate(perQuery: HNSWIndex.recalls(index.search(users, k: 20, filter: filter), exact.search(users, k: 20, filter: filter))).mean
        #expect(filtered >= 0.95, "recall@20 \(filtered) within category \(categories.vocabulary[0])")
    }
}
