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
    /// The share of the k slots that are sampled, in [0, 1].
    public var share: Double
    /// Plackett–Luce temperature on the ordering scores: small values keep close to the ranking, large
    /// ones approach uniform.
    public var temperature: Double

    public init(share: Double, temperature: Double = 1) {
        self.share = share
        self.temperature = temperature
    }

    /// How many of `k` slots are sampled.
    func sampledSlots(k: Int) -> Int { min(k, Int((share * Double(k)).rounded())) }

    /// The `k` (or fewer) candidates shown, as indices into `scores`, with each one's probability of being
    /// chosen for its slot. `order` is the ranking (indices by descending score).
    public func choose(order: [Int], scores: [Float], k: Int, rankingID: String) -> (shown: [Int], propensities: [Double]) {
        let count = min(k, order.count), sampled = min(sampledSlots(k: k), count)
        var shown = Array(order.prefix(count - sampled)), propensities = [Double](repeating: 1, count: shown.count)
        guard sampled > 0 else { return (shown, propensities) }
        var remaining = Array(order.dropFirst(count - sampled))
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
