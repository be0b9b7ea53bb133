import LinearAlgebra
import RummageCore

/// Fully connected layer `y = x W + b` for a batch `x` of `B × inputs`; `W` is `inputs × outputs`.
///
/// `forward` keeps `x` for `backward`, which adds `xᵀ dy` to W's gradient and the column sums of `dy`
/// to b's, and returns `dy Wᵀ`. Both passes are single sgemm calls.
public final class DenseLayer: @unchecked Sendable {
    // @unchecked because: a layer belongs to one training loop; its cache is not shared.
    public let weight: DenseParameter
    public let bias: DenseParameter
    public var inputs: Int { weight.shape[0] }
    public var outputs: Int { weight.shape[1] }
    private var input = Matrix(rows: 0, columns: 0)

    public init(inputs: Int, outputs: Int, rng: inout SeededGenerator) {
        weight = .glorot(fanIn: inputs, fanOut: outputs, rng: &rng)
        bias = .zeros(outputs)
    }

    public init(weight: DenseParameter, bias: DenseParameter) {
        precondition(weight.shape.count == 2 && bias.shape == [weight.shape[1]])
        self.weight = weight
        self.bias = bias
    }

    public var parameters: [DenseParameter] { [weight, bias] }

    public func forward(_ x: Matrix) -> Matrix {
        input = x
        return apply(x)
    }

    /// Inference without caching (thread-safe for concurrent callers).
    public func apply(_ x: Matrix) -> Matrix {
        precondition(x.columns == inputs, "dense layer expects \(inputs) inputs, got \(x.columns)")
        var y = Matrix(rows: x.rows, columns: outputs)
        for r in 0..<x.rows { y.storage.replaceSubrange(r * outputs..<(r + 1) * outputs, with: bias.value) }
        BLAS.gemm(x, Matrix(rows: inputs, columns: outputs, storage: weight.value), beta: 1, into: &y)
        return y
    }

    public func backward(_ dy: Matrix) -> Matrix {
        precondition(dy.rows == input.rows && dy.columns == outputs)
        var dW = Matrix(rows: inputs, columns: outputs, storage: weight.gradient)
        BLAS.gemm(input, transposeA: true, dy, beta: 1, into: &dW)
        weight.gradient = dW.storage
        for r in 0..<dy.rows {
            for c in 0..<outputs { bias.gradient[c] += dy.storage[r * outputs + c] }
        }
        return BLAS.multiply(dy, Matrix(rows: inputs, columns: outputs, storage: weight.value), transposeB: true)
    }
}

/// `y = max(0, x)`; backward passes gradient where the output was positive.
public final class ReLULayer: @unchecked Sendable {
    // @unchecked because: per-training-loop cache, as DenseLayer.
    private var output = Matrix(rows: 0, columns: 0)
    public init() {}

    public func forward(_ x: Matrix) -> Matrix {
        output = Self.apply(x)
        return output
    }

    public static func apply(_ x: Matrix) -> Matrix {
        var y = x
        for i in y.storage.indices where y.storage[i] < 0 { y.storage[i] = 0 }
        return y
    }

    public func backward(_ dy: Matrix) -> Matrix {
        var dx = dy
        for i in dx.storage.indices where output.storage[i] <= 0 { dx.storage[i] = 0 }
        return dx
    }
}

/// Row-wise L2 normalisation `y = x / max(‖x‖, ε)`; backward `dx = (dy − y (y·dy)) / ‖x‖`.
public final class L2NormalizeLayer: @unchecked Sendable {
    // @unchecked because: per-training-loop cache, as DenseLayer.
    public static let epsilon: Float = 1e-6
    private var output = Matrix(rows: 0, columns: 0)
    private var norms: [Float] = []
    public init() {}

    public func forward(_ x: Matrix) -> Matrix {
        (output, norms) = Self.normalize(x)
        return output
    }

    public static func apply(_ x: Matrix) -> Matrix { normalize(x).0 }

    static func normalize(_ x: Matrix) -> (Matrix, [Float]) {
        var y = x
        var norms = [Float](repeating: 0, count: x.rows)
        let d = x.columns
        y.storage.withUnsafeMutableBufferPointer { y in
            for r in 0..<x.rows {
                let row = y.baseAddress! + r * d
                var s: Float = 0
                for c in 0..<d { s += row[c] * row[c] }
                let n = max(s.squareRoot(), epsilon)
                norms[r] = n
                let inverse = 1 / n
                for c in 0..<d { row[c] *= inverse }
            }
        }
        return (y, norms)
    }

    public func backward(_ dy: Matrix) -> Matrix {
        var dx = dy
        let d = dy.columns
        dx.storage.withUnsafeMutableBufferPointer { dx in
            output.storage.withUnsafeBufferPointer { y in
                for r in 0..<dy.rows {
                    let g = dx.baseAddress! + r * d, out = y.baseAddress! + r * d
                    var dot: Float = 0
                    for c in 0..<d { dot += out[c] * g[c] }
                    let inverse = 1 / norms[r]
                    for c in 0..<d { g[c] = (g[c] - out[c] * dot) * inverse }
                }
            }
        }
        return dx
    }
}
