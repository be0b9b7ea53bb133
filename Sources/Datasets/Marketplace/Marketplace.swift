import Foundation
import RummageCore

/// Kinds of user–listing events, in funnel order. Raw values are stable (used in files and weights).
public enum EventKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case view = 0, like, save, addToBag, purchase

    /// The name used in data files: `view`, `like`, `save`, `add_to_bag`, `purchase`.
    public var description: String { MarketplaceVocabulary.eventKinds[Int(rawValue)] }

    public init?(name: String) {
        guard let i = MarketplaceVocabulary.eventKinds.firstIndex(of: name) else { return nil }
        self.init(rawValue: UInt8(i))
    }
}

/// A generated marketplace held in memory: users with their latent tastes, listings, and events
/// sorted by time. `write(to:)` stores the observable part as CSV files (see docs/data-format.md).
public struct Marketplace: Sendable {
    public struct User: Sendable {
        public var joinedAt: Int64
        /// Sizes as indices into the letter, waist and shoe size lists.
        public var topSize: Int, waistSize: Int, shoeSize: Int
        public var isSeller: Bool
        // Latent taste (not written to files).
        public var favouriteCategories: [Int]
        public var categoryWeights: [Double]
        public var styles: [Int]
        public var brands: [Int]
        public var priceTier: Int
        public var activity: Double
    }

    public struct Listing: Sendable {
        public var seller: Int32
        public var createdAt: Int64
        public var category: Int, brand: Int, size: Int, condition: Int, colour: Int
        public var price: Double
        public var style: Int

        /// Display title made of the listing's tokens, e.g. `black levis vintage jeans`.
        public var title: String {
            let v = MarketplaceVocabulary.self
            return "\(v.colours[colour]) \(v.brands[brand].name) \(v.styles[style]) \(v.categories[category].name)"
        }

        public var sizeName: String { MarketplaceVocabulary.categories[category].sizeSystem.sizes[size] }
    }

    /// Events as parallel arrays (5M events would be 5M small structs otherwise).
    public struct Events: Sendable {
        public private(set) var timestamps: [Int64] = []
        public private(set) var users: [Int32] = []
        public private(set) var items: [Int32] = []
        public private(set) var kinds: [EventKind] = []

        public var count: Int { timestamps.count }

        mutating func reserve(_ n: Int) {
            timestamps.reserveCapacity(n); users.reserveCapacity(n); items.reserveCapacity(n); kinds.reserveCapacity(n)
        }

        mutating func append(_ t: Int64, _ user: Int32, _ item: Int32, _ kind: EventKind) {
            timestamps.append(t); users.append(user); items.append(item); kinds.append(kind)
        }

        /// Stable sort by timestamp (events of one session keep their funnel order).
        mutating func sortByTime() {
            let order = timestamps.indices.sorted { (timestamps[$0], $0) < (timestamps[$1], $1) }
            timestamps = order.map { timestamps[$0] }
            users = order.map { users[$0] }
            items = order.map { items[$0] }
            kinds = order.map { kinds[$0] }
        }
    }

    public var configuration: MarketplaceGenerator.Configuration
    public var users: [User]
    public var listings: [Listing]
    public var events: Events


    public static let usersHeader = "user_id,joined_at,top_size,waist_size,shoe_size,is_seller"
    public static let listingsHeader = "item_id,seller_id,created_at,category,brand,size,condition,colour,price,style,title"
    public static let eventsHeader = "event_id,timestamp,user_id,item_id,kind"

