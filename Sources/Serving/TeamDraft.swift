import RummageCore

/// Team-draft interleaving (Radlinski, Kurup & Joachims, "How does clickthrough data reflect retrieval
/// quality?", CIKM 2008): two rankings of the same request merged into one list, each position credited to
/// the ranking (the "team") that placed it, so a user's clicks say which ranking they prefer on the same
/// screen, without splitting users between two screens.
public enum TeamDraft {
    public struct Slot: Sendable, Equatable {
        public var item: String
        /// 0: placed by the first ranking, 1: by the second.
        public var team: Int
    }

    /// At most `k` distinct listings from `first` and `second` (each best first). The team with fewer
    /// picks so far picks next, a coin seeded by `seed` deciding when they have as many; a team picks its
    /// best listing not yet taken (a team whose ranking is used up leaves the picks to the other). The
    /// same inputs and seed give the same list, so a list can be recomputed from its ranking id.
    public static func merge(_ first: [String], _ second: [String], k: Int, seed: UInt64) -> [Slot] {
        let rankings = [first, second]
        var rng = SeededGenerator(seed: seed)
        var taken = Set<String>(), next = [0, 0], picks = [0, 0], out: [Slot] = []
        while out.count < k {
            for team in 0..<2 {
                while next[team] < rankings[team].count && taken.contains(rankings[team][next[team]]) { next[team] += 1 }
            }
            let open = (0..<2).filter { next[$0] < rankings[$0].count }
            guard !open.isEmpty else { break }
            var team = picks[0] == picks[1] ? Int(rng.next() & 1) : (picks[0] < picks[1] ? 0 : 1)
            if !open.contains(team) { team = open[0] }
            let item = rankings[team][next[team]]
            taken.insert(item)
            picks[team] += 1
            out.append(Slot(item: item, team: team))
        }
        return out
    }
}
