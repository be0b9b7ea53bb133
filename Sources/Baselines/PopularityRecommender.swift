import RummageCore
import Training

/// TopPop: every user gets the items most interacted with in training, by number of users.
public struct PopularityRecommender: Recommender {
    public let userCount: Int
    public let itemCount: Int
    /// Number of distinct training users per item.
    public let popularity: [Float]

    public init(training data: InteractionMatrix) {
        userCount = data.userCount
        itemCount = data.itemCount
        popularity = data.itemPopularity.map(Float.init)
    }

    public func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>) {
        precondition(scores.count == itemCount)
        _ = scores.initialize(from: popularity)
    }

    public func scores(for user: UserIndex, items: [ItemIndex]) -> [Float] { items.map { popularity[$0.int] } }
}
