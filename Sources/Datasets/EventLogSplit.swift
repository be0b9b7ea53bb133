import Catalogue
import Events
import Foundation
import RummageCore

/// A marketplace's own data, built from its event log as of a time: the users (`user_created`, or their
/// first interaction) with the schema's user fields, the listings (`listing_created`, prices kept
/// current by `price_changed`) with their content tokens from the schema, and the interactions (views,
/// likes, saves, bags, purchases) of listings the log knows. Then the same temporal split as generated
/// data (`SyntheticSplit.split`): the 90 % quantile of interaction times, listings sold before it never
/// candidates, slices for the schema's `slices`.
///
/// Users and listings are indexed in the order the log created them, so the events `rummage generate`
/// writes, once ingested, give the very split the generated files give.
public enum EventLogSplit {
    /// What was read, besides the split.
    public struct Snapshot: Sendable {
        public var split: Split
        /// The as-of time used (the latest event's when not given).
        public var asOf: Int64
        /// The log's last sequence number when it was read.
        public var lastSequence: Int64
        /// SHA-256 over the events used (their JSON lines, in log order), the as-of and the window.
        public var fingerprint: String
        /// Interactions skipped because the log holds no `listing_created` for their listing.
        public var unknownListingInteractions: Int
    }

    static let interactionKinds: [EventType: EventKind] = [.view: .view, .like: .like, .save: .save, .addToBag: .addToBag,
                                                           .purchase: .purchase]

    /// Reads `log` up to `asOf` (inclusive; default: the latest event) and builds the split. With
    /// `windowDays`, only interactions of that many days before `asOf` are used. Throws when the log is
    /// empty, `asOf` precedes its first event, or nothing remains to learn from.
    public static func load(log: any EventLog, location: String, schema: CatalogueSchema, asOf requested: Int64? = nil,
                            windowDays: Int? = nil, trainFraction: Double = 0.9) throws(DataError) -> Snapshot {
        var events: [Event] = []
        var first = Int64.max, latest = Int64.min
        let lastSequence: Int64
        do {
            lastSequence = try log.lastSequence()
            try log.readAll(order: .appended, types: nil) { event in
                events.append(event)
                first = min(first, event.timestamp)
                latest = max(latest, event.timestamp)
            }
        } catch {
            throw DataError(.unreadable, "cannot read the event log: \(error)", path: location)
        }
        guard !events.isEmpty else {
            throw DataError(.invalidArgument, "the event log is empty: ingest events first", path: location)
        }
        let asOf = requested ?? latest
        guard asOf >= first else {
            throw DataError(.invalidArgument, "as-of \(asOf) is before the log's first event (\(first))", path: location)
        }
        let windowStart = windowDays.map { asOf - Int64($0) * 86_400 } ?? Int64.min
        var hasher = SHA256Hasher()
        hasher.update("as_of \(asOf) window_days \(windowDays.map(String.init) ?? "all")\n")

        var userIDs = IDMap<UserID>(), joinedAt: [Int64] = [], userAttributes: [[String: String]] = []
        var itemIDs = IDMap<ItemID>(), createdAt: [Int64] = [], sellers: [UserID] = [], prices: [Double] = []
        var listingAttributes: [[String: String]] = []
        var timestamps: [Int64] = [], users: [Int32] = [], items: [Int32] = [], kinds: [EventKind] = []
        var unknownListing = 0
        func user(_ id: UserID, at time: Int64) -> Int32 {
            if let u = userIDs.index(of: id) { return u }
            userIDs.insert(id)
            joinedAt.append(time)
            userAttributes.append([:])
            return Int32(userIDs.count - 1)
        }
        for event in events where event.timestamp <= asOf {
            hasher.update(event.jsonLine + "\n")
            switch event.type {
            case .userCreated, .userAttributesChanged:
                guard let id = event.user else { continue }
                let u = Int(user(id, at: event.timestamp))
                userAttributes[u].merge(event.attributes) { $1 }
            case .listingCreated:
                guard let id = event.item, itemIDs.index(of: id) == nil else { continue }
                itemIDs.insert(id)
                createdAt.append(event.timestamp)
                sellers.append(event.user ?? UserID(""))
                prices.append(event.price ?? 0)
                listingAttributes.append(event.attributes)
            case .priceChanged:
                if let id = event.item, let i = itemIDs.index(of: id), let price = event.price { prices[Int(i)] = price }
            default:
                guard let kind = interactionKinds[event.type], event.timestamp >= windowStart, let actor = event.user,
                      let itemID = event.item else { continue }
                guard let i = itemIDs.index(of: itemID) else { unknownListing += 1; continue }
                let u = user(actor, at: event.timestamp)
                timestamps.append(event.timestamp); users.append(u); items.append(i); kinds.append(kind)
            }
        }
        guard !timestamps.isEmpty else {
            throw DataError(.invalidArgument, "no interactions with known listings up to as-of \(asOf)\(windowDays.map { " in the last \($0) days" } ?? "")",
                            path: location)
        }
        // Content and profile tokens: the schema's one function, as at ingest and serving.
        var content: [[[String]]] = [], profiles: [[[String]]] = []
        do throws(SchemaError) {
            for (i, attributes) in listingAttributes.enumerated() {
                content.append(try schema.listingTokens(attributes: attributes, price: prices[i]))
            }
            for attributes in userAttributes { profiles.append(try schema.userTokens(attributes: attributes)) }
        } catch {
            throw DataError(.invalidArgument, "an entity breaks schema '\(schema.name)': \(error)", path: location)
        }
        let itemFeatures = CategoricalFeatures(entityCount: content.count, fields: schema.listingInputs.enumerated().map { f, name in
            CategoricalFeatures.Field(name: name, entityValues: content.map { $0[f] })
        })
        let userFeatures = CategoricalFeatures(entityCount: profiles.count, fields: schema.userInputs.enumerated().map { f, name in
            CategoricalFeatures.Field(name: name, entityValues: profiles.map { $0[f] })
        })
        let listings = ListingsFile(ids: itemIDs, createdAt: createdAt, sellers: sellers, prices: prices, features: itemFeatures,
                                    content: content)
        let data = MarketplaceData(userIDs: userIDs, userJoinedAt: joinedAt, itemIDs: itemIDs, itemCreatedAt: createdAt,
                                   listings: listings, itemFeatures: itemFeatures, userFeatures: userFeatures,
                                   timestamps: timestamps, users: users, items: items, kinds: kinds)
        let split = SyntheticSplit.split(data, trainFraction: trainFraction, slices: schema.slices, source: "log as of \(asOf)")
        return Snapshot(split: split, asOf: asOf, lastSequence: lastSequence, fingerprint: hasher.finalize(),
                        unknownListingInteractions: unknownListing)
    }
}
