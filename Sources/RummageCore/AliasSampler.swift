/// Draws index `i` with probability `weights[i] / Σ weights` in O(1) per draw (Walker/Vose alias method).
public struct AliasSampler: Sendable {
    private let probability: [Float]
    private let alias: [Int32]

    /// Precondition: weights are finite, non-negative, and at least one is positive.
    public init(weights: [Double]) {
        let n = weights.count
        let total = weights.reduce(0, +)
        precondition(n > 0 && total > 0 && weights.allSatisfy { $0 >= 0 && $0.isFinite })
        var scaled = weights.map { $0 * Double(n) / total }
        var probability = [Float](repeating: 1, count: n)
        var alias = (0..<n).map { Int32($0) }
        var small = scaled.indices.filter { scaled[$0] < 1 }
        var large = scaled.indices.filter { scaled[$0] >= 1 }
        while let s = small.popLast(), let l = large.popLast() {
            probability[s] = Float(scaled[s])
            alias[s] = Int32(l)
            scaled[l] -= 1 - scaled[s]
            if scaled[l] < 1 { small.append(l) } else { large.append(l) }
        }
        self.probability = probability
        self.alias = alias
    }

    public var count: Int { probability.count }

    @inlinable
    public func sample(_ rng: inout SeededGenerator) -> Int {
        let i = rng.nextInt(below: count)
        return rng.nextFloat() < probabilityAt(i) ? i : aliasAt(i)
    }

    @usableFromInline func probabilityAt(_ i: Int) -> Float { probability[i] }
    @usableFromInline func aliasAt(_ i: Int) -> Int { Int(alias[i]) }
}
