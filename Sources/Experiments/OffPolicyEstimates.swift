import Foundation
import RummageCore

/// One round of logged bandit feedback: the logging policy chose `action` with probability `propensity`
/// and got `reward`; a target policy would choose each action with `target[a]`; a reward model predicts
/// `predicted[a]` (optional: only the doubly robust estimate needs it). `unit` groups rounds that are not
/// independent (a user's), for the intervals.
public struct LoggedRound: Sendable {
    public var action: Int
    public var reward: Double
    public var propensity: Double
    public var target: [Double]
    public var predicted: [Double]?
    public var unit: String?

    public init(action: Int, reward: Double, propensity: Double, target: [Double], predicted: [Double]? = nil, unit: String? = nil) {
        (self.action, self.reward, self.propensity, self.target, self.predicted, self.unit) = (action, reward, propensity, target, predicted, unit)
    }

    /// The reward model's prediction averaged over the target's choice (as numpy.average(q, weights: target)
    /// does); nil without predictions.
    var targetPrediction: Double? {
        predicted.map { q in
            let mass = target.reduce(0, +)
            return mass > 0 ? zip(q, target).reduce(0) { $0 + $1.0 * $1.1 } / mass : 0
        }
    }

    /// Checks the round's rules (propensity in (0, 1], the action among the target's, predictions for the
    /// same actions); `index` names it in the error.
    func validate(_ index: Int) throws(ExperimentError) {
        guard propensity > 0 && propensity <= 1 else { throw ExperimentError("round \(index): propensity \(propensity) is not in (0, 1]") }
        guard action >= 0 && action < target.count else {
            throw ExperimentError("round \(index): action \(action) is not among the target's \(target.count) actions")
        }
        if let predicted, predicted.count != target.count {
            throw ExperimentError("round \(index): \(predicted.count) predicted rewards for \(target.count) actions")
        }
    }
}

/// Off-policy estimates of a target policy's expected reward (e.g. its CTR) from rounds a logging policy
/// chose, with the formulas of Open Bandit Pipeline (`obp.ope`), which `Benchmarks/ope_obp_parity.sh` checks
/// them against:
/// - IPS: mean of wᵢ rᵢ, with importance weight wᵢ = target(aᵢ) / propensityᵢ, clipped at `clip` if given;
/// - SNIPS (self-normalised): Σ wᵢ rᵢ / Σ wᵢ;
/// - DR (doubly robust): mean of q̂(π) + wᵢ (rᵢ − q̂(aᵢ)), q̂(π) the reward model's prediction averaged over
///   the target's choice.
/// Each comes with a 95 % interval (delta method, rounds grouped by `unit` when given). The diagnostics say
/// when not to trust them: the effective sample size (Σw)² / Σw² (how many rounds the estimate is really
/// worth), the largest weight and the share of rounds clipped.
public struct OffPolicyEstimates: Sendable, Codable {
    public var rounds: Int
    public var ips: IntervalEstimate
    public var snips: IntervalEstimate
    /// Nil when a round has no reward model prediction.
    public var doublyRobust: IntervalEstimate?
    /// The logged rewards' mean: the logging policy's own value, for comparison.
    public var logged: IntervalEstimate
    public var effectiveSampleSize: Double
    public var largestWeight: Double
    public var clip: Double?
    public var clippedShare: Double

