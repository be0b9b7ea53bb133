import Datasets
import Evaluation
import Foundation
import RummageCore
import RummageTestSupport
import Testing

@Suite struct MarketplaceGeneratorTests {
    let configuration = MarketplaceGenerator.Configuration(users: 400, listings: 800, events: 30_000, days: 30, seed: 3)

    @Test func sameSeedSameData() {
        let a = MarketplaceGenerator(configuration).generate()
        let b = MarketplaceGenerator(configuration).generate()
        #expect(a.events.timestamps == b.events.timestamps)
        #expect(a.events.items == b.events.items)
        #expect(a.listings.map(\.title) == b.listings.map(\.title))
        var other = configuration
        other.seed = 4
        #expect(MarketplaceGenerator(other).generate().events.items != a.events.items)
    }

    @Test func respectsMarketplaceInvariants() {
        let m = MarketplaceGenerator(configuration).generate()
        let e = m.events
        #expect(e.count >= configuration.events && e.count < configuration.events + 200)
        #expect(zip(e.timestamps, e.timestamps.dropFirst()).allSatisfy { $0 <= $1 })
        var soldAt: [Int32: Int64] = [:]
        for k in 0..<e.count where e.kinds[k] == .purchase {
            #expect(soldAt[e.items[k]] == nil, "listing \(e.items[k]) sold twice")
            soldAt[e.items[k]] = e.timestamps[k]
        }
        #expect(soldAt.count > 10)
        for k in 0..<e.count {
            let listing = m.listings[Int(e.items[k])]
            #expect(listing.seller != e.users[k], "a user interacted with their own listing")
            #expect(listing.createdAt <= e.timestamps[k], "event before the listing existed")
            if let sold = soldAt[e.items[k]] { #expect(e.timestamps[k] <= sold, "event after the sale") }
        }
        // Every kind occurs, in funnel proportions.
        let counts = EventKind.allCases.map { kind in e.kinds.filter { $0 == kind }.count }
        #expect(counts.allSatisfy { $0 > 0 })
        #expect(counts[0] > counts[1] && counts[3] > counts[4])
    }

    @Test func tastesDriveEngagement() {
        // Users like listings in their favourite style far more often than others.
        let m = MarketplaceGenerator(configuration).generate()
        var favourite = (views: 0, likes: 0), other = (views: 0, likes: 0)
        for k in 0..<m.events.count {
            let isFavourite = m.listings[Int(m.events.items[k])].style == m.users[Int(m.events.users[k])].styles[0]
            switch (m.events.kinds[k], isFavourite) {
            case (.view, true): favourite.views += 1
            case (.view, false): other.views += 1
            case (.like, true): favourite.likes += 1
            case (.like, false): other.likes += 1
            default: break
            }
        }
        let favouriteRate = Double(favourite.likes) / Double(favourite.views)
        let otherRate = Double(other.likes) / Double(other.views)
        #expect(favouriteRate > 1.5 * otherRate)
    }

    @Test func writesFilesThatLoadBackIdentically() throws {
        let m = MarketplaceGenerator(configuration).generate()
        let dir = Fixtures.temporaryDirectory()
        try m.write(to: dir)
        let data = try MarketplaceData.load(directory: dir)
        #expect(data.userIDs.count == 400 && data.itemIDs.count == 800)
        #expect(data.timestamps == m.events.timestamps)
        #expect(data.kinds == m.events.kinds)
        // Users are indexed in the order they joined (as a log replays them): compare them by id.
        #expect(data.users.map { data.userIDs.ids[Int($0)].value } == m.events.users.map { "u\($0)" })
        #expect(data.userJoinedAt == data.userJoinedAt.sorted())
        #expect(data.items == m.events.items)
        #expect(data.itemCreatedAt == m.listings.map(\.createdAt))
        let listings = try String(contentsOfFile: dir + "/listings.csv", encoding: .utf8).split(separator: "\n")
        #expect(listings[0] == Substring(Marketplace.listingsHeader))
        #expect(listings[1].split(separator: ",").count == 11)
    }
}

@Suite struct SyntheticSplitTests {
    func generated() throws -> (String, Marketplace) {
        let m = MarketplaceGenerator(.init(users: 300, listings: 600, events: 20_000, days: 20, seed: 5)).generate()
        let dir = Fixtures.temporaryDirectory()
        try m.write(to: dir)
        return (dir, m)
    }

    @Test func splitsInTimeAndExcludesSoldListings() throws {
        let (dir, m) = try generated()
        let split = try SyntheticSplit.load(directory: dir, trainFraction: 0.8)
        guard case .fullRanking(let proto) = split.evaluation else { Issue.record("expected full ranking"); return }
        let sortedTimes = m.events.timestamps.sorted()
        let splitTime = sortedTimes[Int(Double(sortedTimes.count) * 0.8)]
        let e = m.events
        var soldBefore = Set<Int32>()
        for k in 0..<e.count where e.kinds[k] == .purchase && e.timestamps[k] < splitTime { soldBefore.insert(e.items[k]) }
        #expect(!soldBefore.isEmpty)
        let eligible = try #require(proto.eligible)
        for i in 0..<600 { #expect(eligible[i] == !soldBefore.contains(Int32(i))) }
        // Held-out pairs: engaged after the split, never seen in training.
        var heldOutCount = 0
        for u in proto.testUsers {
            for i in proto.heldOut.columns(of: u.int) {
                heldOutCount += 1
                #expect(!split.train.contains(u, ItemIndex(i)))
                #expect(eligible[Int(i)])
            }
        }
        #expect(heldOutCount > 50)
        // Training weights follow funnel depth: a purchase pair weighs 5.
        let purchase = try #require((0..<e.count).first { e.kinds[$0] == .purchase && e.timestamps[$0] < splitTime })
        let i = e.items[purchase]
        let u = Int(try #require(split.marketplace?.data.userIDs.index(of: UserID("u\(e.users[purchase])"))))
        let row = split.train.byUser
        let position = try #require(row.range(of: u).first { row.columns[$0] == i })
        #expect(row.values[position] == 5)
    }

    @Test func reportsBadEventLines() throws {
        let (dir, _) = try generated()
        var text = try String(contentsOfFile: dir + "/events.csv", encoding: .utf8)
        text += "e999999,1767225700,u1,l1,teleport\n"
        Fixtures.write(text, to: "events.csv", in: dir)
        let lines = text.split(separator: "\n").count
        let error = #expect(throws: DataError.self) { try SyntheticSplit.load(directory: dir) }
        #expect(error?.description == "\(dir)/events.csv:\(lines): unknown kind 'teleport'; kinds: view, like, save, add_to_bag, purchase")
    }

    @Test func reportsUnknownIdsAndBadHeaders() throws {
        let (dir, _) = try generated()
        Fixtures.write("\(Marketplace.eventsHeader)\ne1,1767225700,nobody,l1,view\n", to: "events.csv", in: dir)
        let unknown = #expect(throws: DataError.self) { try MarketplaceData.load(directory: dir) }
        #expect(unknown?.description == "\(dir)/events.csv:2: unknown user_id 'nobody'")
        Fixtures.write("id,when\n", to: "users.csv", in: dir)
        let header = #expect(throws: DataError.self) { try MarketplaceData.load(directory: dir) }
        #expect(header?.description.hasPrefix("\(dir)/users.csv:1: expected header") == true)
    }
}
