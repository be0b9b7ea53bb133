import RummageCore
import Serving
import Testing

@Suite struct TeamDraftTests {
    /// Rankings a b c d and b a e f: whichever team picks first, the list is a permutation of the two
    /// rankings' first items with each team credited for what it placed; a team's picks keep its order.
    @Test func mergesWithoutDuplicatesCreditingEachTeam() {
        let first = ["a", "b", "c", "d"], second = ["b", "a", "e", "f"]
        var firstPicksFirst = 0
        for seed in UInt64(0)..<200 {
            let merged = TeamDraft.merge(first, second, k: 4, seed: seed)
            #expect(merged.count == 4 && Set(merged.map(\.item)).count == 4)
            #expect(merged.filter { $0.team == 0 }.count == 2, "each team places half of an even list")
            for (team, ranking) in [(0, first), (1, second)] {
                let placed = merged.filter { $0.team == team }.map(\.item)
                #expect(placed == ranking.filter(placed.contains), "a team's picks keep its ranking's order")
            }
            if merged[0].team == 0 { firstPicksFirst += 1 }
            #expect(merged == TeamDraft.merge(first, second, k: 4, seed: seed), "deterministic for a seed")
        }
        #expect(firstPicksFirst > 70 && firstPicksFirst < 130, "the coin is fair: \(firstPicksFirst) of 200")
        // Known answer: the first team picks first, takes a; the second takes b; the first, c; the second, e.
        let known = (UInt64(0)..<200).lazy.map { TeamDraft.merge(first, second, k: 4, seed: $0) }.first { $0[0].team == 0 && $0[2].team == 0 }!
        #expect(known.map(\.item) == ["a", "b", "c", "e"] && known.map(\.team) == [0, 1, 0, 1])
    }

    /// Identical rankings: the list is that ranking, whoever is credited.
    @Test func identicalRankingsGiveTheRanking() {
        let ranking = (0..<20).map { "l\($0)" }
        for seed in UInt64(0)..<20 { #expect(TeamDraft.merge(ranking, ranking, k: 10, seed: seed).map(\.item) == Array(ranking.prefix(10))) }
    }

    /// A ranking used up leaves the rest to the other; both used up end the list early.
    @Test func aShortRankingLeavesThePicksToTheOther() {
        let merged = TeamDraft.merge(["a"], ["b", "c", "d"], k: 10, seed: 3)
        #expect(Set(merged.map(\.item)) == ["a", "b", "c", "d"] && merged.count == 4)
        #expect(merged.first { $0.item == "a" }?.team == 0 && merged.filter { $0.team == 1 }.count == 3)
        #expect(TeamDraft.merge([], [], k: 5, seed: 1).isEmpty)
    }
}
