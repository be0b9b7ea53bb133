import Events
import RummageCore
import Testing

@Suite struct ListingLifecycleTests {
    func event(_ type: EventType, _ item: String = "l1", attributes: [String: String] = [:]) -> Event {
        Event(id: "\(type.rawValue)-\(item)", type: type, timestamp: 1_767_225_600, user: "u1", item: ItemID(item),
              price: type == .priceChanged ? 10 : nil, attributes: attributes)
    }

    @Test func walksTheWholeLife() throws {
        var lifecycle = ListingLifecycle()
        let steps: [(EventType, ListingState)] = [
            (.listingCreated, .active), (.view, .active), (.priceChanged, .active), (.listingReserved, .reserved),
            (.listingUnreserved, .active), (.purchase, .sold), (.listingRelisted, .active), (.listingSold, .sold),
            (.listingDeleted, .deleted),
        ]
        for (type, state) in steps {
            try lifecycle.apply(event(type))
            #expect(lifecycle.state(of: "l1") == state, "after \(type)")
        }
        #expect(lifecycle.sellers["l1"] == "u1")
    }

    /// [12/19]: hidden is reversible and distinct from deleted (which is for good).
    @Test func hiddenListingsComeBackDeletedOnesNever() throws {
        var lifecycle = ListingLifecycle()
        for (type, state) in [(EventType.listingCreated, ListingState.active), (.listingHidden, .hidden), (.priceChanged, .hidden),
                              (.listingUnhidden, .active), (.listingReserved, .reserved), (.listingHidden, .hidden)] {
            try lifecycle.apply(event(type))
            #expect(lifecycle.state(of: "l1") == state, "after \(type)")
        }
        #expect(throws: EventError.self) { try lifecycle.apply(event(.purchase)) }
        #expect(throws: EventError.self) { try lifecycle.apply(event(.listingHidden)) }
        try lifecycle.apply(event(.listingDeleted))
        #expect(throws: EventError.self) { try lifecycle.apply(event(.listingUnhidden)) }
        #expect(lifecycle.state(of: "l1") == .deleted)
    }

    @Test func draftsArePublishedBeforeTheyCanBeReserved() throws {
        var lifecycle = ListingLifecycle()
        try lifecycle.apply(event(.listingCreated, attributes: ["draft": "true"]))
        #expect(lifecycle.state(of: "l1") == .draft)
        #expect(throws: EventError.self) { try lifecycle.apply(event(.listingReserved)) }
        try lifecycle.apply(event(.listingPublished))
        try lifecycle.apply(event(.listingReserved))
        #expect(lifecycle.state(of: "l1") == .reserved)
    }

    @Test(arguments: [
        ([EventType.listingCreated, .listingCreated], "already exists"),
        ([.listingCreated, .listingRelisted], "listing_relisted when active"),
        ([.listingCreated, .purchase, .purchase], "purchase when sold"),
        ([.listingCreated, .purchase, .listingReserved], "listing_reserved when sold"),
        ([.listingCreated, .listingDeleted, .view], "view when deleted"),
        ([.listingCreated, .listingDeleted, .listingDeleted], "listing_deleted when deleted"),
        ([.view], "unknown listing"),
    ])
    func refusesInvalidTransitionsAndChangesNothing(types: [EventType], message: String) throws {
        var lifecycle = ListingLifecycle()
        for type in types.dropLast() { try lifecycle.apply(event(type)) }
        let before = lifecycle.state(of: "l1")
        do {
            try lifecycle.apply(event(types.last!))
            Issue.record("\(types) was accepted")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
        }
        #expect(lifecycle.state(of: "l1") == before)
    }
}
