import Experiments
import RummageCore
import Testing

@Suite struct OffPolicyEstimatesTests {
    /// Uniform logging over two actions, a target that always takes action 0, a reward model predicting
    /// 0.4 and 0.6: every estimate and diagnostic by hand.
    @Test func knownAnswer() throws {
        let rounds = [(0, 1.0), (0, 0.0), (1, 1.0), (1, 0.0)].map { action, reward in
            LoggedRound(action: action, reward: reward, propensity: 0.5, target: [1, 0], predicted: [0.4, 0.6])
        }
        let e = try OffPolicyEstimates(rounds)
        #expect(abs(e.ips.value - 0.5) < 1e-12 && abs(e.snips.value - 0.5) < 1e-12)
        // DR terms: 0.4 + 2(1 − 0.4), 0.4 + 2(0 − 0.4), 0.4, 0.4.
        #expect(abs(e.doublyRobust!.value - 0.5) < 1e-12)
        #expect(abs(e.effectiveSampleSize - 2) < 1e-12 && e.largestWeight == 2 && e.clippedShare == 0)
        #expect(abs(e.logged.value - 0.5) < 1e-12)

        let clipped = try OffPolicyEstimates(rounds, clip: 1.5)
        #expect(abs(clipped.ips.value - 0.375) < 1e-12 && clipped.clippedShare == 0.5 && clipped.largestWeight == 1.5)
        let withoutModel = try OffPolicyEstimates(rounds.map { var r = $0; r.predicted = nil; return r })
        #expect(withoutModel.doublyRobust == nil)
    }

    @Test func refusesRoundsThatBreakTheRules() {
        let good = LoggedRound(action: 0, reward: 1, propensity: 0.5, target: [1, 0])
        for bad in [LoggedRound(action: 0, reward: 1, propensity: 0, target: [1, 0]),
                    LoggedRound(action: 2, reward: 1, propensity: 0.5, target: [1, 0]),
                    LoggedRound(action: 0, reward: 1, propensity: 0.5, target: [1, 0], predicted: [0.1])] {
            #expect(throws: ExperimentError.self) { _ = try OffPolicyEstimates([good, bad]) }
        }
        #expect(throws: ExperimentError.self) { _ = try OffPolicyEstimates([]) }
    }

    /// Three actions clicked with probabilities 0.1, 0.3 and 0.6, logged by a policy choosing them with 0.5,
    /// 0.3 and 0.2: a target choosing 0.1, 0.1 and 0.8 is worth 0.52. Over 20,000 seeded rounds every
    /// estimate's interval holds it, also with a wrong reward model (DR stays unbiased), while the logged
    /// rewards' mean (0.26) is far from it.
    @Test func estimatesRecoverAKnownPolicyValue() throws {
        var rng = SeededGenerator(seed: 17)
        let click = [0.1, 0.3, 0.6], logging = [0.5, 0.3, 0.2], target = [0.1, 0.1, 0.8]
        let rounds = (0..<20_000).map { _ -> LoggedRound in
            let u = rng.nextDouble()
            let action = u < logging[0] ? 0 : (u < logging[0] + logging[1] ? 1 : 2)
            return LoggedRound(action: action, reward: rng.nextDouble() < click[action] ? 1 : 0, propensity: logging[action],
                               target: target, predicted: [0.2, 0.2, 0.2])
        }
        let e = try OffPolicyEstimates(rounds)
        for (name, estimate) in [("ips", e.ips), ("snips", e.snips), ("dr", e.doublyRobust!)] {
            // Within 3.3 standard errors (a 99.9 % interval: a seed fails this once in a thousand).
            #expect(abs(estimate.value - 0.52) < 3.3 * estimate.standardError && estimate.standardError < 0.015, "\(name) \(estimate)")
        }
        #expect(abs(e.logged.value - 0.26) < 0.01, "\(e.logged.value)")
        #expect(e.effectiveSampleSize < 20_000 && e.effectiveSampleSize > 2_000, "\(e.effectiveSampleSize)")
    }
}

@Suite struct OffPolicyUpliftTests {
    /// The knownAnswer rounds with two targets: always action 0 (worth 0.5) and always action 1 (worth 0.5):
    /// the paired differences by hand, and refusals of rounds that are not the same.
    @Test func pairedDifferencesByHand() throws {
        let logged = [(0, 1.0), (0, 0.0), (1, 1.0), (1, 0.0), (1, 1.0)]
        func rounds(_ target: [Double]) -> [LoggedRound] {
            logged.map { LoggedRound(action: $0.0, reward: $0.1, propensity: 0.5, target: target, predicted: [0.4, 0.6]) }
        }
        let uplift = try OffPolicyUplift(candidate: rounds([0, 1]), baseline: rounds([1, 0]))
        // IPS terms (w₁ − w₀) r: −2, 0, 2, 0, 2 → 0.4.
        #expect(abs(uplift.ips.value - 0.4) < 1e-12)
        // DR terms: 0.6 − 0.4 + (w₁ − w₀)(r − q̂(a)): 0.2 − 1.2, 0.2 + 0.8, 0.2 + 0.8, 0.2 − 1.2, 0.2 + 0.8 → 0.2.
        #expect(abs(uplift.doublyRobust!.value - 0.2) < 1e-12)
        var other = rounds([1, 0])
        other[2].reward = 0
        #expect(throws: ExperimentError.self) { _ = try OffPolicyUplift(candidate: rounds([0, 1]), baseline: other) }
        #expect(throws: ExperimentError.self) { _ = try OffPolicyUplift(candidate: rounds([0, 1]), baseline: Array(rounds([1, 0]).prefix(2))) }
    }
}
