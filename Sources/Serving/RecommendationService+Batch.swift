import LinearAlgebra
import RummageAPI

extension RecommendationService {
    /// Exact top-k recommendations for many users at once: the live listings are scored for a block of
    /// users with one sgemm, then each row gets the same exclusions as `recommend` (not active, own,
    /// bought). Unknown users get the fallback. `body` receives the results in `users` order.
    public func batchRecommend(users: [String], k: Int, blockSize: Int = 256, _ body: (Recommendations) throws -> Void) rethrows {
        let deployment = self.deployment
        if eligibility.shared != nil {
            // Brings this replica's view of every indexed listing up to date with the shared states first.
            let indexed = deployment.indexedListings.map(\.item)
            for start in stride(from: 0, to: indexed.count, by: 10_000) { _ = eligibility.check(Array(indexed[start..<min(indexed.count, start + 10_000)])) }
        }
        let live = deployment.indexedListings.filter { eligibility.isServable($0.item) }
        let d = deployment.userVectors.columns
        var candidates = [Float](), names = [String]()
        candidates.reserveCapacity(live.count * d)
        for (id, name) in live {
            guard let vector = deployment.vector(of: id) else { continue }
            candidates += vector
            names.append(name)
        }
        let n = names.count
        var scores = [Float](repeating: 0, count: blockSize * max(n, 1))
        for start in stride(from: 0, to: users.count, by: blockSize) {
            let block = Array(users[start..<min(start + blockSize, users.count)])
            let rows = block.map { signals.query(deployment, user: $0) }
            var queries = [Float](repeating: 0, count: block.count * d)
            for (r, row) in rows.enumerated() {
                if let row { queries.replaceSubrange(r * d..<(r + 1) * d, with: row) }
            }
            if n > 0 {
                queries.withUnsafeBufferPointer { q in
                    candidates.withUnsafeBufferPointer { v in
                        scores.withUnsafeMutableBufferPointer { out in
                            BLAS.gemm(rows: block.count, columns: n, inner: d, q.baseAddress!, v.baseAddress!, transposeB: true,
                                      into: out.baseAddress!)
                        }
                    }
                }
            }
            for (r, user) in block.enumerated() {
                let excluded = eligibility.excluded(for: user)
                var top: [ScoredItem] = []
                if rows[r] != nil && n > 0 {
                    var row = Array(scores[r * n..<(r + 1) * n])
                    if !excluded.isEmpty { for (i, name) in names.enumerated() where excluded.contains(name) { row[i] = -.infinity } }
                    top = TopK.select(row, k: k).map { ScoredItem(item: names[Int($0.index)], score: $0.score) }
                }
                let fallback = top.isEmpty
                if fallback { top = retrieval.popular(deployment, k: k, excluding: excluded) }
                try body(Recommendations(user: user, modelVersion: deployment.version, items: top, fallback: fallback,
                                         variant: primaryAlias, experiment: nil, rankingID: "batch-\(deployment.version)-\(user)",
                                         reason: fallback ? (rows[r] == nil ? .popularUnknownUser : .popularNoCandidates) : nil))
            }
        }
    }
}