    /// Writes `users.csv`, `listings.csv`, `events.csv` and `manifest.json` into `directory`
    /// (created if needed; existing files are replaced).
    public func write(to directory: String) throws(DataError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DataError(.unreadable, "cannot create directory: \(error.localizedDescription)", path: directory)
        }
        let v = MarketplaceVocabulary.self
        var out = CSVWriter()
        out.line(Self.usersHeader)
        for (u, user) in users.enumerated() {
            out.field("u"); out.int(u); out.comma(); out.int(Int(user.joinedAt)); out.comma()
            out.field(v.SizeSystem.letter.sizes[user.topSize]); out.comma()
            out.field(v.SizeSystem.waist.sizes[user.waistSize]); out.comma()
            out.field(v.SizeSystem.shoe.sizes[user.shoeSize]); out.comma()
            out.int(user.isSeller ? 1 : 0); out.newline()
        }
        try out.flush(to: directory + "/users.csv")
        out.line(Self.listingsHeader)
        for (i, l) in listings.enumerated() {
            out.field("l"); out.int(i); out.comma(); out.field("u"); out.int(Int(l.seller)); out.comma()
            out.int(Int(l.createdAt)); out.comma(); out.field(v.categories[l.category].name); out.comma()
            out.field(v.brands[l.brand].name); out.comma(); out.field(l.sizeName); out.comma()
            out.field(v.conditions[l.condition]); out.comma(); out.field(v.colours[l.colour]); out.comma()
            out.price(l.price); out.comma(); out.field(v.styles[l.style]); out.comma(); out.field(l.title)
            out.newline()
        }
        try out.flush(to: directory + "/listings.csv")
        out.line(Self.eventsHeader)
        let eventsPath = directory + "/events.csv"
        var appending = false
        let kindNames = EventKind.allCases.map { $0.description }
        for e in 0..<events.count {
            out.field("e"); out.int(e); out.comma(); out.int(Int(events.timestamps[e])); out.comma()
            out.field("u"); out.int(Int(events.users[e])); out.comma()
            out.field("l"); out.int(Int(events.items[e])); out.comma()
            out.field(kindNames[Int(events.kinds[e].rawValue)]); out.newline()
            if out.bytes.count > 1 << 24 {
                try out.flush(to: eventsPath, append: appending)
                appending = true
            }
        }
        try out.flush(to: eventsPath, append: appending)
        let manifest: [String: Any] = [
            "generator": "rummage-marketplace", "format_version": 1,
            "seed": Int(configuration.seed), "users": users.count, "listings": listings.count,
            "events": events.count, "days": configuration.days, "start_time": Int(configuration.startTime),
            "files": ["users.csv", "listings.csv", "events.csv"],
        ]
        do {
            let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: directory + "/manifest.json"))
        } catch {
            throw DataError(.unreadable, "cannot write manifest: \(error.localizedDescription)", path: directory)
        }
    }
}

/// Appends CSV text as bytes, then writes it out; faster than building Strings per line.
struct CSVWriter {
    var bytes: [UInt8] = []

    mutating func field(_ s: String) {
        // Quote only when needed (RFC 4180); the vocabulary never needs it, but stay correct.
        if s.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) {
            bytes.append(0x22)
            for b in s.utf8 { if b == 0x22 { bytes.append(0x22) }; bytes.append(b) }
            bytes.append(0x22)
        } else {
            bytes.append(contentsOf: s.utf8)
        }
    }
    mutating func line(_ s: String) { bytes.append(contentsOf: s.utf8); newline() }
    mutating func comma() { bytes.append(0x2C) }
    mutating func newline() { bytes.append(0x0A) }
    mutating func int(_ value: Int) {
        if value < 0 { bytes.append(0x2D); int(-value); return }
        if value >= 10 { int(value / 10) }
        bytes.append(UInt8(0x30 + value % 10))
    }
    /// Two decimals.
    mutating func price(_ value: Double) {
        let cents = Int((value * 100).rounded())
        int(cents / 100); bytes.append(0x2E)
        bytes.append(UInt8(0x30 + (cents / 10) % 10)); bytes.append(UInt8(0x30 + cents % 10))
    }

    mutating func flush(to path: String, append: Bool = false) throws(DataError) {
        try TextFile.write(bytes, to: path, append: append)
        bytes.removeAll(keepingCapacity: true)
    }
}
