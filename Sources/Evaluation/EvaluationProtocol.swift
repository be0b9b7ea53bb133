import RummageCore

/// The protocol a split is evaluated with: the one its source defines, so published numbers are
/// reproducible.
public enum EvaluationProtocol: Sendable {
    case sampled(SampledRankingProtocol)
    case fullRanking(FullRankingProtocol)

    public var name: String {
        switch self {
        case .sampled: "sampled"
        case .fullRanking: "full-ranking"
        }
    }
}
