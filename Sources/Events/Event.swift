import Foundation
import RummageAPI
import RummageCore

/// What an event records. Raw values are the `type` names of the JSON schema (docs/events.md).
public enum EventType: String, Sendable, CaseIterable, Codable {
    // A user and a listing.
    case view, like, unlike, save
    case addToBag = "add_to_bag"
    /// Sells the listing (active or reserved → sold).
    case purchase
    /// The listing was shown in a ranking (`ranking_id`, `position`): exposure logging.
    case impression
    // A listing's lifecycle.
    /// A new listing, with its seller (`seller`), `price` and content `attributes`; starts active, or
    /// draft when `attributes.draft` is `"true"`.
    case listingCreated = "listing_created"
    case listingPublished = "listing_published"
    case priceChanged = "price_changed"
    case listingReserved = "listing_reserved"
    case listingUnreserved = "listing_unreserved"
    case listingSold = "listing_sold"
    case listingRelisted = "listing_relisted"
    case listingDeleted = "listing_deleted"
    /// Taken off the marketplace by its seller or a moderator, reversibly (`listing_unhidden` brings it back).
    case listingHidden = "listing_hidden"
    case listingUnhidden = "listing_unhidden"
    // A user's profile.
    case userCreated = "user_created"
    case userAttributesChanged = "user_attributes_changed"

    public enum Subject: Sendable { case interaction, listing, user }

    public var subject: Subject {
        switch self {
        case .view, .like, .unlike, .save, .addToBag, .purchase, .impression: .interaction
        case .listingCreated, .listingPublished, .priceChanged, .listingReserved, .listingUnreserved, .listingSold,
             .listingRelisted, .listingDeleted, .listingHidden, .listingUnhidden: .listing
        case .userCreated, .userAttributesChanged: .user
        }
    }
}

extension EventType {
    /// A bit of its own: the case's place in the declaration (a payload-free enum is stored as its case
    /// number), so a set of types is a mask tested without hashing (a raw-valued enum hashes its string).
    public var bit: UInt32 { 1 << UInt32(unsafeBitCast(self, to: UInt8.self)) }
}

/// One event: the unit of the event log. `id` is the idempotency key: appending an event whose id is
/// already in the log changes nothing.
public struct Event: Sendable, Equatable {
    public var id: String
    public var type: EventType
    /// Unix time in seconds.
    public var timestamp: Int64
    /// The acting user; for `listing_created`, the seller.
    public var user: UserID?
    public var item: ItemID?
    /// Where it happened (`home`, `search`, `similar`, …).
    public var surface: String?
    /// For impressions: the ranking served and the listing's 0-based position in it.
    public var rankingID: String?
    public var position: Int?
    /// For `listing_created` and `price_changed`.
    public var price: Double?
    /// Listing content (`category`, `brand`, `size`, …) or user attributes (`top_size`, …).
    public var attributes: [String: String]

    public init(id: String, type: EventType, timestamp: Int64, user: UserID? = nil, item: ItemID? = nil,
                surface: String? = nil, rankingID: String? = nil, position: Int? = nil, price: Double? = nil,
                attributes: [String: String] = [:]) {
        self.id = id
        self.type = type
        self.timestamp = timestamp
        self.user = user
        self.item = item
        self.surface = surface
        self.rankingID = rankingID
        self.position = position
        self.price = price
        self.attributes = attributes
    }
}

/// Why an event was refused: a one-line reason naming the field or the rule.
public struct EventError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable, Hashable {
        case malformedJSON, missingField, invalidField, unknownType, futureTimestamp, invalidTransition, unknownListing
        /// The producer already sent another event under this id.
        case idConflict
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// A payload that could not be decoded, with the same reason.
    public init(_ error: PayloadError) {
        switch error.kind {
        case .malformed: self.init(.malformedJSON, error.message)
        case .missingField: self.init(.missingField, error.message)
        case .invalidField: self.init(.invalidField, error.message)
        }
    }
}
