import Events
import Experiments
import Features
import Ranking
import RummageCore

/// A surface's fully explored lists from the log, for evaluating other rankings of the same candidates
/// off-policy: lists whose every slot was drawn uniformly from the candidates the list logged
/// (`LoggedCandidates`; a surface with `exploration_share: 1` and a temperature high enough that the draw
/// is uniform, e.g. `exploration_temperature: 1000000`).
///
/// On such a list every candidate is equally likely in every slot (1 / candidates), so a ranking of the
/// same candidates is evaluated slot by slot: in slot j its j-th listing would have drawn the logged
/// engagement if it is the listing shown there (importance weight `candidates`), and nothing is known
/// otherwise (weight 0). Estimates of its CTR (`OffPolicyEstimates` over `rounds(orders:)`) are unbiased
/// when a user's engagement with a slot depends on the listing and the slot but not on the rest of the
/// list (the position-based model; Li et al. 2018, "Offline Evaluation of Ranking Policies with Click
/// Models"); re-ranking rules a surface would apply afterwards are not part of the evaluated ranking.
public struct ExploredLists: Sendable {
    public struct List: Sendable {
        public var rankingID: String
        public var user: String
        public var time: Int64
        /// The listings the list was drawn from, with their retrieval scores, in the order logged.
        public var candidates: [(item: String, score: Float)]
        /// Each slot's listing (an index into `candidates`) and its reward (1 if engaged with, else 0).
        public var slots: [(candidate: Int, reward: Double)]
    }

    public var lists: [List]
    /// Lists with logged candidates that cannot be used, by reason.
    public var skipped: [String: Int]

    /// How far a slot's logged probability may be from the uniform draw's, relative.
    public static let uniformTolerance = 1e-4

    /// The lists of `surface` in `events` whose first impression `include` accepts (by its `ranking_id`, its
    /// time); a slot's reward is 1 when the user's `reward` engagement with it names the list within
    /// `attributionSeconds` (`Attribution`).
    public static func build(events: [Event], surface: String, reward: EventType = .view, attributionSeconds: Int64 = 3_600,
                             include: (Event) -> Bool = { _ in true }) -> ExploredLists {
        let attributed = Attribution.join(events, windowSeconds: attributionSeconds) { $0.surface == surface }
        var byList: [String: [AttributedImpression]] = [:]
        for shown in attributed { byList[shown.impression.rankingID!, default: []].append(shown) }
        var lists: [List] = [], skipped: [String: Int] = [:]
        for (id, shown) in byList {
            let slots = shown.sorted { ($0.impression.position ?? 0) < ($1.impression.position ?? 0) }
            guard include(slots[0].impression), let text = slots[0].impression.attributes[LoggedCandidates.attribute] else { continue }
            guard let candidates = LoggedCandidates.decode(text), !candidates.isEmpty else { skipped["unreadable candidates", default: 0] += 1; continue }
            guard slots.enumerated().allSatisfy({ $0.element.impression.position == $0.offset }) else {
                skipped["slots missing from the log", default: 0] += 1
                continue
            }
            let uniform = slots.enumerated().allSatisfy { j, s in
                guard let p = s.impression.attributes["propensity"].flatMap(Double.init) else { return false }
                return abs(p * Double(candidates.count - j) - 1) <= uniformTolerance
            }
            guard uniform else { skipped["not drawn uniformly from its candidates", default: 0] += 1; continue }
            let index = Dictionary(candidates.enumerated().map { ($0.element.item, $0.offset) }, uniquingKeysWith: { a, _ in a })
            let chosen = slots.map { index[$0.impression.item!.value] }
            guard chosen.allSatisfy({ $0 != nil }) else { skipped["a shown listing is not among its candidates", default: 0] += 1; continue }
            lists.append(List(rankingID: id, user: slots[0].impression.user!.value, time: slots[0].impression.timestamp, candidates: candidates,
                              slots: zip(chosen, slots).map { ($0!, $1.engaged(reward) ? 1 : 0) }))
        }
        lists.sort { ($0.time, $0.rankingID) < ($1.time, $1.rankingID) }
        return ExploredLists(lists: lists, skipped: skipped)
    }

    /// Every candidate's ranker row (`RankingFeatures`), point in time: the lists in order, each list's
    /// candidates in order, concatenated.
    public func rankerRows(events: [Event]) -> [Float] {
        let shown = lists.flatMap { list in
            list.candidates.map { RankingFeatures.Shown(user: list.user, item: $0.item, time: list.time, retrievalScore: $0.score) }
        }
        return RankingFeatures.offlineRows(events: events, shown: shown).flatMap { $0 }
    }

    /// Each list's candidates ordered by `scores` (one per candidate, as `rankerRows` lays them out),
    /// best first; ties keep the logged order.
    public func orders(scores: [Float]) -> [[Int]] {
        var start = 0
        return lists.map { list in
            defer { start += list.candidates.count }
            return list.candidates.indices.sorted { (scores[start + $0], -$0) > (scores[start + $1], -$1) }
        }
    }

    /// Each list's candidates in retrieval's order (what a surface without a ranker shows).
    public var retrievalOrders: [[Int]] { orders(scores: lists.flatMap { $0.candidates.map(\.score) }) }

    /// The logged rounds of a ranking of each list's candidates (`orders[l]`, best first): one per shown
    /// slot j, action the listing shown, propensity 1 / candidates, target all on the ranking's j-th
    /// listing, the user as the unit; the reward model (for the doubly robust estimate) predicts slot j's
    /// mean logged reward for any listing.
    public func rounds(orders: [[Int]]) -> [LoggedRound] {
        precondition(orders.count == lists.count)
        let slotCount = lists.map(\.slots.count).max() ?? 0
        var sums = [Double](repeating: 0, count: slotCount), counts = sums
        for list in lists {
            for (j, slot) in list.slots.enumerated() {
                sums[j] += slot.reward
                counts[j] += 1
            }
        }
        var rounds: [LoggedRound] = []
        for (list, order) in zip(lists, orders) {
            let n = list.candidates.count
            for (j, slot) in list.slots.enumerated() {
                var target = [Double](repeating: 0, count: n)
                if j < order.count { target[order[j]] = 1 }
                rounds.append(LoggedRound(action: slot.candidate, reward: slot.reward, propensity: 1 / Double(n), target: target,
                                          predicted: [Double](repeating: sums[j] / counts[j], count: n), unit: list.user))
            }
        }
        return rounds
    }
}

/// A ranker evaluated off-policy against a baseline ranking on the same explored lists.
public struct RankerOffPolicyEvaluation: Sendable {
    public var lists: Int
    public var candidate: OffPolicyEstimates
    public var baseline: OffPolicyEstimates
    public var uplift: OffPolicyUplift

    /// `candidate` ranks each list's candidates by its scores of `rows` (`ExploredLists.rankerRows`);
    /// `baseline` likewise, or retrieval's order when nil.
    public init(_ explored: ExploredLists, rows: [Float], candidate: GradientBoostedTrees, baseline: GradientBoostedTrees?) throws {
        let columns = RankingFeatures.names.count
        let candidateRounds = explored.rounds(orders: explored.orders(scores: try candidate.predict(rows, columns: columns)))
        let baselineRounds = explored.rounds(orders: try baseline.map { explored.orders(scores: try $0.predict(rows, columns: columns)) }
                                                 ?? explored.retrievalOrders)
        lists = explored.lists.count
        self.candidate = try OffPolicyEstimates(candidateRounds)
        self.baseline = try OffPolicyEstimates(baselineRounds)
        uplift = try OffPolicyUplift(candidate: candidateRounds, baseline: baselineRounds)
    }
}
