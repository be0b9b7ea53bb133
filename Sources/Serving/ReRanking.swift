import Foundation

/// A business rule of a surface's re-ranking, written as one line in its definition's `rules`:
///
/// | rule | effect |
/// |---|---|
/// | `boost brand=acme by 3` | each matching listing moves up 3 places |
/// | `bury condition=fair` | matching listings move below all others (kept in order) |
/// | `pin item=l42 at 1` | the listing takes slot 1 (1-based), if it may be served to the user |
/// | `pin category=bags at 3` | the best matching candidate takes slot 3 |
///
/// A match is `item=ID` (one listing) or `ATTRIBUTE=VALUE` on the listing's attributes (single-word
/// values, as query filters read them).
public struct ReRankingRule: Sendable, Equatable, CustomStringConvertible {
    public enum Action: Sendable, Equatable {
        case boost(places: Int)
        case bury
        /// 0-based slot.
        case pin(slot: Int)
    }

    public enum Match: Sendable, Equatable {
        case item(String)
        case attribute(name: String, value: String)
    }

    public var action: Action
    public var match: Match
    /// The rule as written: how `explain=true` names it.
    public var description: String

    /// Parses one rule; the error says what a rule looks like.
    public init(parsing text: String) throws(SurfaceError) {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let usage = "a rule is 'boost ATTRIBUTE=VALUE by N', 'bury ATTRIBUTE=VALUE' or 'pin ATTRIBUTE=VALUE at SLOT' (item=ID for one listing), got '\(text)'"
        guard words.count >= 2 else { throw SurfaceError(usage) }
        let pair = words[1].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else { throw SurfaceError(usage) }
        match = pair[0] == "item" ? .item(pair[1]) : .attribute(name: pair[0], value: pair[1])
        switch (words[0], words.count) {
        case ("bury", 2): action = .bury
        case ("boost", 4) where words[2] == "by":
            guard let places = Int(words[3]), (1...10_000).contains(places) else { throw SurfaceError("'\(text)': boost by 1 to 10000 places") }
            action = .boost(places: places)
        case ("pin", 4) where words[2] == "at":
            guard let slot = Int(words[3]), (1...1_000).contains(slot) else { throw SurfaceError("'\(text)': pin at a slot from 1 to 1000") }
            action = .pin(slot: slot - 1)
        default: throw SurfaceError(usage)
        }
        description = words.joined(separator: " ")
    }

    func matches(_ listing: ReRanking.Candidate) -> Bool {
        switch match {
        case .item(let id): listing.item == id
        case .attribute(let name, let value): listing.attributes[name] == value
        }
    }

    /// The listing a `pin item=ID` rule names (nil for other rules).
    var pinnedItem: String? {
        if case .pin = action, case .item(let id) = match { return id }
        return nil
    }
}

/// The re-ranking stage of a surface, after retrieval and the ranker: business rules, diversity caps and
/// the share of new listings, each listing's moves named for `explain=true`. Pure: given the same
/// candidates and order it returns the same answer (known-answer tests in `ReRankingTests`).
public struct ReRanking: Sendable, Equatable {
    /// What the stage reads of a candidate listing.
    public struct Candidate: Sendable, Equatable {
        public var item: String
        public var attributes: [String: String]
        public var seller: String?
        /// Event time of its creation (nil: unknown, never new).
        public var createdAt: Int64?

        public init(item: String, attributes: [String: String] = [:], seller: String? = nil, createdAt: Int64? = nil) {
            self.item = item
            self.attributes = attributes
            self.seller = seller
            self.createdAt = createdAt
        }
    }

    public var rules: [ReRankingRule] = []
    /// Diversity: at most this many listings of one seller, and of one category, in an answer (nil: no cap).
    public var maxPerSeller: Int?
    public var maxPerCategory: Int?
    /// Listings created within this many hours (event time) are new.
    public var newWithinHours: Double = 72
    /// The share of an answer's k slots that new listings take at least, and at most (nil: no bound).
    public var minimumNewShare: Double?
    public var maximumNewShare: Double?

    public init() {}

    /// The listings `pin item=ID` rules name.
    public var pinnedItems: [String] { rules.compactMap(\.pinnedItem) }

    /// Whether any rule pins.
    public var hasPins: Bool { rules.contains { if case .pin = $0.action { true } else { false } } }

    /// Whether the stage changes anything.
    public var isEmpty: Bool {
        rules.isEmpty && maxPerSeller == nil && maxPerCategory == nil && minimumNewShare == nil && maximumNewShare == nil
    }

    /// Reasons a listing moved, as `explain=true` lists them.
    public static let diversityReason = "diversity", minimumNewReason = "new listings: minimum share", maximumNewReason = "new listings: maximum share"

