import Events
import Foundation
import LinearAlgebra
import MatrixFactorization
import Registry
import RummageCore
import RummageTestSupport
import Serving
import Training
import VectorSearch

/// A registry of small, hand-made deployable versions (a random matrix-factorisation model, its
/// embeddings and an exact-enough HNSW index over every listing), and ways to register broken ones: the
/// service under test needs no pipeline and no CLI.
struct BundleFixture {
    let dir: String
    let registry: ModelRegistry
    static let model = "tiny"
    static let users = 40, items = 300, width = 8

    init() {
        dir = Fixtures.temporaryDirectory("rummage-serving")
        registry = ModelRegistry(root: dir + "/registry")
    }

    var userIDs: [String] { (0..<Self.users).map { "u\($0)" } }
    var itemIDs: [String] { (0..<Self.items).map { "l\($0)" } }

    /// Unit-length random rows.
    static func vectors(_ rows: Int, seed: UInt64) -> Matrix {
        var rng = SeededGenerator(seed: seed)
        var storage: [Float] = []
        for _ in 0..<rows {
            let row = (0..<width).map { _ in Float.random(in: -1...1, using: &rng) }
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            storage += row.map { $0 / norm }
        }
        return Matrix(rows: rows, columns: width, storage: storage)
    }

    /// The parts of a consistent version trained with `seed`.
    struct Parts {
        var model: FactorizationModel
        var users: EmbeddingSet
        var items: EmbeddingSet
        var index: HNSWIndex
    }

    func parts(seed: UInt64) -> Parts {
        let userVectors = Self.vectors(Self.users, seed: seed), itemVectors = Self.vectors(Self.items, seed: seed + 1_000)
        let index = HNSWIndex(dimension: Self.width)
        index.add(ids: (0..<Int64(Self.items)).map { $0 }, vectors: itemVectors)
        return Parts(model: FactorizationModel(algorithm: "ials", userFactors: userVectors, itemFactors: itemVectors),
                     users: EmbeddingSet(entity: "users", ids: userIDs, vectors: userVectors),
                     items: EmbeddingSet(entity: "items", ids: itemIDs, vectors: itemVectors), index: index)
    }

    /// Registers `parts` as the next version; `tamper` may rewrite any staged file before registration
    /// (the registry then records the tampered file's checksum, as a careless or hostile publisher would).
    @discardableResult
    func register(_ parts: Parts, tamper: (_ staging: String) throws -> Void = { _ in }) throws -> Int {
        let staging = Fixtures.temporaryDirectory("rummage-staging")
        let modelPath = staging + "/" + ServingBundle.File.model.rawValue
        try parts.model.save(to: modelPath)
        var files = try ServingBundle.write(users: parts.users, items: parts.items, index: parts.index,
                                            modelSHA256: try SHA256Hasher.hex(ofFile: modelPath), to: staging)
        files[ServingBundle.File.model.rawValue] = modelPath
        try tamper(staging)
        let manifest = Manifest(model: Self.model, version: 0, kind: "ials", configuration: [:], seed: 1, threads: 1,
                                dataFingerprint: "fixture", data: "fixture", featureSetVersion: nil, codeVersion: "test",
                                toolchain: "swift", hardware: "cpu", metrics: [:], artifacts: [:],
                                createdAt: "2026-11-27T00:00:00Z", parent: nil, blessed: true, gateReport: nil)
        return try registry.register(manifest, artifacts: files).version
    }

    /// The service over the registry's `champion`, with an event log in which every listing of the
    /// fixture was created at `createdAt` (listing `i` by user `i` modulo the user count) and nothing
    /// else happened.
    func service(createdAt: Int64 = 1_774_000_000) throws -> RecommendationService {
        let log = try SQLiteEventLog(path: dir + "/events.sqlite")
        if try log.count() == 0 {
            _ = try EventIngestor(log: log).ingest(itemIDs.enumerated().map { i, item in
                Event(id: "created-\(item)", type: .listingCreated, timestamp: createdAt, user: UserID(userIDs[i % Self.users]), item: ItemID(item))
            })
        }
        return try RecommendationService(registry: registry, model: Self.model, reference: "champion", log: log,
                                         loadModel: { try FactorizationModel.load(from: $0) })
    }
}

/// An index file whose header claims `count` nodes, with a valid checksum: what a truncated write that
/// was re-checksummed, or a hostile publisher, leaves.
func forgedIndex(count: UInt64, stamp: String, dimension: Int, at path: String) throws {
    var w = ArtifactWriter(kind: HNSWIndex.artifactKind)
    w.append(stamp)
    w.append(UInt32(dimension))
    w.append(UInt32(16)); w.append(UInt32(200)); w.append(UInt32(64)); w.append(0.3); w.append(UInt64(42))
    w.append(count)
    for id in 0..<Int64(4) { w.append(id); w.append(UInt8(0)) }
    try w.write(to: path)
}

/// Embeddings whose header claims `count` ids, with a valid checksum.
func forgedEmbeddings(count: UInt64, entity: String, at path: String) throws {
    var w = ArtifactWriter(kind: EmbeddingSet.artifactKind)
    w.append(entity)
    w.append(count)
    for id in 0..<4 { w.append("x\(id)") }
    try w.write(to: path)
}
