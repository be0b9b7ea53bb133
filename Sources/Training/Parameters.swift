import RummageCore

/// A dense trainable tensor (a weight matrix or a bias) with its gradient and optimiser state.
///
/// Layers accumulate into `gradient` during backward; an optimiser reads it, updates `value`, and
/// the training loop zeroes it. Owned by one training loop at a time.
public final class DenseParameter: @unchecked Sendable {
    // @unchecked because: mutated only by the training loop that owns the model, never concurrently
    // except through disjoint-range kernels documented at their call sites.
    public let shape: [Int]
    public var value: [Float]
    public var gradient: [Float]
    /// Optimiser moments (allocated on first use).
    var firstMoment: [Float] = []
    var secondMoment: [Float] = []

    public init(shape: [Int], value: [Float]) {
        precondition(shape.reduce(1, *) == value.count)
        self.shape = shape
        self.value = value
        gradient = [Float](repeating: 0, count: value.count)
    }

    /// Glorot/Xavier uniform initialisation for a `fanIn × fanOut` weight.
    public static func glorot(fanIn: Int, fanOut: Int, rng: inout SeededGenerator) -> DenseParameter {
        let limit = (6 / Float(fanIn + fanOut)).squareRoot()
        return DenseParameter(shape: [fanIn, fanOut],
                              value: (0..<fanIn * fanOut).map { _ in (rng.nextFloat() * 2 - 1) * limit })
    }

    public static func zeros(_ count: Int) -> DenseParameter {
        DenseParameter(shape: [count], value: [Float](repeating: 0, count: count))
    }

    public func zeroGradient() {
        gradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
}

/// An embedding table (`rows × dimension`) whose gradient is sparse: only rows used in the batch.
///
/// Backward passes call `accumulate(row:scale:vector:)`; the touched rows and their gradient live in
/// `touchedRows` / `gradients` (row-major, one slot per touched row) until `clearGradients()`.
public final class EmbeddingTable: @unchecked Sendable {
    // @unchecked because: as DenseParameter; accumulation is single-threaded per batch.
    public let rows: Int
    public let dimension: Int
    public var weights: [Float]
    public private(set) var touchedRows: [Int32] = []
    public private(set) var gradients: [Float] = []
    private var slotOfRow: [Int32]
    var firstMoment: [Float] = []
    var secondMoment: [Float] = []

    /// Rows drawn from N(0, scale²).
    public init(rows: Int, dimension: Int, scale: Float, rng: inout SeededGenerator) {
        precondition(rows > 0 && dimension > 0)
        self.rows = rows
        self.dimension = dimension
        weights = (0..<rows * dimension).map { _ in Float(rng.nextGaussian()) * scale }
        slotOfRow = [Int32](repeating: -1, count: rows)
    }

    public init(rows: Int, dimension: Int, weights: [Float]) {
        precondition(weights.count == rows * dimension)
        self.rows = rows
        self.dimension = dimension
        self.weights = weights
        slotOfRow = [Int32](repeating: -1, count: rows)
    }

    /// `gradient[row] += scale * vector` (vector has `dimension` floats).
    @inline(__always)
    public func accumulate(row: Int, scale: Float, vector: UnsafePointer<Float>) {
        var slot = Int(slotOfRow[row])
        if slot < 0 {
            slot = touchedRows.count
            slotOfRow[row] = Int32(slot)
            touchedRows.append(Int32(row))
            gradients.append(contentsOf: repeatElement(0, count: dimension))
        }
        let d = dimension
        gradients.withUnsafeMutableBufferPointer { g in
            let base = g.baseAddress! + slot * d
            for f in 0..<d { base[f] += scale * vector[f] }
        }
    }

    public func clearGradients() {
        for row in touchedRows { slotOfRow[Int(row)] = -1 }
        touchedRows.removeAll(keepingCapacity: true)
        gradients.removeAll(keepingCapacity: true)
    }

    /// The gradient of `row`, or nil when the batch did not touch it.
    public func gradient(of row: Int) -> ArraySlice<Float>? {
        let slot = Int(slotOfRow[row])
        return slot < 0 ? nil : gradients[slot * dimension..<(slot + 1) * dimension]
    }

    /// Calls `body` with the gradient slot of every row (-1 for rows the batch did not touch).
    func withSlots<R>(_ body: (UnsafeBufferPointer<Int32>) -> R) -> R {
        slotOfRow.withUnsafeBufferPointer(body)
    }

    /// Scales every stored gradient (for clipping).
    func scaleGradients(by factor: Float) {
        for i in gradients.indices { gradients[i] *= factor }
    }
}
