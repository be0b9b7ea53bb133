import Catalogue
import Events
import Features
import LinearAlgebra
import Registry
import RummageCore
import Synchronization
import Training
import VectorSearch

/// Turns a version's model artifact into the loaded model, or nil when the version serves from its
/// embeddings alone; the caller knows the model kinds (the CLI passes the model catalogue's
/// `loadForServing`), serving only uses the capabilities it finds.
public typealias ModelLoader = @Sendable (_ path: String) throws -> (any Recommender)?

/// One loaded model version: its embeddings, its index (a checked `ServingBundle`), the capabilities its
/// model has, and the listings created since, embedded from their content. Replaced whole on a hot swap.
///
/// Indexed ids are rows of the item embeddings; listings created after training get ids from
/// `itemIDs.count` on. Only `EventIntake`, `DeploymentSlots` (preparing) and the eligibility
/// check's caller change the index; reads never do.
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
    /// The version's index, searching with the width its version chose for the gate's recall target.
    let index: HNSWIndex
    /// The model's cold-start capability: listings it never saw are embedded from their content. Nil:
    /// such listings are not indexed by this version.
    let contentModel: (any ContentEmbeddingModel)?
    /// The model's request-time user side, when it reads online features (with how feature values become
    /// its bags). Nil: the stored user rows, moved towards recent listings (`OnlineSignals.query`).
    let userModel: (model: any RequestTimeUserModel, tokens: FeatureTokens)?
    /// The catalogue schema the version's data was read with: new listings' content tokens come from it,
    /// as in training (derived fields such as a price band computed from the price). Nil for versions
    /// without one: attributes are split on spaces.
    let schema: CatalogueSchema?
    /// Served-score drift against this version's own answers when it was brought up to date, and catalog
    /// coverage. Set once, by `DeploymentSlots` when it prepares the version.
    private let qualityReference = AtomicLazyReference<ServingQuality>()
    var quality: ServingQuality? { qualityReference.load() }

    func setQuality(_ quality: () -> ServingQuality) {
        if qualityReference.load() == nil { _ = qualityReference.storeIfNil(quality()) }
    }
    /// Creation time of the newest listing in the index (`Int64.min` before any is known).
    let newestListingTime = Atomic<Int64>(Int64.min)
    private let newListings: Mutex<NewListings>

    /// Loads version `reference` of `model` (`ServingBundle.load`: checksums and cross-checks), and its
    /// model through `loadModel`.
    convenience init(registry: ModelRegistry, model: String, reference: String, loadModel: ModelLoader) throws {
        let bundle = try ServingBundle.load(registry: registry, model: model, reference: reference)
        let loaded: (any Recommender)?
        do { loaded = try loadModel(bundle.modelPath) } catch { throw ServingError("\(model) v\(bundle.version): \(error)") }
        try self.init(bundle: bundle, model: loaded)
    }

    init(bundle: ServingBundle, model: (any Recommender)?) throws {
        version = bundle.version
        manifest = bundle.manifest
        users = Dictionary(uniqueKeysWithValues: bundle.users.ids.enumerated().map { ($1, $0) })
        userVectors = bundle.users.vectors
        itemIDs = bundle.items.ids
        itemOfID = Dictionary(uniqueKeysWithValues: bundle.items.ids.enumerated().map { ($1, Int64($0)) })
        itemVectors = bundle.items.vectors
        index = bundle.index
        let width = bundle.index.dimension
        if let embedding = model as? any EmbeddingModel, embedding.itemEmbeddings.columns != width {
            throw ServingError("\(bundle.model) v\(version): the model's vectors are \(embedding.itemEmbeddings.columns) wide, the index's \(width)")
        }
        contentModel = model as? any ContentEmbeddingModel
        schema = bundle.schema
        if let tower = model as? any RequestTimeUserModel, !tower.userDynamicFields.isEmpty {
            let fields = tower.userDynamicFields
            userModel = (tower, FeatureTokens(items: IDMap(bundle.items.ids.map { ItemID($0) }),
                                              categories: IDMap(fields.first { !$0.vocabulary.isEmpty }?.vocabulary ?? [])))
        } else {
            userModel = nil
        }
        newListings = Mutex(NewListings(next: Int64(bundle.items.ids.count)))
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

    /// The indexed listings with their index ids.
    var indexedListings: [(id: Int64, item: String)] { index.allIDs.compactMap { id in itemID(of: id).map { (id, $0) } } }

    /// Embeds a listing the model never saw from its content (models with `ContentEmbeddingModel` only)
    /// and adds it to the index.
    func addNewListing(_ event: Event) {
        guard let contentModel, let item = event.item?.value, id(of: item) == nil else { return }
        let names = contentModel.contentFieldNames
        let content: [[[String]]]
        if let schema, let tokens = try? schema.listingTokens(attributes: event.attributes, price: event.price) {
            let byField = Dictionary(uniqueKeysWithValues: zip(schema.listingInputs, tokens))
            content = [names.map { byField[$0] ?? [] }]
        } else {
            content = [names.map { name in (event.attributes[name] ?? "").split(separator: " ").map(String.init) }]
        }
        let vector = Array(contentModel.embedNewItems(fieldNames: names, content: content).row(0))
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
