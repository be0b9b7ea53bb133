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
            for node in 0..<Int32(g.ids.count) {
                let levels = Int(g.levels[Int(node)])
                w.append(UInt8(levels + 1))
                for level in 0...levels {
                    let links = g.links(node, level)
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
        let n = try r.count(ofElementsOfAtLeast: 9, what: "nodes")  // an id and a deleted flag each, at least
        var g = Graph(dimension: d, m: c.m, seed: c.seed)
        var ids: [(id: Int64, deleted: Bool)] = []
        for _ in 0..<n { ids.append((try r.integer(Int64.self), try r.integer(UInt8.self) == 1)) }
        guard Set(ids.map(\.id)).count == n else { throw DataError(.corrupt, "duplicate ids among the \(n) nodes", path: path) }
        let vectors = try r.floats(rank: 2)
        guard vectors.shape == [n, d] else { throw DataError(.corrupt, "vectors of shape \(vectors.shape), expected [\(n), \(d)]", path: path) }
        for node in 0..<n {
            let levelCount = Int(try r.integer(UInt8.self))
            guard levelCount >= 1 else { throw DataError(.corrupt, "node \(node) has no layers", path: path) }
            let appended = g.append(id: ids[node].id, vector: Array(vectors.values[node * d..<(node + 1) * d]), level: levelCount - 1)
            if ids[node].deleted { g.tombstone(appended) }
            for level in 0..<levelCount {
                var links: [Int32] = []
                for _ in 0..<Int(try r.integer(UInt32.self)) {
                    let link = try r.integer(Int32.self)
                    guard link >= 0 && Int(link) < n else { throw DataError(.corrupt, "link to node \(link) of \(n)", path: path) }
                    links.append(link)
                }
                guard links.count <= (level == 0 ? 2 * c.m : c.m) else {
                    throw DataError(.corrupt, "node \(node) has \(links.count) links on layer \(level)", path: path)
                }
                g.setLinks(appended, level, links)
            }
        }
        g.entry = try r.integer(Int32.self)
        g.maxLevel = Int(try r.integer(Int32.self))
        g.rng.s0 = try r.integer(UInt64.self); g.rng.s1 = try r.integer(UInt64.self)
        g.rng.s2 = try r.integer(UInt64.self); g.rng.s3 = try r.integer(UInt64.self)
        try r.finish()
        guard g.entry < Int32(n), n == 0 || g.entry >= 0, n == 0 || g.maxLevel == Int(g.levels[Int(g.entry)]) else {
            throw DataError(.corrupt, "entry node \(g.entry) (top layer \(g.maxLevel)) of \(n)", path: path)
        }
        // A link on layer l must reach a node that has layer l (a search reads that node's links there).
        for node in 0..<Int32(n) {
            for level in 0...Int(g.levels[Int(node)]) where g.links(node, level).contains(where: { Int(g.levels[Int($0)]) < level }) {
                throw DataError(.corrupt, "node \(node) links on layer \(level) to a node without that layer", path: path)
            }
        }
        return (HNSWIndex(dimension: d, configuration: c, graph: g), stamp)
    }
}
