import RummageCore
import Training

/// Scores every (user, item) pair with a fixed pseudo-random number derived from the seed.
///
/// The floor every model must beat: on the 1 + 99 protocol HR@10 is about 0.10.
public struct RandomRecommender: Recommender {
    public let userCount: Int
    public let itemCount: Int
    public let seed: UInt64

    public init(userCount: Int, itemCount: Int, seed: UInt64) {
        self.userCount = userCount
        self.itemCount = itemCount
        self.seed = seed
    }

    public func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(scores.count == itemCount)
        let userKey = seed ^ (UInt64(UInt32(bitPattern: user.rawValue)) &* 0x9E37_79B9_7F4A_7C15)
        for i in 0..<itemCount {
            // SplitMix64 finaliser of (user, item): a stateless, reproducible hash.
            var z = userKey &+ UInt64(i) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            scores[i] = Float(z >> 40) * 0x1.0p-24
        }
    }
}
