import RummageCore

/// Where a listing is in its life. Only `active` listings may be recommended.
public enum ListingState: String, Sendable, CaseIterable {
    case draft, active, reserved, sold, hidden, deleted
}

/// The listing state machine, driven by events:
///
/// ```
/// listing_created ─→ active (or draft)      draft ──listing_published──→ active
/// active ──listing_reserved──→ reserved     reserved ──listing_unreserved──→ active
/// active | reserved ──listing_sold or purchase──→ sold
/// sold ──listing_relisted──→ active         any but deleted ──listing_deleted──→ deleted (for good)
/// active | reserved ──listing_hidden──→ hidden    hidden ──listing_unhidden──→ active
/// price_changed: draft, active, reserved or hidden; stays put
/// ```
///
/// Interactions (view, like, …) need a listing that exists and is not deleted; a purchase needs it
/// active or reserved. Events about unknown listings other than `listing_created` are refused, as are
/// a second `listing_created` for the same id and anything after `listing_deleted`.
public struct ListingLifecycle: Sendable {
    public private(set) var states: [ItemID: ListingState] = [:]
    /// The seller of each listing (from `listing_created`).
    public private(set) var sellers: [ItemID: UserID] = [:]
    /// Each seller's listings.
    public private(set) var listingsBySeller: [UserID: [ItemID]] = [:]

    public init() {}

    /// A lifecycle holding the given states and sellers (as a shared store keeps them).
    public init(states: [ItemID: ListingState], sellers: [ItemID: UserID]) {
        self.states = states
        self.sellers = sellers
        for (item, seller) in sellers { listingsBySeller[seller, default: []].append(item) }
    }

    /// The event types that move a listing's state: every listing event, and purchases.
    public static let eventTypes: Set<EventType> = Set(EventType.allCases.filter { $0.subject == .listing }).union([.purchase])

    /// Sets what a more recent source (a shared store) says of `item`, keeping the seller index.
    public mutating func record(_ item: ItemID, state: ListingState?, seller: UserID?) {
        states[item] = state
        if let seller, sellers[item] == nil {
            sellers[item] = seller
            listingsBySeller[seller, default: []].append(item)
        }
    }

    public func state(of item: ItemID) -> ListingState? { states[item] }

    /// A lifecycle holding only `items` (their states and sellers): enough to validate a batch about
    /// them without copying every listing.
    public func restricted(to items: Set<ItemID>) -> ListingLifecycle {
        var subset = ListingLifecycle()
        for item in items {
            if let state = states[item] { subset.states[item] = state }
            if let seller = sellers[item] { subset.sellers[item] = seller }
        }
        return subset
    }

    /// The state `event` moves its listing to, or nil when the event does not touch a listing's
    /// state (user events). Throws when the transition is not allowed.
    public func transition(for event: Event) throws(EventError) -> ListingState? {
        guard event.type != .userCreated && event.type != .userAttributesChanged, let item = event.item else { return nil }
        let current = states[item]
        if event.type == .listingCreated {
            guard current == nil else {
                throw EventError(.invalidTransition, "listing '\(item)' already exists (\(current!.rawValue))")
            }
            return event.attributes["draft"] == "true" ? .draft : .active
        }
        guard let current else { throw EventError(.unknownListing, "unknown listing '\(item)' (no listing_created event)") }
        func refuse() -> EventError {
            EventError(.invalidTransition, "invalid transition for listing '\(item)': \(event.type.rawValue) when \(current.rawValue)")
        }
        switch (event.type, current) {
        case (.listingDeleted, _): if current == .deleted { throw refuse() }; return .deleted
        case (_, .deleted): throw refuse()
        case (.listingPublished, .draft): return .active
        case (.listingReserved, .active): return .reserved
        case (.listingUnreserved, .reserved): return .active
        case (.listingSold, .active), (.listingSold, .reserved), (.purchase, .active), (.purchase, .reserved): return .sold
        case (.listingRelisted, .sold): return .active
        case (.listingHidden, .active), (.listingHidden, .reserved): return .hidden
        case (.listingUnhidden, .hidden): return .active
        case (.priceChanged, .draft), (.priceChanged, .active), (.priceChanged, .reserved), (.priceChanged, .hidden): return current
        case (.view, _), (.like, _), (.unlike, _), (.save, _), (.addToBag, _), (.impression, _): return current
        default: throw refuse()
        }
    }

    /// Checks and applies `event`; on error nothing changes.
    public mutating func apply(_ event: Event) throws(EventError) {
        guard let next = try transition(for: event), let item = event.item else { return }
        states[item] = next
        if event.type == .listingCreated, let seller = event.user {
            sellers[item] = seller
            listingsBySeller[seller, default: []].append(item)
        }
    }
}
