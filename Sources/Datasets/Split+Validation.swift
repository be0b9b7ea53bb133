import Evaluation
import RummageCore

extension Split {
    /// A split for tuning, carved from this split's training part alone: its test part is never read.
    /// Each user with at least two training interactions gives some up at random (seeded), and the
    /// validation protocol is this split's own kind:
    /// - sampled (e.g. NCF's 1 + 99): one held-out interaction per user, ranked against as many negatives
    ///   as this split's cases have, drawn among the items the user has no training interaction with;
    /// - full ranking: `fraction` of each user's interactions (at least one, never all), ranked against
    ///   every item the user does not train on, with this split's eligible items and cut-offs.
    /// Features and a marketplace's data are kept as they are.
    public func validation(seed: UInt64 = 1, fraction: Double = 0.2) -> Split {
        precondition(fraction > 0 && fraction < 1)
        var rng = SeededGenerator(seed: seed)
        let byUser = train.byUser, itemCount = train.itemCount
        var users: [Int32] = [], items: [Int32] = [], weights: [Float] = []
        var heldUsers: [Int32] = [], heldItems: [Int32] = []
        var cases: [SampledCase] = []
        let negativeCount: Int
        if case .sampled(let spec) = evaluation { negativeCount = spec.cases.first?.negatives.count ?? 99 } else { negativeCount = 0 }
        for u in 0..<byUser.rowCount {
            let row = Array(byUser.columns(of: u)), values = Array(byUser.values(of: u))
            var held = Set<Int>()
            if row.count >= 2 {
                let count: Int
                if case .sampled = evaluation { count = 1 } else { count = min(row.count - 1, max(1, Int((Double(row.count) * fraction).rounded()))) }
                while held.count < count { held.insert(rng.nextInt(below: row.count)) }
            }
            for k in row.indices {
                if held.contains(k) {
                    heldUsers.append(Int32(u))
                    heldItems.append(row[k])
                } else {
                    users.append(Int32(u))
                    items.append(row[k])
                    weights.append(values[k])
                }
            }
            if negativeCount > 0, let positive = held.first.map({ row[$0] }) {
                let known = Set(row)
                var negatives: [ItemIndex] = [], drawn = Set<Int32>()
                while negatives.count < min(negativeCount, itemCount - known.count) {
                    let item = Int32(rng.nextInt(below: itemCount))
                    if !known.contains(item) && drawn.insert(item).inserted { negatives.append(ItemIndex(item)) }
                }
                cases.append(SampledCase(user: UserIndex(Int32(u)), positive: ItemIndex(positive), negatives: negatives))
            }
        }
        let remaining = InteractionMatrix(userCount: byUser.rowCount, itemCount: itemCount, users: users, items: items, weights: weights)
        let protocolSpec: EvaluationProtocol
        switch evaluation {
        case .sampled(let spec):
            protocolSpec = .sampled(SampledRankingProtocol(cases: cases, cutoffs: spec.cutoffs))
        case .fullRanking(let spec):
            let heldOut = SparseRows(rowCount: byUser.rowCount, columnCount: itemCount, rows: heldUsers, columns: heldItems)
            protocolSpec = .fullRanking(FullRankingProtocol(heldOut: heldOut, excluded: remaining.byUser, eligible: spec.eligible, cutoffs: spec.cutoffs))
        }
        var split = Split(name: name + " (validation carved from training, seed \(seed))", train: remaining, evaluation: protocolSpec,
                          userFeatures: userFeatures, itemFeatures: itemFeatures)
        split.marketplace = marketplace
        return split
    }
}
