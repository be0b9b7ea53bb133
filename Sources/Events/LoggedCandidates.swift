import Foundation

/// The candidates a fully explored list was sampled from (every slot drawn, e.g. a surface with
/// `exploration_share: 1`), kept on the list's first impression as the attribute `candidates` so that
/// another ranking of the same candidates can be evaluated off-policy later: each listing with its
/// retrieval score (what a ranker reads), in the order the list was sampled from.
///
/// Encoded as JSON, `[["l1", "0.53"], …]` (scores as Swift prints a Float, so they read back exactly).
public enum LoggedCandidates {
    public static let attribute = "candidates"

    public static func encode(_ candidates: [(item: String, score: Float)]) -> String {
        let pairs = candidates.map { [$0.item, String($0.score)] }
        return (try? String(decoding: JSONEncoder().encode(pairs), as: UTF8.self)) ?? "[]"
    }

    /// Nil when `text` is not what `encode` writes.
    public static func decode(_ text: String) -> [(item: String, score: Float)]? {
        guard let pairs = try? JSONDecoder().decode([[String]].self, from: Data(text.utf8)) else { return nil }
        var candidates: [(item: String, score: Float)] = []
        candidates.reserveCapacity(pairs.count)
        for pair in pairs {
            guard pair.count == 2, let score = Float(pair[1]) else { return nil }
            candidates.append((pair[0], score))
        }
        return candidates
    }
}
