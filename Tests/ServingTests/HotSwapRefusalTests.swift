import Foundation
import LinearAlgebra
import Registry
import RummageAPI
import RummageClient
import RummageCore
import RummageTestSupport
import Serving
import Synchronization
import Testing
import Training
import VectorSearch

/// A version whose checksums are right but whose parts are inconsistent or hostile is refused on hot
/// swap with a clear error, and the serving version keeps answering: 0 failed requests under load.
@Suite(.serialized) struct HotSwapRefusalTests {
    /// Each broken version: what is done to the staged files, and a phrase the refusal must contain.
    static func brokenVersions(_ f: BundleFixture) -> [(name: String, parts: BundleFixture.Parts, tamper: (String) throws -> Void, says: String)] {
        let good = f.parts(seed: 1)
        func stamp(_ staging: String) throws -> String {
            ServingBundle.indexStamp(modelSHA256: try SHA256Hasher.hex(ofFile: staging + "/" + ServingBundle.File.model.rawValue))
        }
        let indexFile = ServingBundle.File.index.rawValue
        var duplicateUser = good
        duplicateUser.users.ids[1] = "u0"
        var narrowUsers = good
        narrowUsers.users = EmbeddingSet(entity: "users", ids: f.userIDs,
                                         vectors: Matrix(rows: BundleFixture.users, columns: 4, storage: [Float](repeating: 0.5, count: BundleFixture.users * 4)))
        var strayIndex = good
        strayIndex.index = HNSWIndex(dimension: BundleFixture.width)
        strayIndex.index.add(ids: [0, 1, 50_000], vectors: Matrix(rows: 3, columns: BundleFixture.width,
                                                                  storage: Array(good.items.vectors.storage.prefix(3 * BundleFixture.width))))
        var nonFinite = good
        nonFinite.items.vectors = Matrix(rows: BundleFixture.items, columns: BundleFixture.width,
                                         storage: [Float.nan] + good.items.vectors.storage.dropFirst())
        return [
            ("index of 2^63 nodes", good, { s in
                try forgedIndex(count: 1 << 63, stamp: try stamp(s), dimension: BundleFixture.width, at: s + "/" + indexFile) }, "implausible count"),
            ("index of a billion nodes", good, { s in
                try forgedIndex(count: 1_000_000_000, stamp: try stamp(s), dimension: BundleFixture.width, at: s + "/" + indexFile) }, "implausible count"),
            ("truncated index", good, { s in
                let bytes = try TextFile(path: s + "/" + indexFile).bytes
                try TextFile.write(Array(bytes.prefix(bytes.count / 2)), to: s + "/" + indexFile) }, "truncated"),
            ("item embeddings of 2^62 ids", good, { s in
                try forgedEmbeddings(count: 1 << 62, entity: "items", at: s + "/" + ServingBundle.File.itemEmbeddings.rawValue) }, "implausible count"),
            ("a user id twice", duplicateUser, { _ in }, "lists an id twice (u0)"),
            ("users narrower than the index", narrowUsers, { _ in }, "widths disagree"),
            ("an indexed id that is no listing", strayIndex, { _ in }, "holds id 50000"),
            ("a NaN in the item embeddings", nonFinite, { _ in }, "not finite"),
            ("an index built from another model", good, { s in
                try good.index.save(to: s + "/" + indexFile, stamp: ServingBundle.indexStamp(modelSHA256: "0000")) }, "built from another model"),
        ]
    }

    @Test func brokenVersionsAreRefusedWhileTheServingOneAnswersEveryRequest() throws {
        let f = BundleFixture()
        let v1 = try f.register(f.parts(seed: 1))
        try f.registry.setAlias(BundleFixture.model, "champion", to: v1)
        let service = try f.service()
        var options = ServerApplication.Options()
        options.access = AccessPolicy(keys: [try AccessPolicy.key(name: "ops", scopes: [.admin, .recommend, .metrics], key: "hot-swap-test-key-0123")])
        let server = try ServerApplication(service: service, options: options)
        defer { server.stop() }

        // Load: three clients asking for recommendations until told to stop.
        let port = server.port
        let stop = Atomic<Bool>(false), answered = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let load = DispatchGroup()
        for c in 0..<3 {
            DispatchQueue.global().async(group: load) {
                let client = RummageClient(port: port, apiKey: "hot-swap-test-key-0123")
                var i = c
                while !stop.load(ordering: .relaxed) {
                    do {
                        let answer = try client.recommendations(user: "u\(i % BundleFixture.users)", k: 10)
                        if answer.items.count != 10 { failures.withLock { $0.append("\(answer.items.count) items") } }
                        answered.add(1, ordering: .relaxed)
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                    i += 3
                }
            }
        }

        let admin = RummageClient(port: server.port, apiKey: "hot-swap-test-key-0123")
        for broken in Self.brokenVersions(f) {
            let version = try f.register(broken.parts, tamper: broken.tamper)
            let before = answered.load(ordering: .relaxed)
            #expect(throws: (any Error).self, "\(broken.name)") {
                do { _ = try admin.reload(alias: "\(version)") } catch {
                    guard case RummageClientError.http(let status, let message) = error else { throw error }
                    #expect(status == 409, "\(broken.name): \(status) \(message)")
                    #expect(message.contains(broken.says) && message.contains("still serving v\(v1)"), "\(broken.name): \(message)")
                    throw error
                }
            }
            #expect(service.modelVersion == v1)
            // Requests keep flowing between swaps.
            while answered.load(ordering: .relaxed) < before + 20 { Thread.sleep(forTimeInterval: 0.001) }
        }
        // A sound version still swaps in.
        let v2 = try f.register(f.parts(seed: 2))
        #expect(try admin.reload(alias: "\(v2)").to == v2)
        #expect(try admin.recommendations(user: "u3").modelVersion == v2)
        stop.store(true, ordering: .relaxed)
        load.wait()
        let failed = failures.withLock { $0 }
        #expect(failed.isEmpty, "\(failed.count) failed requests, e.g. \(failed.prefix(3))")
        #expect(answered.load(ordering: .relaxed) > 9 * 20)
        #expect(try admin.metrics().contains(#"rummage_model_reloads_total{alias="champion",outcome="failed"} 9"#))
    }

    @Test func aBrokenVersionIsRefusedAtStartWithTheSameReason() throws {
        let f = BundleFixture()
        for broken in Self.brokenVersions(f) {
            let version = try f.register(broken.parts, tamper: broken.tamper)
            #expect(throws: ServingBundleError.self, "\(broken.name)") {
                do { _ = try ServingBundle.load(registry: f.registry, model: BundleFixture.model, reference: "\(version)") } catch let error as ServingBundleError {
                    #expect(error.message.contains(broken.says), "\(broken.name): \(error.message)")
                    throw error
                }
            }
        }
        let sound = try f.register(f.parts(seed: 3))
        let bundle = try ServingBundle.load(registry: f.registry, model: BundleFixture.model, reference: "\(sound)")
        #expect(bundle.index.count == BundleFixture.items && bundle.users.ids == f.userIDs)
    }
}