    /// Reorders `order` (indices into `candidates`, best first) for an answer of `k` at event time `now`:
    /// boosts and buries, then the diversity caps (listings over a cap move below the others), then the
    /// new-listing shares of the first k (the best new listings beyond them replace the lowest-ranked ones
    /// that are not new, or the reverse; each part keeps the ranking's order). Pins are placed last, by
    /// `pinned`, after exploration.
    /// Returns the order and, by candidate index, the rules that moved each listing.
    public func apply(_ order: [Int], candidates: [Candidate], k: Int, now: Int64) -> (order: [Int], reasons: [Int: [String]]) {
        var order = order, reasons: [Int: [String]] = [:]
        for rule in rules {
            switch rule.action {
            case .bury:
                let (kept, buried) = order.partitioned { !rule.matches(candidates[$0]) }
                for i in buried { reasons[i, default: []].append(rule.description) }
                order = kept + buried
            case .boost(let places):
                // Top down, so a boosted listing never passes one boosted before it.
                var lastBoosted = -1
                for position in order.indices where rule.matches(candidates[order[position]]) {
                    let target = max(lastBoosted + 1, position - places)
                    let i = order.remove(at: position)
                    order.insert(i, at: target)
                    lastBoosted = target
                    if target < position { reasons[i, default: []].append(rule.description) }
                }
            case .pin:
                break
            }
        }
        if maxPerSeller != nil || maxPerCategory != nil {
            var sellers: [String: Int] = [:], categories: [String: Int] = [:], kept: [Int] = [], demoted: [Int] = []
            for i in order {
                let seller = candidates[i].seller, category = candidates[i].attributes["category"]
                let overSeller = seller.map { s in maxPerSeller.map { sellers[s, default: 0] >= $0 } ?? false } ?? false
                let overCategory = category.map { c in maxPerCategory.map { categories[c, default: 0] >= $0 } ?? false } ?? false
                if overSeller || overCategory {
                    demoted.append(i)
                    reasons[i, default: []].append(Self.diversityReason)
                } else {
                    kept.append(i)
                    if let seller { sellers[seller, default: 0] += 1 }
                    if let category { categories[category, default: 0] += 1 }
                }
            }
            order = kept + demoted
        }
        if minimumNewShare != nil || maximumNewShare != nil {
            let since = now - Int64(newWithinHours * 3_600)
            let isNew = { (i: Int) in (candidates[i].createdAt ?? Int64.min) >= since }
            let slots = min(k, order.count)
            let inside = Array(order.prefix(slots)), outside = Array(order.dropFirst(slots))
            let newCount = inside.count(where: isNew)
            var promoted: [Int] = [], demoted: [Int] = []
            if let share = minimumNewShare, case let wanted = min(Int((share * Double(slots)).rounded(.up)), slots), newCount < wanted {
                promoted = Array(outside.filter(isNew).prefix(wanted - newCount))
                demoted = Array(inside.filter { !isNew($0) }.suffix(promoted.count))
                for i in promoted { reasons[i, default: []].append(Self.minimumNewReason) }
            } else if let share = maximumNewShare, case let allowed = Int((share * Double(slots)).rounded(.down)), newCount > allowed {
                demoted = Array(inside.filter(isNew).suffix(newCount - allowed))
                promoted = Array(outside.filter { !isNew($0) }.prefix(demoted.count))
                demoted = Array(demoted.suffix(promoted.count))
                for i in demoted { reasons[i, default: []].append(Self.maximumNewReason) }
            }
            if !promoted.isEmpty {
                // Each part keeps the ranking's order.
                let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($0.element, $0.offset) })
                let out = Set(demoted), into = Set(promoted)
                order = (inside.filter { !out.contains($0) } + promoted).sorted { rank[$0]! < rank[$1]! }
                    + (outside.filter { !into.contains($0) } + demoted).sorted { rank[$0]! < rank[$1]! }
            }
        }
        return (order, reasons)
    }

    /// Places the pinned listings in `shown` (indices into `candidates`, the answer as served): for each pin
    /// rule in turn, the best-ranked matching candidate (by `order`) not already pinned moves to its slot
    /// (or the end, if the answer is shorter); the answer keeps its length. Returns the answer and the
    /// pinned candidates with their rule.
    public func pinned(_ shown: [Int], order: [Int], candidates: [Candidate]) -> (shown: [Int], pins: [Int: String]) {
        var shown = shown, pins: [Int: String] = [:]
        let length = shown.count
        for rule in rules {
            guard case .pin(let slot) = rule.action,
                  let i = order.first(where: { pins[$0] == nil && rule.matches(candidates[$0]) }) else { continue }
            shown.removeAll { $0 == i }
            shown.insert(i, at: min(slot, shown.count))
            pins[i] = rule.description
        }
        // A pinned listing from beyond the answer pushes the last unpinned one out.
        while shown.count > length, let last = shown.lastIndex(where: { pins[$0] == nil }) { shown.remove(at: last) }
        return (shown, pins)
    }
}

extension Array {
    /// The elements that satisfy `predicate` and those that do not, each in their order.
    func partitioned(by predicate: (Element) -> Bool) -> (matching: [Element], rest: [Element]) {
        var matching: [Element] = [], rest: [Element] = []
        for element in self { if predicate(element) { matching.append(element) } else { rest.append(element) } }
        return (matching, rest)
    }
}
