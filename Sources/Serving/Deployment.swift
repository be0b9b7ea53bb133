import Datasets
import Events
import Features
import Foundation
import LinearAlgebra
import Registry
import RummageCore
import Synchronization
import Training
import TwoTower
import VectorSearch

/// One loaded model version: its embeddings, its index (checked to be built from the same model), and
/// the listings created since, embedded by this model's item tower. Replaced whole on a hot swap.
final class Deployment: Sendable {
    struct NewListings {
        var next: Int64
        var idOfItem: [String: Int64] = [:]
        var itemOfID: [Int64: String] = [:]
        var vectors: [Int64: [Float]] = [:]
    }

    let version: Int
    let manifest: Manifest
    let users: [String: Int]
    let userVectors: Matrix
    let itemIDs: [String]
    let itemOfID: [String: Int64]
    let itemVectors: Matrix
    let index: HNSWIndex
    let twoTower: TwoTowerModel?
    /// For a two-tower model whose user tower reads online features (`features=true`): how feature values
    /// become its bags. Nil otherwise.
    let userFeatureTokens: FeatureTokens?
    /// Served-score drift against this version's own answers when it was brought up to date, and catalog
    /// coverage. Set once, by `RecommendationService.prepare`.
    private let qualityReference = AtomicLazyReference<ServingQuality>()
    var quality: ServingQuality? { qualityReference.load() }

    func setQuality(_ quality: () -> ServingQuality) {
        if qualityReference.load() == nil { _ = qualityReference.storeIfNil(quality()) }
    }
    /// Creation time of the newest listing in the index (`Int64.min` before any is known).
    let newestListingTime = Atomic<Int64>(Int64.min)
    private let newListings: Mutex<NewListings>

    /// Loads version `reference` of `model`, verifying every artifact's checksum and the index's stamp.
    init(registry: ModelRegistry, model: String, reference: String) throws {
        let version = try registry.resolve(model, reference)
        let paths = try registry.verify(model, version)
        let manifest = try registry.manifest(model, version)
        guard let modelPath = paths["model.rmg"], let indexPath = paths["index.rmg"], let itemsPath = paths["item_embeddings.rmg"],
              let usersPath = paths["user_embeddings.rmg"] else {
            throw ServingError("\(model) v\(version) lacks model.rmg, index.rmg or embeddings: re-run its pipeline")
        }
        let (index, stamp) = try HNSWIndex.load(from: indexPath)
        guard stamp == "model.rmg sha256 \(manifest.artifacts["model.rmg"] ?? "")" else {
            throw ServingError("\(indexPath) was built from another model (\(stamp)); refusing to serve it")
        }
        let items = try EmbeddingSet.load(from: itemsPath), users = try EmbeddingSet.load(from: usersPath)
        self.version = version
        self.manifest = manifest
        self.users = Dictionary(uniqueKeysWithValues: users.ids.enumerated().map { ($1, $0) })
        userVectors = users.vectors
        itemIDs = items.ids
        itemOfID = Dictionary(uniqueKeysWithValues: items.ids.enumerated().map { ($1, Int64($0)) })
        itemVectors = items.vectors
        self.index = index
        let twoTower = manifest.kind == "two-tower" ? try TwoTowerModel.load(from: modelPath) : nil
        self.twoTower = twoTower
        if let fields = twoTower?.userDynamicFields, !fields.isEmpty {
            userFeatureTokens = FeatureTokens(items: IDMap(items.ids.map { ItemID($0) }),
                                              categories: IDMap(fields.first { !$0.vocabulary.isEmpty }?.vocabulary ?? []))
        } else {
            userFeatureTokens = nil
        }
        newListings = Mutex(NewListings(next: Int64(items.ids.count)))
    }

    /// Notes that a listing created at `time` is in the index (for the staleness gauge).
    func noteListing(createdAt time: Int64) {
        var seen = newestListingTime.load(ordering: .relaxed)
        while time > seen {
            let (exchanged, current) = newestListingTime.compareExchange(expected: seen, desired: time, ordering: .relaxed)
            if exchanged { return }
            seen = current
        }
    }

    func itemID(of id: Int64) -> String? {
        Int(id) < itemIDs.count ? itemIDs[Int(id)] : newListings.withLock { $0.itemOfID[id] }
    }

    func id(of item: String) -> Int64? { itemOfID[item] ?? newListings.withLock { $0.idOfItem[item] } }

    func vector(of id: Int64) -> [Float]? {
        Int(id) < itemIDs.count ? Array(itemVectors.row(Int(id))) : newListings.withLock { $0.vectors[id] }
    }

    /// Embeds a listing the model never saw from its content (two-tower only) and adds it to the index.
    func addNewListing(_ event: Event) {
        guard let twoTower, let item = event.item?.value, id(of: item) == nil else { return }
        let names = ListingsFile.featureNames
        let content = [names.map { name in (event.attributes[name] ?? "").split(separator: " ").map(String.init) }]
        let vector = Array(twoTower.embedNewItems(fieldNames: names, content: content).row(0))
        let id = newListings.withLock { s -> Int64 in
            let id = s.next
            s.next += 1
            s.idOfItem[item] = id
            s.itemOfID[id] = item
            s.vectors[id] = vector
            return id
        }
        index.add(ids: [id], vectors: Matrix(rows: 1, columns: vector.count, storage: vector))
    }
}