    /// Estimates from `rounds` (at least one; every propensity in (0, 1], targets and predictions over the
    /// same actions). Throws on rounds that break those rules, naming the first.
    public init(_ rounds: [LoggedRound], clip: Double? = nil) throws(ExperimentError) {
        guard !rounds.isEmpty else { throw ExperimentError("no logged rounds to estimate from") }
        for (i, r) in rounds.enumerated() { try r.validate(i) }
        let raw = rounds.map { $0.target[$0.action] / $0.propensity }
        let weights = clip.map { c in raw.map { min($0, c) } } ?? raw
        self.rounds = rounds.count
        self.clip = clip
        clippedShare = clip.map { c in Double(raw.filter { $0 > c }.count) / Double(raw.count) } ?? 0
        largestWeight = weights.max() ?? 0
        let sum = weights.reduce(0, +), squares = weights.reduce(0) { $0 + $1 * $1 }
        effectiveSampleSize = squares > 0 ? sum * sum / squares : 0

        // Per unit (or per round): sums of the terms each estimate averages.
        var units: [String: (wr: Double, w: Double, dr: Double, r: Double, n: Double)] = [:], order: [String] = []
        let robust = rounds.allSatisfy { $0.predicted != nil }
        for (i, r) in zip(rounds.indices, rounds) {
            let key = r.unit ?? String(i)
            if units[key] == nil { order.append(key) }
            var u = units[key] ?? (0, 0, 0, 0, 0)
            u.wr += weights[i] * r.reward
            u.w += weights[i]
            u.r += r.reward
            u.n += 1
            if robust, let q = r.predicted { u.dr += r.targetPrediction! + weights[i] * (r.reward - q[r.action]) }
            units[key] = u
        }
        let sums = order.map { units[$0]! }
        ips = IntervalEstimate(RatioEstimate(units: sums.map { ($0.wr, $0.n) }))
        snips = IntervalEstimate(RatioEstimate(units: sums.map { ($0.wr, $0.w) }))
        doublyRobust = robust ? IntervalEstimate(RatioEstimate(units: sums.map { ($0.dr, $0.n) })) : nil
        logged = IntervalEstimate(RatioEstimate(units: sums.map { ($0.r, $0.n) }))
    }
}

/// How much better one target policy does than another on the same logged rounds, paired round by round
/// (so the logging noise they share cancels): the IPS difference, mean of (w₁ᵢ − w₀ᵢ) rᵢ, and with reward
/// predictions the doubly robust one, mean of q̂(π₁) − q̂(π₀) + (w₁ᵢ − w₀ᵢ)(rᵢ − q̂(aᵢ)); 95 % intervals by
/// the delta method over units as `OffPolicyEstimates` has them. No clipping.
public struct OffPolicyUplift: Sendable, Codable {
    public var ips: IntervalEstimate
    public var doublyRobust: IntervalEstimate?

    /// `candidate[i]` and `baseline[i]` must be the same logged round (action, reward, propensity, unit,
    /// predictions) with each policy's target.
    public init(candidate: [LoggedRound], baseline: [LoggedRound]) throws(ExperimentError) {
        guard !candidate.isEmpty, candidate.count == baseline.count else {
            throw ExperimentError("\(candidate.count) candidate rounds against \(baseline.count) baseline rounds: need the same, at least one")
        }
        var units: [String: (ips: Double, dr: Double, n: Double)] = [:], order: [String] = []
        let robust = candidate.allSatisfy { $0.predicted != nil } && baseline.allSatisfy { $0.predicted != nil }
        for (i, (c, b)) in zip(candidate, baseline).enumerated() {
            try c.validate(i)
            try b.validate(i)
            guard c.action == b.action, c.reward == b.reward, c.propensity == b.propensity, c.unit == b.unit, c.predicted == b.predicted else {
                throw ExperimentError("round \(i): the candidate's and the baseline's logged rounds differ")
            }
            let key = c.unit ?? String(i)
            if units[key] == nil { order.append(key) }
            var u = units[key] ?? (0, 0, 0)
            let difference = (c.target[c.action] - b.target[b.action]) / c.propensity
            u.ips += difference * c.reward
            if robust, let q = c.predicted {
                u.dr += c.targetPrediction! - b.targetPrediction! + difference * (c.reward - q[c.action])
            }
            u.n += 1
            units[key] = u
        }
        let sums = order.map { units[$0]! }
        ips = IntervalEstimate(RatioEstimate(units: sums.map { ($0.ips, $0.n) }))
        doublyRobust = robust ? IntervalEstimate(RatioEstimate(units: sums.map { ($0.dr, $0.n) })) : nil
    }
}
