import LinearAlgebra
import RummageCore

/// Index files: a binary artifact (`ArtifactWriter`: magic, version, kind, checksum) holding the whole
/// graph, and a `stamp` naming what the index was built from (the model version), so a server can
/// refuse an index that does not belong to its model.
extension HNSWIndex {
    public static let artifactKind = "hnsw-index"

    public func save(to path: String, stamp: String) throws(DataError) {
        var w = ArtifactWriter(kind: Self.artifactKind)
        w.append(stamp)
        w.append(UInt32(dimension))
        let c = configuration
        w.append(UInt32(c.m)); w.append(UInt32(c.efConstruction)); w.append(UInt32(c.efSearch))
        w.append(c.rebuildFraction); w.append(c.seed)
        withGraph { g in
            w.append(UInt64(g.ids.count))
            for (id, deleted) in zip(g.ids, g.deleted) { w.append(id); w.append(UInt8(deleted ? 1 : 0)) }
            w.append(floats: g.vectors, shape: [g.ids.count, dimension])
            for levels in g.neighbours {
                w.append(UInt8(levels.count))
                for links in levels {
                    w.append(UInt32(links.count))
                    for n in links { w.append(n) }
                }
            }
            w.append(g.entry); w.append(Int32(g.maxLevel))
            w.append(g.rng.s0); w.append(g.rng.s1); w.append(g.rng.s2); w.append(g.rng.s3)
        }
        try w.write(to: path)
    }

    /// Loads an index and its stamp; corrupt, truncated or foreign files throw.
    public static func load(from path: String) throws(DataError) -> (index: HNSWIndex, stamp: String) {
        var r = try ArtifactReader(path: path, expectedKind: artifactKind)
        let stamp = try r.string()
        let d = Int(try r.integer(UInt32.self))
        var c = Configuration()
        c.m = Int(try r.integer(UInt32.self)); c.efConstruction = Int(try r.integer(UInt32.self))
        c.efSearch = Int(try r.integer(UInt32.self)); c.rebuildFraction = try r.double(); c.seed = try r.integer(UInt64.self)
        guard d > 0, c.m >= 2, c.efConstruction >= 1 else { throw DataError(.corrupt, "implausible index header", path: path) }
        let n = Int(try r.integer(UInt64.self))
        var g = Graph(rng: SeededGenerator(seed: c.seed))
        for node in 0..<n {
            let id = try r.integer(Int64.self)
            let deleted = try r.integer(UInt8.self) == 1
            g.ids.append(id)
            g.deleted.append(deleted)
            if deleted { g.deletedCount += 1 } else { g.nodeOfID[id] = Int32(node) }
        }
        let vectors = try r.floats(rank: 2)
        guard vectors.shape == [n, d] else { throw DataError(.corrupt, "vectors of shape \(vectors.shape), expected [\(n), \(d)]", path: path) }
        g.vectors = vectors.values
        for _ in 0..<n {
            var levels: [[Int32]] = []
            for _ in 0..<Int(try r.integer(UInt8.self)) {
                var links: [Int32] = []
                for _ in 0..<Int(try r.integer(UInt32.self)) {
                    let link = try r.integer(Int32.self)
                    guard link >= 0 && Int(link) < n else { throw DataError(.corrupt, "link to node \(link) of \(n)", path: path) }
                    links.append(link)
                }
                levels.append(links)
            }
            g.neighbours.append(levels)
        }
        g.entry = try r.integer(Int32.self)
        g.maxLevel = Int(try r.integer(Int32.self))
        g.rng.s0 = try r.integer(UInt64.self); g.rng.s1 = try r.integer(UInt64.self)
        g.rng.s2 = try r.integer(UInt64.self); g.rng.s3 = try r.integer(UInt64.self)
        try r.finish()
        guard g.entry < Int32(n), n == 0 || g.entry >= 0 else { throw DataError(.corrupt, "entry node \(g.entry) of \(n)", path: path) }
        return (HNSWIndex(dimension: d, configuration: c, graph: g), stamp)
    }
}
