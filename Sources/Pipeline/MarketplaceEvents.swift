import Catalogue
import Datasets
import Events
import RummageCore

/// A generated marketplace as the event stream a live one would send: `user_created` at each user's
/// join time, `listing_created` (seller, price, content) at each listing's creation, and the
/// interactions of `events.csv` (ids `e<line>`; a purchase sells its listing), merged in time order
/// (at equal times: users, then listings, then interactions).
public enum MarketplaceEvents {
    /// `schema`: the catalogue the data follows; its derived fields (the price band) are not sent, as a
    /// client would not send them.
    public static func forEach(_ data: MarketplaceData, schema: CatalogueSchema = .secondhandFashion,
                               _ body: (Event) throws -> Void) rethrows {
        let derived = Set(schema.listing.filter { $0.from != nil }.map(\.name))
        let listings = data.listings
        let userOrder = data.userIDs.ids.indices.sorted { (data.userJoinedAt[$0], $0) < (data.userJoinedAt[$1], $1) }
        let listingOrder = listings.ids.ids.indices.sorted { (listings.createdAt[$0], $0) < (listings.createdAt[$1], $1) }
        let userFields = data.userFeatures.fields
        func userEvent(_ u: Int) -> Event {
            var attributes: [String: String] = [:]
            for field in userFields {
                if let v = field.values.columns(of: u).first { attributes[field.name] = field.vocabulary[Int(v)] }
            }
            return Event(id: "cu\(u)", type: .userCreated, timestamp: data.userJoinedAt[u], user: data.userIDs.ids[u],
                         attributes: attributes)
        }
        func listingEvent(_ i: Int) -> Event {
            var attributes: [String: String] = [:]
            for (f, field) in listings.features.fields.enumerated() where !derived.contains(field.name) {
                attributes[field.name] = listings.content[i][f].joined(separator: " ")
            }
            return Event(id: "cl\(i)", type: .listingCreated, timestamp: listings.createdAt[i], user: listings.sellers[i],
                         item: listings.ids.ids[i], price: listings.prices[i], attributes: attributes)
        }
        let types: [EventKind: EventType] = [.view: .view, .like: .like, .save: .save, .addToBag: .addToBag, .purchase: .purchase]
        var nextUser = 0, nextListing = 0
        for e in 0..<data.timestamps.count {
            let t = data.timestamps[e]
            while nextUser < userOrder.count && data.userJoinedAt[userOrder[nextUser]] <= t {
                try body(userEvent(userOrder[nextUser])); nextUser += 1
            }
            while nextListing < listingOrder.count && listings.createdAt[listingOrder[nextListing]] <= t {
                try body(listingEvent(listingOrder[nextListing])); nextListing += 1
            }
            try body(Event(id: "e\(e)", type: types[data.kinds[e]]!, timestamp: t, user: data.userIDs.ids[Int(data.users[e])],
                           item: data.itemIDs.ids[Int(data.items[e])], surface: "home"))
        }
        for u in userOrder[nextUser...] { try body(userEvent(u)) }
        for i in listingOrder[nextListing...] { try body(listingEvent(i)) }
    }
}
