import RummageAPI
import RummageCore

/// A traffic split between model aliases, e.g. 90 % `champion` and 10 % `challenger`, or, with `surface`,
/// between surfaces: a request to that surface is served by the variant's surface definition (the same
/// model alias), e.g. `home` (retrieval alone) against `home-ranked` (the same retrieval, then a learned
/// ranker). A user's variant comes from a stable hash (FNV-1a, 64 bit, with MurmurHash3's finaliser to mix the low bits) of the
/// experiment name and the user id: the same user gets
/// the same variant on every request and every server, and a new experiment name reshuffles users.
public struct Experiment: Sendable, Equatable {
    public struct Variant: Sendable, Equatable {
        public var alias: String
        public var weight: Int
    }

    public let name: String
    public let variants: [Variant]
    /// The surface whose requests are split between the surfaces the variants name; nil: the variants are
    /// model aliases and every surface's requests are split.
    public let surface: String?
    /// Interleaving instead of a split: every request to `surface` is answered by both variants' rankings
    /// merged by team draft (`TeamDraft`), each listing's impression naming the variant that placed it
    /// (`team`). Needs `surface` and exactly two variants (their weights do not matter).
    public let interleaves: Bool

    /// `split`: `alias=weight,alias=weight,…` with positive integer weights (their shares of the total);
    /// with `surface`, surface names instead of aliases. The name and the variants are ids
    /// (`CanonicalID`): they become log fields and metric labels.
    public init(name: String, split: String, surface: String? = nil, interleave: Bool = false) throws(ServingError) {
        guard !name.isEmpty else { throw ServingError("an experiment needs a name") }
        if let problem = CanonicalID.problem(with: name) { throw ServingError("the experiment name \(problem)") }
        var variants: [Variant] = []
        for part in split.split(separator: ",") {
            let pieces = part.split(separator: "=", omittingEmptySubsequences: false)
            guard pieces.count == 2, !pieces[0].isEmpty, let weight = Int(pieces[1]), weight > 0 else {
                throw ServingError("'\(part)' in --split is not alias=weight with a positive integer weight")
            }
            let alias = String(pieces[0])
            if let problem = CanonicalID.problem(with: alias) { throw ServingError("alias '\(alias)' in --split \(problem)") }
            guard !variants.contains(where: { $0.alias == alias }) else { throw ServingError("alias '\(alias)' appears twice in --split") }
            variants.append(Variant(alias: alias, weight: weight))
        }
        guard variants.count >= 2 else { throw ServingError("--split needs at least two aliases, e.g. champion=90,challenger=10") }
        if interleave {
            guard surface != nil else { throw ServingError("interleaving needs the surface whose rankings it merges (--experiment-surface)") }
            guard variants.count == 2 else { throw ServingError("interleaving merges two rankings: --split names \(variants.count)") }
        }
        self.name = name
        self.variants = variants
        self.surface = surface
        self.interleaves = interleave
    }

    /// The alias serving `user`.
    public func variant(for user: String) -> String {
        let total = UInt64(variants.reduce(0) { $0 + $1.weight })
        var bucket = Self.fnv1a(name + "\u{1F}" + user) % total
        for variant in variants {
            if bucket < UInt64(variant.weight) { return variant.alias }
            bucket -= UInt64(variant.weight)
        }
        return variants[variants.count - 1].alias
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash = FNV1a.hash(text)
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}
