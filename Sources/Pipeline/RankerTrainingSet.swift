import Events
import Experiments
import Features
import Ranking
import RummageCore

/// A learned ranker's data, from the event log: every impression of a surface (a listing shown to a user in
/// a list with a `ranking_id`), labelled by the engagement that followed it, with `RankingFeatures` computed
/// point in time. One list (`ranking_id`) is one query group.
///
/// Labels are graded by the strongest engagement with the same listing that names the impression's
/// `ranking_id` within `attributionSeconds` after it (`Attribution`): view 1, like or save 2, add to bag 3,
/// purchase 4; none 0. Lists without any engagement teach a ranking nothing and are left out (of the NDCG average too).
///
/// Held out: the newest `validationFraction` of lists (by impression time). Users look at the top of a list
/// first, so on lists shown in the ranking's order the engagement follows that order whatever the listings'
/// worth, and any other order looks worse than it is. When the log holds at least `minimumRandomizedLists`
/// fully explored lists (every slot sampled: the first slot's logged `propensity` below 1, e.g. a
/// surface with `exploration_share: 1` and a high temperature on a share of traffic), the held-out lists
/// are the newest of those instead: there a listing's position does not depend on either order compared.
public struct RankerTrainingSet: Sendable {
    public struct Options: Sendable {
        public var surface: String
        public var attributionSeconds: Int64 = 3_600
        public var validationFraction = 0.2
        public var minimumRandomizedLists = 200

        public init(surface: String) { self.surface = surface }
    }

    /// The grade of an engagement type (absent: not an engagement).
    public static let grades: [EventType: Float] = [.view: 1, .like: 2, .save: 2, .addToBag: 3, .purchase: 4]

    public var training: GradientBoostedTrees.Rows
    public var validation: GradientBoostedTrees.Rows
    /// Impressions of the surface in the log, and how many were engaged with.
    public var impressions: Int
    public var engaged: Int
    /// Whether the held-out lists are fully explored ones (see the type's description).
    public var validationRandomized: Bool
    /// The `ranking_id`s of the lists in `training`: evaluation elsewhere leaves them out.
    public var trainingLists: Set<String>

    /// Builds the set from `events` (the log as read, any order).
    public static func build(events: [Event], options: Options) -> RankerTrainingSet {
        struct Shown { var event: Event; var retrievalScore: Float; var propensity: Double; var label: Float }
        let attributed = Attribution.join(events, windowSeconds: options.attributionSeconds) { event in
            event.surface == options.surface && event.attributes["retrieval_score"].flatMap(Float.init) != nil
        }
        let shown = attributed.map { s in
            Shown(event: s.impression, retrievalScore: Float(s.impression.attributes["retrieval_score"]!)!,
                  propensity: s.impression.attributes["propensity"].flatMap(Double.init) ?? 1,
                  label: grades.filter { s.engaged($0.key) }.map(\.value).max() ?? 0)
        }
        // Point-in-time rows, by the same function `rummage features check` compares with serving's.
        let rows = RankingFeatures.offlineRows(events: events, shown: shown.map {
            .init(user: $0.event.user!.value, item: $0.event.item!.value, time: $0.event.timestamp, retrievalScore: $0.retrievalScore)
        })
        // Lists in time order (then by id), each list's rows by position; the newest fraction held out.
        var lists: [String: [Int]] = [:]
        for (k, s) in shown.enumerated() { lists[s.event.rankingID!, default: []].append(k) }
        let ordered = lists.map { ($0.key, $0.value.sorted { (shown[$0].event.position ?? 0) < (shown[$1].event.position ?? 0) }) }
            .sorted { (shown[$0.1[0]].event.timestamp, $0.0) < (shown[$1.1[0]].event.timestamp, $1.0) }
        let randomized = ordered.filter { shown[$0.1[0]].propensity < 1 && $0.1.contains { shown[$0].label > 0 } }
        let heldOut: Set<String>
        if randomized.count >= options.minimumRandomizedLists {
            heldOut = Set(randomized.suffix(Int((Double(randomized.count) * options.validationFraction).rounded())).map(\.0))
        } else {
            heldOut = Set(ordered.suffix(Int((Double(ordered.count) * options.validationFraction).rounded())).map(\.0))
        }
        func assemble(_ part: [(String, [Int])]) -> GradientBoostedTrees.Rows {
            var values: [Float] = [], labels: [Float] = [], groups: [Int] = []
            for (_, members) in part where members.contains(where: { shown[$0].label > 0 }) {
                for k in members {
                    values += rows[k]
                    labels.append(shown[k].label)
                }
                groups.append(members.count)
            }
            return GradientBoostedTrees.Rows(values: values, columns: RankingFeatures.names.count, labels: labels, groups: groups)
        }
        let training = ordered.filter { !heldOut.contains($0.0) && $0.1.contains { shown[$0].label > 0 } }
        return RankerTrainingSet(training: assemble(training),
                                 validation: assemble(ordered.filter { heldOut.contains($0.0) }),
                                 impressions: shown.count, engaged: shown.count { $0.label > 0 },
                                 validationRandomized: randomized.count >= options.minimumRandomizedLists,
                                 trainingLists: Set(training.map(\.0)))
    }
}
