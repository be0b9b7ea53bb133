import Foundation
import RummageCore

/// Exploration with logged propensities: the last `share × k` slots of an answer are filled by
/// Plackett–Luce sampling over the remaining candidates (weights exp(score / temperature)), so listings
/// the ranking would never show get shown now and then, and every shown listing's probability of being
/// chosen for its slot is known. Slots before them are the ranking's first listings (probability 1).
///
/// The draw is seeded by the answer's `ranking_id` (FNV-1a), so an answer can be recomputed exactly from
/// its id and candidates; the probabilities are logged on each impression (`propensity`) for unbiased
/// evaluation and training later.
public struct Exploration: Sendable, Equatable {
    /// Which listings the sampled slots are drawn from.
    public enum Pool: String, Sendable, CaseIterable, Codable {
        /// The rest of the ranking.
        case ranking
        /// New listings only (created within the surface's `new_within_hours`): the surface also retrieves
        /// the `newCandidates` best new listings for the user, so that new listings get their first
        /// impressions (an exposure floor: every answer shows some).
        case new
    }

    /// New listings retrieved for the `new` pool besides the surface's candidates.
    public static let newCandidates = 100

    /// The share of the k slots that are sampled, in [0, 1].
    public var share: Double
    /// Plackett–Luce temperature on the ordering scores: small values keep close to the ranking, large
    /// ones approach uniform.
    public var temperature: Double
    public var pool: Pool

    public init(share: Double, temperature: Double = 1, pool: Pool = .ranking) {
        self.share = share
        self.temperature = temperature
        self.pool = pool
    }

    /// How many of `k` slots are sampled.
    func sampledSlots(k: Int) -> Int { min(k, Int((share * Double(k)).rounded())) }

    /// The `k` (or fewer) candidates shown, as indices into `scores`, with each one's probability of being
    /// chosen for its slot. `order` is the ranking (indices by descending score); `inPool` says which
    /// candidates the sampled slots may take (when fewer are left than slots, the ranking fills the rest).
    public func choose(order: [Int], scores: [Float], k: Int, rankingID: String,
                       inPool: (Int) -> Bool = { _ in true }) -> (shown: [Int], propensities: [Double]) {
        let count = min(k, order.count)
        var sampled = min(sampledSlots(k: k), count), remaining: [Int] = []
        while sampled > 0 {
            remaining = order.dropFirst(count - sampled).filter(inPool)
            if remaining.count >= sampled { break }
            sampled -= 1
        }
        var shown = Array(order.prefix(count - sampled)), propensities = [Double](repeating: 1, count: shown.count)
        guard sampled > 0 else { return (shown, propensities) }
        var rng = SeededGenerator(seed: FNV1a.hash(rankingID))
        for _ in 0..<sampled {
            // Weights relative to the best remaining score, so exp never overflows.
            let top = remaining.map { Double(scores[$0]) }.max() ?? 0
            let weights = remaining.map { exp((Double(scores[$0]) - top) / temperature) }
            let total = weights.reduce(0, +)
            var draw = rng.nextDouble() * total, pick = remaining.count - 1
            for (j, w) in weights.enumerated() {
                if draw < w { pick = j; break }
                draw -= w
            }
            shown.append(remaining[pick])
            propensities.append(weights[pick] / total)
            remaining.remove(at: pick)
        }
        return (shown, propensities)
    }
}
